package gateway

import (
	"reflect"
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
		d, err := decodeReserveBody(body, DefaultMaxSeatsPerOrder)
		if err != nil || !reflect.DeepEqual(d, ReserveRequest{ConcertID: c, MemberID: m}) {
			t.Fatalf("%q: fast path %d,%d; decoder %+v,%v", body, c, m, d, err)
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
		r, err := parseReserveBody([]byte(c.body), DefaultMaxSeatsPerOrder)
		switch {
		case c.wantErr == "" && (err != nil || r.ConcertID != c.concert || r.MemberID != c.member):
			t.Errorf("%s: got %d, %d, %v; want %d, %d", c.body, r.ConcertID, r.MemberID, err, c.concert, c.member)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.body, err, c.wantErr)
		}
	}
}

func TestParseReserveSeats(t *testing.T) {
	for _, c := range []struct {
		body    string
		want    ReserveRequest
		wantErr string
	}{
		{`{"concertId":1,"seats":["A-12-7","A-12-8"]}`, ReserveRequest{ConcertID: 1, Seats: []string{"A-12-7", "A-12-8"}}, ""},
		{`{"concertId":1,"memberId":2,"section":"A","count":2,"adjacent":true}`, ReserveRequest{ConcertID: 1, MemberID: 2, Section: "A", Count: 2, Adjacent: true}, ""},
		{`{"concertId":1,"count":3}`, ReserveRequest{ConcertID: 1, Count: 3, Adjacent: true}, ""},
		{`{"concertId":1,"count":2,"adjacent":false}`, ReserveRequest{ConcertID: 1, Count: 2}, ""},
		{`{"concertId":1,"seats":["ZZ99-9999-9999"]}`, ReserveRequest{ConcertID: 1, Seats: []string{"ZZ99-9999-9999"}}, ""},
		{`{"concertId":1,"seats":[]}`, ReserveRequest{}, "seats must name 1 to 4 seats"},
		{`{"concertId":1,"seats":["A-1-1","A-1-2","A-1-3","A-1-4","A-1-5"]}`, ReserveRequest{}, "seats must name 1 to 4 seats"},
		{`{"concertId":1,"seats":["A-1-1","A-1-1"]}`, ReserveRequest{}, "named twice"},
		{`{"concertId":1,"seats":"A-1-1"}`, ReserveRequest{}, "seats must be an array"},
		{`{"concertId":1,"seats":["A-1-1"],"count":1}`, ReserveRequest{}, "not both"},
		{`{"concertId":1,"section":"A"}`, ReserveRequest{}, "need count"},
		{`{"concertId":1,"count":0}`, ReserveRequest{}, "count must be 1 to 4"},
		{`{"concertId":1,"count":5}`, ReserveRequest{}, "count must be 1 to 4"},
		{`{"concertId":1,"count":1,"section":"a"}`, ReserveRequest{}, "not a section name"},
		{`{"concertId":1,"count":1,"section":""}`, ReserveRequest{}, "not a section name"},
		{`{"concertId":1,"count":1,"adjacent":"yes"}`, ReserveRequest{}, "adjacent must be true or false"},
	} {
		r, err := parseReserveBody([]byte(c.body), DefaultMaxSeatsPerOrder)
		switch {
		case c.wantErr == "" && (err != nil || !reflect.DeepEqual(r, c.want)):
			t.Errorf("%s: got %+v, %v; want %+v", c.body, r, err, c.want)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.body, err, c.wantErr)
		}
	}
	// Every malformed seat id is a 400, never a seat.
	for _, id := range []string{"", "A", "A-1", "A-1-", "A--1", "a-1-1", "1A-1-1", "A-01-1", "A-1-0", "A-1-10000", "ABCDEFGHI-1-1", "A-1-1-1", "A-1-1 ", "A-+1-1", "A-1-1\\u0000"} {
		_, err := parseReserveBody([]byte(`{"concertId":1,"seats":["`+id+`"]}`), DefaultMaxSeatsPerOrder)
		if err == nil || !strings.Contains(err.Error(), "not a seat id") {
			t.Errorf("seat %q: %v, want not a seat id", id, err)
		}
	}
}
