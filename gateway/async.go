package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/admission"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Reservation is what a strategy answers for an admitted request.
type Reservation struct {
	ID       string
	Status   boxoffice.Status
	Replayed bool // an Idempotency-Key retry of an earlier request
	// Seats are the numbered seats held (none for general admission).
	Seats []string
}

// Publisher sends one message and waits for the broker's ack.
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Async is the product path: one Lua step in Redis, the event to Kafka, 202.
// The steps and their undo are admission.Protocol's; Async adds the event,
// the hold and what a retry with the same Idempotency-Key sees.
type Async struct {
	Admission *admission.Protocol
	// Stock and Rows answer a retry's "where is the first attempt now".
	Stock *stock.Store
	Rows  Rows
	// Concerts tells a concert that exists but is not loaded in Redis (503)
	// from one that does not (404).
	Concerts *Concerts
	// HoldTTL is how long a reservation is held for payment; 0 confirms on write.
	HoldTTL time.Duration
	// SoldOut answers a concert Redis just called sold out without asking
	// again (nil: always ask).
	SoldOut *SoldOut
}

// Rows reads the system of record (*store.Store).
type Rows interface {
	Reservation(ctx context.Context, id string) (store.Reservation, error)
}

// replayPoll is how often a retry with the same Idempotency-Key looks again at
// a reservation whose first request still waits for Kafka.
const replayPoll = 5 * time.Millisecond

// Reserve admits one reservation.
func (a *Async) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
	// A retry with an Idempotency-Key may be answered its reservation
	// even when the concert is sold out: only the script can tell.
	if req.IdempotencyKey == "" && a.SoldOut.Known(req.ConcertID, time.Now()) {
		return Reservation{}, fmt.Errorf("concert %d: %w", req.ConcertID, boxoffice.ErrSoldOut)
	}
	// A retry whose first attempt was undone starts over; bounded so a key
	// that keeps failing cannot loop.
	for attempt := 0; attempt < 3; attempt++ {
		r, retry, err := a.reserveOnce(ctx, req)
		if !retry {
			return r, err
		}
	}
	return Reservation{}, fmt.Errorf("reserve: earlier attempts with this Idempotency-Key keep failing: %w", boxoffice.ErrUnavailable)
}

func (a *Async) reserveOnce(ctx context.Context, req ReserveRequest) (r Reservation, retry bool, err error) {
	now := time.Now().UTC()
	ev := event.Event{V: event.Version, Type: event.Requested, ID: newID(now),
		ConcertID: req.ConcertID, MemberID: req.MemberID, At: now, IdempotencyKey: req.IdempotencyKey}
	var expires time.Time
	if a.HoldTTL > 0 {
		expires = now.Add(a.HoldTTL)
		ev.ExpiresAt = &expires
	}
	sr := stock.Reservation{ID: ev.ID, ConcertID: req.ConcertID, MemberID: req.MemberID,
		Payload: ev.Encode(), IdempotencyKey: req.IdempotencyKey, Now: now, ExpiresAt: expires,
		Seats: req.Seats, Count: req.Count, Section: req.Section, Adjacent: req.Adjacent}
	out, err := a.Admission.Admit(ctx, sr, true)
	switch {
	case err == nil && out.Replay:
		r, retry, err := a.replay(ctx, req.ConcertID, out.ID, out.State)
		r.Seats = out.Seats
		return r, retry, err
	case err == nil:
		return Reservation{ID: ev.ID, Status: boxoffice.StatusPending, Seats: out.Seats}, false, nil
	case errors.Is(err, boxoffice.ErrConcertNotFound) && a.Concerts != nil:
		exists, cerr := a.Concerts.Exists(ctx, req.ConcertID)
		switch {
		case cerr != nil:
			return r, false, fmt.Errorf("concert %d: %w: %w", req.ConcertID, boxoffice.ErrUnavailable, cerr)
		case exists:
			return r, false, fmt.Errorf("concert %d: %w (reconcile loads it)", req.ConcertID, boxoffice.ErrStockNotLoaded)
		}
		return r, false, fmt.Errorf("concert %d: %w", req.ConcertID, err)
	case errors.Is(err, boxoffice.ErrSoldOut):
		a.SoldOut.Learn(req.ConcertID, time.Now())
		return r, false, fmt.Errorf("concert %d: %w", req.ConcertID, err)
	case errors.Is(err, boxoffice.ErrConcertNotFound), errors.Is(err, boxoffice.ErrStockNotLoaded):
		return r, false, fmt.Errorf("concert %d: %w", req.ConcertID, err)
	case errors.Is(err, boxoffice.ErrAlreadyReserved):
		return r, false, fmt.Errorf("member %d, concert %d: %w", req.MemberID, req.ConcertID, err)
	case errors.Is(err, boxoffice.ErrInDoubt):
		// The client needs the id to look it up.
		return r, false, inDoubt{id: ev.ID, err: err}
	}
	return r, false, err
}

// replay answers a retry with an Idempotency-Key seen before: the earlier
// reservation once its event is safe on the broker.
func (a *Async) replay(ctx context.Context, concert int64, id string, state stock.State) (Reservation, bool, error) {
	deadline := time.Now().Add(a.Admission.ProduceTimeout + time.Second)
	for state == stock.Publishing {
		if time.Now().After(deadline) {
			return Reservation{}, false, fmt.Errorf("the first request with this Idempotency-Key is still in progress: %w", boxoffice.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return Reservation{}, false, fmt.Errorf("replay: %w: %w", boxoffice.ErrUnavailable, ctx.Err())
		case <-time.After(replayPoll):
		}
		var err error
		if state, err = a.Stock.InFlightState(ctx, concert, id); err != nil {
			return Reservation{}, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if state == stock.Gone {
			// Written meanwhile, or undone (which also forgot the key):
			// running the script again tells which.
			return Reservation{}, true, nil
		}
	}
	if state != stock.Gone || a.Rows == nil {
		return Reservation{ID: id, Status: boxoffice.StatusPending, Replayed: true}, false, nil
	}
	// No longer in flight: the row says how the first attempt ended, and one
	// that ended (failed, cancelled, expired) is not answered as PENDING.
	row, err := a.Rows.Reservation(ctx, id)
	switch {
	case errors.Is(err, boxoffice.ErrNotFound):
		// Cleared with no row: it could not even be written as FAILED
		// (dead-lettered), and its seat went back.
		return Reservation{}, false, conflict(id, boxoffice.StatusFailed)
	case err != nil:
		return Reservation{}, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	case !row.Status.Active():
		return Reservation{}, false, conflict(id, row.Status)
	}
	return Reservation{ID: id, Status: row.Status, Replayed: true}, false, nil
}
