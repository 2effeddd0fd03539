package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestMember(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pemOf(t, &rsaKey.PublicKey)
	now := time.Now()
	good := jwt.MapClaims{"sub": "42", "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "42", "exp": now.Add(time.Hour).Unix()}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hsOnly := auth.Keys{Secret: secret, Leeway: 30 * time.Second}
	rsaOnly := auth.Keys{PublicKeyPEM: rsaPEM, Leeway: 30 * time.Second}
	both := auth.Keys{Secret: secret, PublicKeyPEM: rsaPEM, Leeway: 30 * time.Second}
	edOnly := auth.Keys{PublicKeyPEM: pemOf(t, edPub), Leeway: 30 * time.Second}
	// alg "none", built by hand: the library refuses to sign it without its
	// unsafe constant, which is what an attacker would use.
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good)
	// HS/RS confusion: an HS256 token whose HMAC key is the public key's PEM
	// (which an attacker has) — accepted by verifiers that take the key for
	// the token's alg.
	confused := sign(t, jwt.SigningMethodHS256, rsaPEM, good)
	cases := []struct {
		name   string
		keys   auth.Keys
		token  string
		member int64
		want   string // in the error; "" for success
	}{
		{"HS256", hsOnly, sign(t, jwt.SigningMethodHS256, secret, good), 42, ""},
		{"RS256", rsaOnly, sign(t, jwt.SigningMethodRS256, rsaKey, good), 42, ""},
		{"EdDSA", edOnly, sign(t, jwt.SigningMethodEdDSA, edPriv, good), 42, ""},
		{"both keys, HS256", both, sign(t, jwt.SigningMethodHS256, secret, good), 42, ""},
		{"both keys, RS256", both, sign(t, jwt.SigningMethodRS256, rsaKey, good), 42, ""},
		{"alg none", both, none, 0, "signature or algorithm"},
		{"HS256 keyed with the RSA public key", both, confused, 0, "signature or algorithm"},
		{"HS256 on a public-key-only verifier", rsaOnly, sign(t, jwt.SigningMethodHS256, secret, good), 0, "signature or algorithm"},
		{"RS256 on a secret-only verifier", hsOnly, sign(t, jwt.SigningMethodRS256, rsaKey, good), 0, "signature or algorithm"},
		{"HS384 is not pinned", hsOnly, sign(t, jwt.SigningMethodHS384, secret, good), 0, "signature or algorithm"},
		{"another secret", hsOnly, sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), good), 0, "signature"},
		{"expired", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Minute).Unix())), 0, "expired"},
		{"expired within the leeway", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-10*time.Second).Unix())), 42, ""},
		{"not valid yet", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Minute).Unix())), 0, "not valid yet"},
		{"nbf within the leeway", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(10*time.Second).Unix())), 42, ""},
		{"no exp", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), 0, "no exp"},
		{"no sub", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), 0, "sub"},
		{"sub not a number", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("sub", "alice")), 0, "sub"},
		{"sub zero", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("sub", "0")), 0, "sub"},
		{"sub negative", hsOnly, sign(t, jwt.SigningMethodHS256, secret, with("sub", "-3")), 0, "sub"},
		{"garbage", hsOnly, "not.a.token", 0, "malformed"},
		{"empty", hsOnly, "", 0, "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := auth.NewVerifier(c.keys)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Member(c.token)
			if c.want == "" {
				if err != nil || got != c.member {
					t.Fatalf("member %d, err %v; want %d", got, err, c.member)
				}
				return
			}
			if !errors.Is(err, boxoffice.ErrUnauthorized) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("member %d, err %v; want ErrUnauthorized mentioning %q", got, err, c.want)
			}
			if strings.Contains(err.Error(), string(secret)) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(small)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		keys auth.Keys
		want string
	}{
		{"no key", auth.Keys{}, "no key"},
		{"short secret", auth.Keys{Secret: []byte("short")}, "at least 32"},
		{"not PEM", auth.Keys{PublicKeyPEM: []byte("hello")}, "no PEM"},
		{"a private key", auth.Keys{PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})}, "does not belong"},
		{"a small RSA key", auth.Keys{PublicKeyPEM: pemOf(t, &small.PublicKey)}, "at least 2048"},
		{"negative leeway", auth.Keys{Secret: secret, Leeway: -time.Second}, "leeway"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := auth.NewVerifier(c.keys); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestMintVerifies(t *testing.T) {
	v, err := auth.NewVerifier(auth.Keys{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.Mint(secret, 7, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m, err := v.Member(tok); err != nil || m != 7 {
		t.Fatalf("member %d, err %v", m, err)
	}
	old, err := auth.Mint(secret, 7, time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Member(old); !errors.Is(err, boxoffice.ErrUnauthorized) {
		t.Fatalf("an expired minted token: err %v", err)
	}
	for _, bad := range []struct {
		secret []byte
		member int64
		ttl    time.Duration
	}{{[]byte("short"), 1, time.Hour}, {secret, 0, time.Hour}, {secret, 1, 0}} {
		if _, err := auth.Mint(bad.secret, bad.member, bad.ttl, time.Now()); err == nil {
			t.Errorf("Mint(%q, %d, %s) minted", bad.secret, bad.member, bad.ttl)
		}
	}
}

func TestBearer(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc":  "abc",
		"bearer abc":  "abc",
		"BEARER  abc": "abc",
		"Basic abc":   "",
		"Bearer":      "",
		"":            "",
		"abc":         "",
	} {
		if got := auth.Bearer(in); got != want {
			t.Errorf("Bearer(%q) = %q, want %q", in, got, want)
		}
	}
}

// What verifying a member's token costs the gateway per request.
func BenchmarkMemberHS256(b *testing.B) {
	v, err := auth.NewVerifier(auth.Keys{Secret: secret, Leeway: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := auth.Mint(secret, 42, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Member(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemberRS256(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Keys{PublicKeyPEM: pemOf(b, &key.PublicKey), Leeway: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, jwt.SigningMethodRS256, key, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Member(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemberEdDSA(b *testing.B) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Keys{PublicKeyPEM: pemOf(b, pub), Leeway: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, jwt.SigningMethodEdDSA, priv, jwt.MapClaims{"sub": "42", "exp": time.Now().Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Member(tok); err != nil {
			b.Fatal(err)
		}
	}
}
