package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/servicetest"
)

const (
	testAuthSecret    = "member-tokens-0123456789abcdef012"
	testPaymentSecret = "payments-0123456789abcdef0123456"
)

func token(t *testing.T, member int64) string {
	t.Helper()
	tok, err := auth.Mint([]byte(testAuthSecret), member, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// authConfig is a gateway that verifies tokens and payment signatures.
func authConfig(t *testing.T) config.Config {
	cfg := servicetest.Config(t)
	cfg.TrustBodyMember = false
	cfg.AuthSecret = testAuthSecret
	cfg.PaymentSecret = testPaymentSecret
	cfg.Capacity = 10
	cfg.HoldTTL = time.Minute
	return cfg
}

func (s *system) reserveAs(tok, body string) reply {
	return s.do("POST", "/api/reservations/async", "application/json", []byte(body), bearer(tok))
}

// Secure by default: no key and no --trust-body-member, no gateway.
func TestGatewayRefusesToStartWithoutIdentity(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.TrustBodyMember = false
	_, err := app.OpenGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "--trust-body-member") {
		t.Fatalf("err %v, want a refusal naming --trust-body-member", err)
	}
	cfg.AuthSecret, cfg.TrustBodyMember = testAuthSecret, true
	if _, err := app.OpenGateway(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "choose one") {
		t.Fatalf("a key and --trust-body-member: err %v", err)
	}
	cfg.AuthSecret, cfg.TrustBodyMember = "short", false
	if _, err := app.OpenGateway(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("a short secret: err %v", err)
	}
}

func TestMemberIdentity(t *testing.T) {
	s := newSystem(t, authConfig(t), true)
	expect := func(t *testing.T, r reply, status int, code string) {
		t.Helper()
		if r.Status != status || r.code() != code {
			t.Fatalf("got %d %q %v, want %d %q", r.Status, r.code(), r.Body, status, code)
		}
		if status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("401 without WWW-Authenticate: Bearer: %v", r.Header)
		}
	}
	expired, err := auth.Mint([]byte(testAuthSecret), 3, time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "3", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	before := s.audit(1).RedisStock
	t.Run("refused without stock", func(t *testing.T) {
		body := `{"concertId":1,"memberId":3}`
		expect(t, s.do("POST", "/api/reservations/async", "application/json", []byte(body), nil), 401, "unauthorized")
		expect(t, s.reserveAs(expired, body), 401, "unauthorized")
		expect(t, s.reserveAs(none, body), 401, "unauthorized")
		expect(t, s.reserveAs("garbage", body), 401, "unauthorized")
		expect(t, s.do("POST", "/api/reservations/async", "application/json", []byte(body), map[string]string{"Authorization": "Basic " + token(t, 3)}), 401, "unauthorized")
		expect(t, s.reserveAs(token(t, 4), body), 403, "forbidden")
		expect(t, s.do("POST", "/api/reservations/pessimistic", "application/json", []byte(body), nil), 401, "unauthorized")
		if after := s.audit(1).RedisStock; after != before {
			t.Fatalf("stock %d → %d after refused requests", before, after)
		}
	})
	t.Run("the token's member", func(t *testing.T) {
		r := s.reserveAs(token(t, 3), `{"concertId":1,"memberId":3}`)
		expect(t, r, 202, "")
		r = s.reserveAs(token(t, 5), `{"concertId":1}`) // memberId optional
		expect(t, r, 202, "")
		s.waitStatusAs(r.id(), token(t, 5), "HELD")
		v := s.do("GET", "/api/reservations/"+r.id(), "", nil, bearer(token(t, 5)))
		if v.Body["memberId"] != float64(5) {
			t.Fatalf("the reservation's member: %v", v.Body)
		}
	})
}

func (s *system) waitStatusAs(id, tok, want string) {
	s.t.Helper()
	servicetest.Eventually(s.t, 10*time.Second, id+" "+want, func() (bool, error) {
		r := s.do("GET", "/api/reservations/"+id, "", nil, bearer(tok))
		st, _ := r.Body["status"].(string)
		return st == want, fmt.Errorf("%d %v", r.Status, r.Body)
	})
}

// Reading or cancelling a reservation, and reading a member, is for the
// owner; anyone else is told 404, as for an id that does not exist.
func TestOwnership(t *testing.T) {
	s := newSystem(t, authConfig(t), true)
	a, b := token(t, 1), token(t, 2)
	r := s.reserveAs(b, `{"concertId":1}`)
	if r.Status != 202 {
		t.Fatalf("reserve: %+v", r)
	}
	id := r.id()
	s.waitStatusAs(id, b, "HELD")
	cases := []struct {
		name, method, path string
		tok                string
		status             int
		code               string
	}{
		{"A reads B's reservation", "GET", "/api/reservations/" + id, a, 404, "not_found"},
		{"A reads an unknown reservation", "GET", "/api/reservations/01ARZ3NDEKTSV4RRFFQ69G5FAV", a, 404, "not_found"},
		{"A cancels B's reservation", "POST", "/api/reservations/" + id + "/cancel", a, 404, "not_found"},
		{"A reads member B", "GET", "/api/members/2", a, 404, "not_found"},
		{"no token reads B's reservation", "GET", "/api/reservations/" + id, "", 401, "unauthorized"},
		{"no token cancels", "POST", "/api/reservations/" + id + "/cancel", "", 401, "unauthorized"},
		{"no token reads a member", "GET", "/api/members/2", "", 401, "unauthorized"},
		{"B's token confirms: not a payment", "POST", "/api/reservations/" + id + "/confirm", b, 401, "unauthorized"},
		{"A reads member A", "GET", "/api/members/1", a, 200, ""},
		{"B reads B's reservation", "GET", "/api/reservations/" + id, b, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h map[string]string
			if c.tok != "" {
				h = bearer(c.tok)
			}
			got := s.do(c.method, c.path, "", nil, h)
			if got.Status != c.status || got.code() != c.code {
				t.Fatalf("got %d %q %v, want %d %q", got.Status, got.code(), got.Body, c.status, c.code)
			}
		})
	}
	if st := s.do("GET", "/api/reservations/"+id, "", nil, bearer(b)).Body["status"]; st != "HELD" {
		t.Fatalf("after A's attempts B's reservation is %v, want HELD", st)
	}
	if got := s.do("POST", "/api/reservations/"+id+"/cancel", "", nil, bearer(b)); got.Status != 200 || got.Body["status"] != "CANCELLED" {
		t.Fatalf("B cancels: %d %v", got.Status, got.Body)
	}
	s.settled(1)
}

