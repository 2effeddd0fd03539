package hostile

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Tokens built by hand, so that an attack can put anything in them that a
// JWT library would refuse to make: alg none, an HMAC keyed with a public
// key, a sub that is no member.

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwtOf joins header and claims and signs them with sign (nil: no signature).
func jwtOf(header, claims map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	if sign == nil {
		return input + "."
	}
	return input + "." + b64(sign([]byte(input)))
}

func hs256(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func hs512(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha512.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func rs256(k *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			panic(err) // our own fresh key
		}
		return sig
	}
}

// tamper replaces a signed token's claims, keeping its signature.
func tamper(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	c, _ := json.Marshal(claims)
	return parts[0] + "." + b64(c) + "." + parts[2]
}
