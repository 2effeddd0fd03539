package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/seatmap"
)

// ReserveRequest is the body of POST /api/reservations/{strategy}.
type ReserveRequest struct {
	ConcertID int64
	MemberID  int64
	// IdempotencyKey is the optional Idempotency-Key header: a retry with the
	// same key gets the same reservation.
	IdempotencyKey string
	// Numbered seats: the seats named ("seats"), or the best available
	// Count seats ("count") in Section ("section", "" any), side by side
	// when Adjacent ("adjacent", default true). Neither: one seat.
	Seats    []string
	Count    int
	Section  string
	Adjacent bool
}

// DefaultMaxSeatsPerOrder is --max-seats-per-order's default.
const DefaultMaxSeatsPerOrder = 4

// maxIdempotencyKey bounds the header; it becomes part of a Redis key.
const maxIdempotencyKey = 128

// parseReserve reads and checks a reservation request. It copies everything
// it keeps out of ctx, whose buffers are reused after the handler returns.
// maxSeats bounds the seats of one order.
func parseReserve(ctx *fasthttp.RequestCtx, maxSeats int) (ReserveRequest, error) {
	if err := checkJSON(ctx); err != nil {
		return ReserveRequest{}, err
	}
	r, err := parseReserveBody(ctx.PostBody(), maxSeats)
	if err != nil {
		return r, err
	}
	key := ctx.Request.Header.Peek("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		return r, boxoffice.Invalidf("Idempotency-Key longer than %d bytes", maxIdempotencyKey)
	}
	for _, c := range key {
		if c < 0x21 || c > 0x7e {
			return r, boxoffice.Invalidf("Idempotency-Key must be printable ASCII without spaces")
		}
	}
	r.IdempotencyKey = string(key) // a copy
	return r, nil
}

// parseReserveBody reads {"concertId": N, "memberId": M}: positive integers;
// concertId required, memberId 0 when absent (the token names the member,
// or the caller refuses). For numbered seats, either "seats": ["A-12-7",
// ...] (1..maxSeats distinct seat ids) or "count": 1..maxSeats with an
// optional "section" and "adjacent" (default true). Nothing else.
func parseReserveBody(b []byte, maxSeats int) (ReserveRequest, error) {
	if c, m, ok := canonicalBody(b); ok {
		return ReserveRequest{ConcertID: c, MemberID: m}, nil
	}
	return decodeReserveBody(b, maxSeats)
}

// decodeReserveBody is parseReserveBody through encoding/json.
func decodeReserveBody(b []byte, maxSeats int) (ReserveRequest, error) {
	var body struct {
		ConcertID *int64   `json:"concertId"`
		MemberID  *int64   `json:"memberId"`
		Seats     []string `json:"seats"`
		Section   *string  `json:"section"`
		Count     *int     `json:"count"`
		Adjacent  *bool    `json:"adjacent"`
	}
	var r ReserveRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return r, boxoffice.Invalidf("body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, boxoffice.Invalidf("body: unexpected data after the JSON object")
	}
	switch {
	case body.ConcertID == nil:
		return r, boxoffice.Invalidf("concertId is required")
	case *body.ConcertID <= 0:
		return r, boxoffice.Invalidf("concertId must be a positive integer")
	case body.MemberID != nil && *body.MemberID <= 0:
		return r, boxoffice.Invalidf("memberId must be a positive integer")
	}
	r.ConcertID = *body.ConcertID
	if body.MemberID != nil {
		r.MemberID = *body.MemberID
	}
	// Optional: without memberId a verified token names the member (the caller decides).
	return r, seatsOf(&r, body.Seats, body.Section, body.Count, body.Adjacent, maxSeats)
}

// seatsOf checks the seat fields of a request and puts them in r.
func seatsOf(r *ReserveRequest, seats []string, section *string, count *int, adjacent *bool, maxSeats int) error {
	if seats != nil {
		if section != nil || count != nil || adjacent != nil {
			return boxoffice.Invalidf("seats names the seats; section, count and adjacent ask for the best available: not both")
		}
		if len(seats) == 0 || len(seats) > maxSeats {
			return boxoffice.Invalidf("seats must name 1 to %d seats", maxSeats)
		}
		seen := make(map[string]bool, len(seats))
		for _, s := range seats {
			if _, _, _, ok := seatmap.ParseID(s); !ok {
				return boxoffice.Invalidf("seat %q is not a seat id (SECTION-ROW-SEAT, e.g. A-12-7)", s)
			}
			if seen[s] {
				return boxoffice.Invalidf("seat %s named twice", s)
			}
			seen[s] = true
		}
		r.Seats = seats
		return nil
	}
	if count == nil {
		if section != nil || adjacent != nil {
			return boxoffice.Invalidf("section and adjacent need count")
		}
		return nil
	}
	if *count < 1 || *count > maxSeats {
		return boxoffice.Invalidf("count must be 1 to %d", maxSeats)
	}
	r.Count, r.Adjacent = *count, adjacent == nil || *adjacent
	if section != nil {
		if !seatmap.ValidSection(*section) {
			return boxoffice.Invalidf("section %q is not a section name (1-8 of A-Z and 0-9, starting with a letter)", *section)
		}
		r.Section = *section
	}
	return nil
}

// canonicalBody recognises the body every client sends, exactly
// {"concertId":N,"memberId":M} with no spaces and N, M positive without
// leading zeros, and reads it without the decoder (a reflective decode was 6%
// of the gateway's CPU). Anything else, valid or not, returns ok=false and
// goes through encoding/json, which has the last word (a fuzz test holds the
// two to the same answers).
func canonicalBody(b []byte) (concert, member int64, ok bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"concertId":`))
	if !ok {
		return 0, 0, false
	}
	if concert, rest, ok = positiveInt(rest); !ok {
		return 0, 0, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"memberId":`)); !ok {
		return 0, 0, false
	}
	if member, rest, ok = positiveInt(rest); !ok || string(rest) != "}" {
		return 0, 0, false
	}
	return concert, member, true
}

// positiveInt reads the JSON integer at the start of b: 1-18 digits, the
// first not 0 (so it always fits an int64).
func positiveInt(b []byte) (n int64, rest []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 || b[0] == '0' {
		return 0, nil, false
	}
	for _, c := range b[:i] {
		n = n*10 + int64(c-'0')
	}
	return n, b[i:], true
}

// checkJSON accepts application/json with optional parameters (charset).
func checkJSON(ctx *fasthttp.RequestCtx) error {
	ct := ctx.Request.Header.ContentType()
	if len(ct) == 0 {
		return errUnsupportedMedia
	}
	if string(ct) == "application/json" {
		return nil // the usual header, without ParseMediaType's allocations
	}
	mt, _, err := mime.ParseMediaType(string(ct))
	if err != nil || mt != "application/json" {
		return errUnsupportedMedia
	}
	return nil
}

// jsonProblem turns a decoder error into a message that names the field.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			// The body itself is not an object ([[1]], "x", 1).
			return "must be a JSON object, got " + te.Value
		}
		switch te.Field {
		case "seats":
			return "seats must be an array of seat ids"
		case "section":
			return "section must be a string"
		case "adjacent":
			return "adjacent must be true or false"
		case "count":
			return "count must be a positive integer"
		}
		return te.Field + " must be a positive integer"
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}