func (s *system) confirmSigned(id, header string, body []byte) reply {
	h := map[string]string{}
	if header != "" {
		h[auth.SignatureHeader] = header
	}
	return s.do("POST", "/api/reservations/"+id+"/confirm", "application/json", body, h)
}

// Confirm is the payment service's signed callback.
func TestConfirmIsASignedPayment(t *testing.T) {
	s := newSystem(t, authConfig(t), true)
	hold := func(member int64) string {
		t.Helper()
		r := s.reserveAs(token(t, member), `{"concertId":1}`)
		if r.Status != 202 {
			t.Fatalf("reserve: %+v", r)
		}
		s.waitStatusAs(r.id(), token(t, member), "HELD")
		return r.id()
	}
	id, other := hold(1), hold(2)
	body := []byte(`{"reservationId":"` + id + `"}`)
	secret := []byte(testPaymentSecret)
	now := time.Now()
	cases := []struct {
		name   string
		header string
		body   []byte
		status int
		code   string
	}{
		{"missing", "", body, 401, "unauthorized"},
		{"forged", auth.Sign([]byte("not-the-payment-secret-012345678"), body, now), body, 401, "unauthorized"},
		{"stale", auth.Sign(secret, body, now.Add(-10*time.Minute)), body, 401, "unauthorized"},
		{"signed for another reservation", auth.Sign(secret, []byte(`{"reservationId":"`+other+`"}`), now), []byte(`{"reservationId":"` + other + `"}`), 403, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := s.confirmSigned(id, c.header, c.body)
			if got.Status != c.status || got.code() != c.code {
				t.Fatalf("got %d %q %v, want %d %q", got.Status, got.code(), got.Body, c.status, c.code)
			}
		})
	}
	if st := s.do("GET", "/api/reservations/"+id, "", nil, bearer(token(t, 1))).Body["status"]; st != "HELD" {
		t.Fatalf("after refused callbacks the reservation is %v, want HELD", st)
	}
	valid := auth.Sign(secret, body, now)
	t.Run("valid", func(t *testing.T) {
		got := s.confirmSigned(id, valid, body)
		if got.Status != 200 || got.Body["status"] != "CONFIRMED" {
			t.Fatalf("got %d %v", got.Status, got.Body)
		}
	})
	t.Run("replayed", func(t *testing.T) {
		got := s.confirmSigned(id, valid, body)
		if got.Status != 401 || !strings.Contains(fmt.Sprint(got.Body["message"]), "already used") {
			t.Fatalf("got %d %v, want 401 naming the replay", got.Status, got.Body)
		}
	})
	t.Run("the sender's own retry, signed anew", func(t *testing.T) {
		got := s.confirmSigned(id, auth.Sign(secret, body, now.Add(time.Second)), body)
		if got.Status != 200 || got.Body["status"] != "CONFIRMED" {
			t.Fatalf("got %d %v", got.Status, got.Body)
		}
	})
	s.waitStatusAs(id, token(t, 1), "CONFIRMED")
}

// An identity provider's tokens: EdDSA, verified with its public key from a
// file; an HS256 token is refused by a gateway that holds no secret.
func TestIdentityProviderTokens(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := authConfig(t)
	cfg.AuthSecret, cfg.AuthPublicKeyFile = "", file
	s := newSystem(t, cfg, false)
	idp, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "9", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.reserveAs(idp, `{"concertId":1}`); r.Status != 202 {
		t.Fatalf("the provider's token: %d %v", r.Status, r.Body)
	}
	if r := s.reserveAs(token(t, 10), `{"concertId":1}`); r.Status != 401 {
		t.Fatalf("an HS256 token on a public-key gateway: %d %v", r.Status, r.Body)
	}
}

// The abuse limits, wired from the flags: a member looping on reserve is told
// 429 with Retry-After before the script runs (not 409 already_reserved), and
// the refused requests cost no stock.
func TestMemberRateLimit(t *testing.T) {
	cfg := authConfig(t)
	cfg.MemberRate, cfg.MemberBurst = 0.2, 2
	s := newSystem(t, cfg, true)
	before := s.audit(1).RedisStock
	body := `{"concertId":1}`
	codes := []string{}
	for range 4 {
		r := s.reserveAs(token(t, 6), body)
		codes = append(codes, fmt.Sprintf("%d %s", r.Status, r.code()))
		if r.Status == 429 && r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After: %v", r.Header)
		}
	}
	want := []string{"202 ", "409 already_reserved", "429 rate_limited", "429 rate_limited"}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("a member's four reserves: %v, want %v", codes, want)
	}
	if after := s.audit(1).RedisStock; after != before-1 {
		t.Fatalf("stock %d → %d, want one seat taken", before, after)
	}
	// Another member is not limited by this one.
	if r := s.reserveAs(token(t, 7), body); r.Status != 202 {
		t.Fatalf("another member: %d %v", r.Status, r.Body)
	}
}
