// Package event is the versioned record that travels on the reservations
// topic. Every fact about one reservation is an event keyed by its id, so all
// of them land on one partition, in order.
package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Version is the schema version this code writes and reads.
const Version = 1

// Type names what happened to a reservation.
type Type string

// Event types.
const (
	// Requested: the gateway admitted the reservation in Redis.
	Requested Type = "requested"
	// Confirmed: payment succeeded; the hold becomes a sale.
	Confirmed Type = "confirmed"
	// Cancelled: the user cancelled or payment failed; the seat goes back.
	Cancelled Type = "cancelled"
	// Expired: the hold ran out unpaid; the seat goes back.
	Expired Type = "expired"
	// Failed: the reservation could never be written (notifications only).
	Failed Type = "failed"
	// Admitted: the waiting room let the member buy ("you may book now";
	// notifications only, no reservation).
	Admitted Type = "admitted"
	// SoldOut: the concert sold out while the member waited in its room
	// (notifications only, no reservation).
	SoldOut Type = "sold_out"
)

// Room reports whether t is a waiting room's notification, about a member
// rather than a reservation.
func (t Type) Room() bool { return t == Admitted || t == SoldOut }

// Event is one fact about one reservation.
type Event struct {
	V              int       `json:"v"`
	Type           Type      `json:"type"`
	ID             string    `json:"id"`
	ConcertID      int64     `json:"concertId"`
	MemberID       int64     `json:"memberId"`
	At             time.Time `json:"at"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
	// ExpiresAt (requested only) is when the unpaid hold ends; absent when
	// the seat is confirmed on write.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Seats (requested only, a concert with numbered seats) are the seat ids
	// held. Last, because hold.lua appends them to the event it stores.
	Seats []string `json:"seats,omitempty"`
}

// MaxSeats bounds the seats of one event (far above any
// --max-seats-per-order) and maxSeatID a seat id's length
// (SECTION-ROW-SEAT: 8+1+4+1+4), the database's column.
const (
	MaxSeats  = 64
	maxSeatID = 18
)

// ErrMalformed marks a message that can never be processed; it goes to the DLQ.
var ErrMalformed = errors.New("malformed event")

// Encode returns the wire form: exactly what json.Marshal(e) gives (a test
// holds it to that), appended field by field because the gateway encodes one
// event per request and reflection was 4% of its CPU. A string that would
// need escaping takes the json.Marshal path.
func (e Event) Encode() []byte {
	if !plain(string(e.Type)) || !plain(e.ID) || !plain(e.IdempotencyKey) || !allPlain(e.Seats) {
		b, err := json.Marshal(e)
		if err != nil {
			// Only unencodable types make Marshal fail; Event has none.
			panic(fmt.Sprintf("event: marshal: %v", err))
		}
		return b
	}
	b := make([]byte, 0, 224)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(e.V), 10)
	b = append(b, `,"type":"`...)
	b = append(b, e.Type...)
	b = append(b, `","id":"`...)
	b = append(b, e.ID...)
	b = append(b, `","concertId":`...)
	b = strconv.AppendInt(b, e.ConcertID, 10)
	b = append(b, `,"memberId":`...)
	b = strconv.AppendInt(b, e.MemberID, 10)
	b = append(b, `,"at":`...)
	b = appendTime(b, e.At)
	if e.IdempotencyKey != "" {
		b = append(b, `,"idempotencyKey":"`...)
		b = append(b, e.IdempotencyKey...)
		b = append(b, '"')
	}
	if e.ExpiresAt != nil {
		b = append(b, `,"expiresAt":`...)
		b = appendTime(b, *e.ExpiresAt)
	}
	if len(e.Seats) > 0 {
		b = append(b, `,"seats":[`...)
		for i, s := range e.Seats {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, s...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func allPlain(ss []string) bool {
	for _, s := range ss {
		if !plain(s) {
			return false
		}
	}
	return true
}

// plain reports whether json.Marshal writes s unchanged between quotes:
// printable ASCII without the characters it escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// appendTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds, quoted).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// Decode parses and checks one message value.
func Decode(b []byte) (Event, error) {
	e, ok := decodeCanonical(b)
	if !ok {
		e = Event{}
		if err := json.Unmarshal(b, &e); err != nil {
			return e, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	switch {
	case e.V != Version:
		return e, fmt.Errorf("%w: unsupported version %d", ErrMalformed, e.V)
	case e.Type != Requested && !e.Type.Transition():
		return e, fmt.Errorf("%w: unknown type %q", ErrMalformed, e.Type)
	case e.ID == "":
		return e, fmt.Errorf("%w: missing id", ErrMalformed)
	case e.ConcertID <= 0 || e.MemberID <= 0:
		return e, fmt.Errorf("%w: concertId and memberId must be positive", ErrMalformed)
	case e.At.IsZero():
		return e, fmt.Errorf("%w: missing at", ErrMalformed)
	case len(e.Seats) > MaxSeats:
		return e, fmt.Errorf("%w: more than %d seats", ErrMalformed, MaxSeats)
	}
	for _, s := range e.Seats {
		if len(s) == 0 || len(s) > maxSeatID {
			return e, fmt.Errorf("%w: a seat id of %d bytes", ErrMalformed, len(s))
		}
	}
	return e, nil
}

// Notification tells a user what happened to a reservation. It travels on the
// notifications topic keyed by the reservation id.
type Notification struct {
	V             int       `json:"v"`
	Type          Type      `json:"type"` // confirmed, expired, cancelled, failed; admitted, sold_out
	ReservationID string    `json:"reservationId,omitempty"`
	ConcertID     int64     `json:"concertId"`
	MemberID      int64     `json:"memberId"`
	At            time.Time `json:"at"`
	Reason        string    `json:"reason,omitempty"`
}

// Encode returns the wire form.
func (n Notification) Encode() []byte {
	b, err := json.Marshal(n)
	if err != nil {
		panic(fmt.Sprintf("event: marshal notification: %v", err))
	}
	return b
}

// DecodeNotification parses and checks one notification.
func DecodeNotification(b []byte) (Notification, error) {
	var n Notification
	if err := json.Unmarshal(b, &n); err != nil {
		return n, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case n.V != Version:
		return n, fmt.Errorf("%w: unsupported version %d", ErrMalformed, n.V)
	case !n.Type.Transition() && n.Type != Failed && !n.Type.Room():
		return n, fmt.Errorf("%w: unknown notification type %q", ErrMalformed, n.Type)
	case n.Type.Room():
		if n.ConcertID <= 0 || n.MemberID <= 0 {
			return n, fmt.Errorf("%w: a room notification names its concert and member", ErrMalformed)
		}
	case n.ReservationID == "":
		return n, fmt.Errorf("%w: missing reservationId", ErrMalformed)
	}
	return n, nil
}
