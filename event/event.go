// Package event is the versioned record that travels on the reservations
// topic. Every fact about one reservation is an event keyed by its id, so all
// of them land on one partition, in order.
package event

import (
	"encoding/json"
	"errors"
	"fmt"
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
)

// Event is one fact about one reservation.
type Event struct {
	V              int       `json:"v"`
	Type           Type      `json:"type"`
	ID             string    `json:"id"`
	ConcertID      int64     `json:"concertId"`
	MemberID       int64     `json:"memberId"`
	At             time.Time `json:"at"`
	IdempotencyKey string    `json:"idempotencyKey,omitempty"`
}

// ErrMalformed marks a message that can never be processed; it goes to the DLQ.
var ErrMalformed = errors.New("malformed event")

// Encode returns the wire form.
func (e Event) Encode() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// Only unencodable types make Marshal fail; Event has none.
		panic(fmt.Sprintf("event: marshal: %v", err))
	}
	return b
}

// Decode parses and checks one message value.
func Decode(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case e.V != Version:
		return e, fmt.Errorf("%w: unsupported version %d", ErrMalformed, e.V)
	case e.Type != Requested:
		return e, fmt.Errorf("%w: unknown type %q", ErrMalformed, e.Type)
	case e.ID == "":
		return e, fmt.Errorf("%w: missing id", ErrMalformed)
	case e.ConcertID <= 0 || e.MemberID <= 0:
		return e, fmt.Errorf("%w: concertId and memberId must be positive", ErrMalformed)
	case e.At.IsZero():
		return e, fmt.Errorf("%w: missing at", ErrMalformed)
	}
	return e, nil
}
