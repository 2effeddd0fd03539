package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
)

// ReserveRequest is the body of POST /api/reservations/{strategy}.
type ReserveRequest struct {
	ConcertID int64
	MemberID  int64
	// IdempotencyKey is the optional Idempotency-Key header: a retry with the
	// same key gets the same reservation.
	IdempotencyKey string
}

// maxIdempotencyKey bounds the header; it becomes part of a Redis key.
const maxIdempotencyKey = 128

// parseReserve reads and checks a reservation request. It copies everything
// it keeps out of ctx, whose buffers are reused after the handler returns.
func parseReserve(ctx *fasthttp.RequestCtx) (ReserveRequest, error) {
	var r ReserveRequest
	if err := checkJSON(ctx); err != nil {
		return r, err
	}
	var err error
	if r.ConcertID, r.MemberID, err = parseReserveBody(ctx.PostBody()); err != nil {
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

// parseReserveBody reads {"concertId": N, "memberId": M}: positive integers,
// nothing else; concertId required, memberId 0 when absent (the token names
// the member, or the caller refuses).
func parseReserveBody(b []byte) (concert, member int64, err error) {
	if c, m, ok := canonicalBody(b); ok {
		return c, m, nil
	}
	return decodeReserveBody(b)
}

// decodeReserveBody is parseReserveBody through encoding/json.
func decodeReserveBody(b []byte) (concert, member int64, err error) {
	var body struct {
		ConcertID *int64 `json:"concertId"`
		MemberID  *int64 `json:"memberId"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return 0, 0, boxoffice.Invalidf("body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return 0, 0, boxoffice.Invalidf("body: unexpected data after the JSON object")
	}
	switch {
	case body.ConcertID == nil:
		return 0, 0, boxoffice.Invalidf("concertId is required")
	case *body.ConcertID <= 0:
		return 0, 0, boxoffice.Invalidf("concertId must be a positive integer")
	case body.MemberID == nil:
		// Optional: a verified token names the member (the caller decides).
		return *body.ConcertID, 0, nil
	case *body.MemberID <= 0:
		return 0, 0, boxoffice.Invalidf("memberId must be a positive integer")
	}
	return *body.ConcertID, *body.MemberID, nil
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
		return te.Field + " must be a positive integer"
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}
