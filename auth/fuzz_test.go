package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
)

var fuzzSecret = []byte("fuzz-secret-of-at-least-32-bytes!!")

// A token from anyone is parsed without panicking, and whatever is not a
// token we minted is refused as ErrUnauthorized, never accepted (issue 13,
// item 8). The seeds are the shapes an attacker tries first.
func FuzzMember(f *testing.F) {
	now := time.Now()
	good, err := Mint(fuzzSecret, 42, time.Hour, now)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for _, seed := range []string{
		good,
		parts[0] + "." + parts[1] + ".", // signature stripped
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + ".",             // alg: none
		"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9." + parts[1] + "." + parts[2], // alg swapped to RS256
		parts[0] + ".eyJzdWIiOiItMSIsImV4cCI6OTk5OTk5OTk5OX0." + parts[2],   // sub -1
		"", ".", "..", "a.b.c", strings.Repeat("A", 4096), "\xff\xfe.\x00.\x01",
	} {
		f.Add(seed)
	}
	v, err := NewVerifier(Keys{Secret: fuzzSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		member, err := v.Member(token)
		if err != nil {
			if !errors.Is(err, boxoffice.ErrUnauthorized) {
				t.Fatalf("refusal %v is not ErrUnauthorized", err)
			}
			return
		}
		// Accepted: then it is a token our secret signed, for a member.
		if member <= 0 {
			t.Fatalf("accepted member %d", member)
		}
		if token != good && !strings.HasPrefix(token, parts[0]+".") {
			t.Fatalf("accepted a token with another header: %q", token)
		}
	})
}

// A payment signature header from anyone is parsed without panicking, and
// only a MAC of our secret over the timestamp and body is accepted.
func FuzzPaymentSignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"reservationId":"01M8SGBCDHWNFB3S023KCBKPA7"}`)
	good := Sign(fuzzSecret, body, now)
	for _, seed := range []string{
		good, "", "t=", "v1=", "t=1800000000", "t=1800000000,v1=", "t=1800000000,v1=zz",
		"t=abc,v1=00", "t=1800000000,v1=" + strings.Repeat("0", 64), "t=-1,v1=00",
		"t=99999999999999999999,v1=00", strings.Repeat("t=1,", 1000), "t=1800000000,,v1=,x=y",
	} {
		f.Add(seed, body)
	}
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		p, err := NewPayments(fuzzSecret, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		p.now = func() time.Time { return now }
		_, err = p.Verify(header, b)
		if err != nil {
			if !errors.Is(err, boxoffice.ErrUnauthorized) {
				t.Fatalf("refusal %v is not ErrUnauthorized", err)
			}
			return
		}
		if string(b) != string(body) {
			t.Fatalf("accepted a signature over another body: %q", b)
		}
	})
}
