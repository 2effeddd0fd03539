// Package auth tells who is calling: members by a signed token (JWT) that the
// gateway verifies with a key it holds, without a network call, and the
// payment service by an HMAC signature over its callback.
package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/boxoffice/boxoffice"
)

// Keys are what a Verifier accepts tokens signed with. At least one is set;
// both may be (a deployment moving from self-minted tokens to an identity
// provider's).
type Keys struct {
	// Secret verifies HS256 tokens (boxoffice token mints them).
	Secret []byte
	// PublicKeyPEM verifies an identity provider's tokens: an RSA public key
	// (RS256) or an Ed25519 one (EdDSA), PEM-encoded (PKIX "PUBLIC KEY", or
	// "RSA PUBLIC KEY"). The algorithm follows from the key's type.
	PublicKeyPEM []byte
	// Leeway is the clock skew allowed on exp and nbf.
	Leeway time.Duration
}

// minSecret is the shortest HS256 secret accepted: RFC 7518 §3.2 asks for a
// key at least as long as the hash (256 bits).
const minSecret = 32

// Verifier reads the member from a bearer token. It is safe for concurrent
// use.
type Verifier struct {
	parser *jwt.Parser
	secret []byte
	public crypto.PublicKey
	// publicMethod is the one asymmetric algorithm the public key verifies.
	publicMethod string
}

// NewVerifier returns a verifier for the given keys.
func NewVerifier(k Keys) (*Verifier, error) {
	v := &Verifier{}
	var methods []string
	if k.Secret != nil {
		if len(k.Secret) < minSecret {
			return nil, fmt.Errorf("auth secret is %d bytes; use at least %d (e.g. openssl rand -hex 32)", len(k.Secret), minSecret)
		}
		v.secret = k.Secret
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	if k.PublicKeyPEM != nil {
		key, method, err := parsePublicKey(k.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.public, v.publicMethod = key, method
		methods = append(methods, method)
	}
	if len(methods) == 0 {
		return nil, errors.New("no key to verify tokens with")
	}
	if k.Leeway < 0 {
		return nil, fmt.Errorf("auth leeway must not be negative, got %s", k.Leeway)
	}
	// The algorithms are the verifier's, from the keys it holds; the token's
	// "alg" only has to be one of them. "none" is never among them, and a
	// token that says HS256 is checked with the secret alone, never with
	// the public key as an HMAC key (keyFor).
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithLeeway(k.Leeway),
		// A token without exp would be good forever.
		jwt.WithExpirationRequired(),
	)
	return v, nil
}

// parsePublicKey reads an RSA or Ed25519 public key and names its algorithm.
func parsePublicKey(pemBytes []byte) (crypto.PublicKey, string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, "", errors.New("auth public key: no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("auth public key: PEM block %q, want PUBLIC KEY (a private key does not belong on the gateway)", block.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("auth public key: %w", err)
	}
	switch key := key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("auth public key: RSA key of %d bits; use at least 2048", key.N.BitLen())
		}
		return key, jwt.SigningMethodRS256.Alg(), nil
	case ed25519.PublicKey:
		return key, jwt.SigningMethodEdDSA.Alg(), nil
	}
	return nil, "", fmt.Errorf("auth public key: %T is not supported (RSA or Ed25519)", key)
}

// keyFor hands the parser the key of the token's algorithm, which the parser
// has already checked against the verifier's own list.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch t.Method.Alg() {
	case jwt.SigningMethodHS256.Alg():
		if v.secret != nil {
			return v.secret, nil
		}
	case v.publicMethod:
		return v.public, nil
	}
	return nil, fmt.Errorf("algorithm %s is not accepted", t.Method.Alg())
}

// Member verifies a token (the part after "Bearer ") and returns its member:
// the "sub" claim, a positive integer. Every failure is
// boxoffice.ErrUnauthorized, with a message that names the problem and
// nothing of the key.
func (v *Verifier) Member(token string) (int64, error) {
	var claims jwt.RegisteredClaims
	if _, err := v.parser.ParseWithClaims(token, &claims, v.keyFor); err != nil {
		return 0, fmt.Errorf("%w: %s", boxoffice.ErrUnauthorized, tokenProblem(err))
	}
	member, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil || member <= 0 {
		return 0, fmt.Errorf("%w: the token's sub must be a member id (a positive integer)", boxoffice.ErrUnauthorized)
	}
	return member, nil
}

// tokenProblem says in a few words what was wrong with a token.
func tokenProblem(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no exp"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's signature or algorithm is not accepted"
	}
	return "the token is not valid"
}

// Bearer returns the token of an Authorization header value, "" when there
// is none. The scheme is case-insensitive (RFC 9110 §11.1).
func Bearer(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// Mint returns an HS256 token for member, good for ttl from now.
func Mint(secret []byte, member int64, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < minSecret {
		return "", fmt.Errorf("auth secret is %d bytes; use at least %d", len(secret), minSecret)
	}
	if member <= 0 {
		return "", fmt.Errorf("member must be a positive integer, got %d", member)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ttl must be positive, got %s", ttl)
	}
	claims := jwt.RegisteredClaims{
		Subject:   strconv.FormatInt(member, 10),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}
