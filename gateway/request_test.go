package gateway

import (
	"strings"
	"testing"
)

// The canonical fast path must agree with encoding/json: for every body it
// accepts, the decoder reads the same numbers.
func FuzzCanonicalBodyAgreesWithDecoder(f *testing.F) {
	for _, seed := range []string{
		`{"concertId":1,"memberId":2}`,
		`{"concertId":123456789012345678,"memberId":9}`,
		`{"concertId":1234567890123456789,"memberId":9}`,
		`{"concertId":01,"memberId":2}`,
		`{"concertId":0,"memberId":2}`,
		`{"concertId":-1,"memberId":2}`,
		`{"concertId":1,"memberId":2}x`,
		`{"concertId":1,"memberId":2,"x":1}`,
		`{"memberId":2,"concertId":1}`,
		`{ "concertId": 1, "memberId": 2 }`,
		`{"concertId":1.5,"memberId":2}`,
		`{"concertId":1e3,"memberId":2}`,
		`{"concertId":1,"concertId":2,"memberId":3}`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, m, ok := canonicalBody(body)
		if !ok {
			return
		}
		// The decoder path alone (canonicalBody bypassed).
		dc, dm, err := decodeReserveBody(body)
		if err != nil || dc != c || dm != m {
			t.Fatalf("%q: fast path %d,%d; decoder %d,%d,%v", body, c, m, dc, dm, err)
		}
	})
}

func TestParseReserveBody(t *testing.T) {
	for _, c := range []struct {
		body            string
		concert, member int64
		wantErr         string
	}{
		{`{"concertId":1,"memberId":2}`, 1, 2, ""},
		{`{"memberId":2,"concertId":1}`, 1, 2, ""},
		{` {"concertId": 7, "memberId": 8} `, 7, 8, ""},
		{`{"concertId":01,"memberId":2}`, 0, 0, "invalid"},
		{`{"concertId":0,"memberId":2}`, 0, 0, "concertId must be a positive integer"},
		{`[[[1]]]`, 0, 0, "body: must be a JSON object, got array"},
		{`{"concertId":1,"memberId":-2}`, 0, 0, "memberId must be a positive integer"},
		{`{"concertId":1}`, 1, 0, ""},
		{`{"concertId":-1}`, 0, 0, "concertId must be a positive integer"},
		{`{"memberId":1}`, 0, 0, "concertId is required"},
		{`{"concertId":1,"memberId":2,"seat":3}`, 0, 0, "unknown field"},
		{`{"concertId":1,"memberId":2}{}`, 0, 0, "unexpected data"},
		{`{"concertId":99999999999999999999,"memberId":2}`, 0, 0, "concertId must be a positive integer"},
	} {
		concert, member, err := parseReserveBody([]byte(c.body))
		switch {
		case c.wantErr == "" && (err != nil || concert != c.concert || member != c.member):
			t.Errorf("%s: got %d, %d, %v; want %d, %d", c.body, concert, member, err, c.concert, c.member)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.body, err, c.wantErr)
		}
	}
}
