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
	var body struct {
		ConcertID *int64 `json:"concertId"`
		MemberID  *int64 `json:"memberId"`
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
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
	case body.MemberID == nil:
		return r, boxoffice.Invalidf("memberId is required")
	case *body.ConcertID <= 0:
		return r, boxoffice.Invalidf("concertId must be a positive integer")
	case *body.MemberID <= 0:
		return r, boxoffice.Invalidf("memberId must be a positive integer")
	}
	r.ConcertID, r.MemberID = *body.ConcertID, *body.MemberID
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
		return te.Field + " must be a positive integer"
	}
	if errors.Is(err, io.EOF) {
		return "empty body"
	}
	return err.Error()
}
