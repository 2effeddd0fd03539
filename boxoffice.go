// Package boxoffice holds the domain types shared by every part of the system:
// reservation statuses and the sentinel errors that the HTTP layer maps to
// status codes in one place.
package boxoffice

import (
	"errors"
	"fmt"
	"strings"
)

// Status is the lifecycle state of a reservation.
type Status string

// Reservation statuses. PENDING exists only in Redis (accepted, not yet
// written); every other status is a row in MySQL.
const (
	StatusPending   Status = "PENDING"
	StatusHeld      Status = "HELD"
	StatusConfirmed Status = "CONFIRMED"
	StatusCancelled Status = "CANCELLED"
	StatusExpired   Status = "EXPIRED"
	StatusFailed    Status = "FAILED"
)

// Active reports whether a reservation in this status occupies a seat.
func (s Status) Active() bool {
	return s == StatusPending || s == StatusHeld || s == StatusConfirmed
}

// Sentinel errors. Wrap them with %w; the gateway maps each to one HTTP status
// and error code.
var (
	ErrInvalid          = errors.New("invalid request")
	ErrSoldOut          = errors.New("sold out")
	ErrAlreadyReserved  = errors.New("member already holds a reservation for this concert")
	ErrConcertNotFound  = errors.New("concert not found")
	ErrNotFound         = errors.New("not found")
	ErrIdempotencyReuse = errors.New("idempotency key already used for a different request")
	ErrUnavailable      = errors.New("service unavailable")
	// ErrInDoubt: the request failed part-way and its undo failed too, so
	// the reservation may yet be completed (the sweeper publishes what is
	// left in flight); the client must look it up, not assume it failed.
	ErrInDoubt = errors.New("the outcome is not known yet: the reservation may still be completed")
	// ErrStockNotLoaded: the concert exists, but Redis does not know its
	// stock (its marker is gone: Redis lost its data, or reconcile is
	// rebuilding it); nobody is admitted until it is reconciled.
	ErrStockNotLoaded = errors.New("the concert's stock is not loaded in Redis")
	// ErrUnauthorized: the request does not say who sent it in a way the
	// gateway can verify (no token, a bad or expired one, a payment
	// callback's signature that does not match).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the sender is known, and this is not theirs to do (a
	// body memberId that is not the token's member).
	ErrForbidden    = errors.New("forbidden")
	ErrLockTimeout  = errors.New("lock wait timed out")
	ErrNotSupported = errors.New("not supported")
	// A hold decided otherwise: confirm after expiry, cancel after confirm, ...
	ErrExpired   = errors.New("the hold expired")
	ErrCancelled = errors.New("the reservation was cancelled")
	ErrConfirmed = errors.New("the reservation is confirmed")
	ErrFailed    = errors.New("the reservation could not be written")
	// Numbered seats. ErrSeatsTaken: some of the seats named are taken
	// (a SeatsError names them); nothing was held.
	ErrSeatsTaken = errors.New("seats taken")
	// ErrSeatsUnavailable: the best available found no seats that fit
	// (not that many free in the section, or not side by side).
	ErrSeatsUnavailable = errors.New("no seats available as asked")
	// ErrUnknownSeat: the concert's map has no such seat or section.
	ErrUnknownSeat = errors.New("no such seat")
	// ErrNotSeated: seats were named for a general-admission concert.
	ErrNotSeated = errors.New("the concert has no numbered seats")
	// The waiting room. ErrNotAdmitted: the concert's room is on and the
	// request carries no valid pass of it for its member.
	ErrNotAdmitted = errors.New("not admitted by the waiting room")
	// ErrNoRoom: the concert has no waiting room.
	ErrNoRoom = errors.New("the concert has no waiting room")
	// ErrNotQueued: the member has not joined the concert's room.
	ErrNotQueued = errors.New("not in the waiting room's queue")
)

// SeatsError is a refusal about particular seats: Err (ErrSeatsTaken,
// ErrUnknownSeat) and the seats it is about, for the client.
type SeatsError struct {
	Err   error
	Seats []string
}

func (e *SeatsError) Error() string { return e.Err.Error() + ": " + strings.Join(e.Seats, ", ") }

// Unwrap makes a SeatsError its sentinel.
func (e *SeatsError) Unwrap() error { return e.Err }

// Invalidf returns an ErrInvalid carrying a message for the client.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
