package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/lua"
	"github.com/boxoffice/boxoffice/stock"
)

// Reservation is what a strategy answers for an admitted request.
type Reservation struct {
	ID       string
	Status   boxoffice.Status
	Replayed bool // an Idempotency-Key retry of an earlier request
}

// Publisher sends one message and waits for the broker's ack.
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Async is the product path: one Lua step in Redis, the event to Kafka, 202.
type Async struct {
	Stock          *stock.Store
	Producer       Publisher
	Topic          string
	ProduceTimeout time.Duration
	// HoldTTL is how long a reservation is held for payment; 0 confirms on write.
	HoldTTL time.Duration
	Log     *slog.Logger
	// Observe, if set, is told how each step went (metrics).
	Observe AsyncObserver
}

// AsyncObserver receives the timings of the async path's steps.
type AsyncObserver interface {
	Script(result string, d time.Duration)
	Producing(delta int)
	Produce(err error, d time.Duration)
	Undo(result string)
}

type nopObserver struct{}

func (nopObserver) Script(string, time.Duration) {}
func (nopObserver) Producing(int)                {}
func (nopObserver) Produce(error, time.Duration) {}
func (nopObserver) Undo(string)                  {}

func (a *Async) observer() AsyncObserver {
	if a.Observe == nil {
		return nopObserver{}
	}
	return a.Observe
}

// replayPoll is how often a retry with the same Idempotency-Key looks again at
// a reservation whose first request still waits for Kafka.
const replayPoll = 5 * time.Millisecond

// Reserve admits one reservation.
func (a *Async) Reserve(ctx context.Context, req ReserveRequest) (Reservation, error) {
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
	ev := event.Event{V: event.Version, Type: event.Requested, ID: ulid.Make().String(),
		ConcertID: req.ConcertID, MemberID: req.MemberID, At: now, IdempotencyKey: req.IdempotencyKey}
	var expires time.Time
	if a.HoldTTL > 0 {
		expires = now.Add(a.HoldTTL)
		ev.ExpiresAt = &expires
	}
	sr := stock.Reservation{ID: ev.ID, ConcertID: req.ConcertID, MemberID: req.MemberID,
		Payload: ev.Encode(), IdempotencyKey: req.IdempotencyKey, Now: now, ExpiresAt: expires}
	start := time.Now()
	res, err := a.Stock.Reserve(ctx, sr)
	if err != nil {
		a.observer().Script("error", time.Since(start))
		// The script may have run before the reply was lost: undo it if so
		// (release.lua only acts on this id's own 'P' record). Should Redis
		// be unreachable for that too, the sweeper completes it later.
		a.releaseQuietly(ctx, sr)
		return r, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	a.observer().Script(reserveResult(res.Code), time.Since(start))
	switch res.Code {
	case lua.ReserveOK:
	case lua.ReserveSoldOut:
		return r, false, fmt.Errorf("concert %d: %w", req.ConcertID, boxoffice.ErrSoldOut)
	case lua.ReserveAlreadyReserved:
		return r, false, fmt.Errorf("member %d, concert %d: %w", req.MemberID, req.ConcertID, boxoffice.ErrAlreadyReserved)
	case lua.ReserveNoConcert:
		return r, false, fmt.Errorf("concert %d: %w", req.ConcertID, boxoffice.ErrConcertNotFound)
	case lua.ReserveKeyMismatch:
		return r, false, boxoffice.ErrIdempotencyReuse
	case lua.ReserveReplay:
		return a.replay(ctx, req.ConcertID, res.ID, res.State)
	default:
		return r, false, fmt.Errorf("reserve: unknown script result %d", res.Code)
	}

	pctx, cancel := context.WithTimeout(ctx, a.ProduceTimeout)
	start = time.Now()
	a.observer().Producing(1)
	err = a.Producer.Publish(pctx, kafka.Message{Topic: a.Topic, Key: []byte(ev.ID), Value: sr.Payload})
	a.observer().Producing(-1)
	cancel()
	a.observer().Produce(err, time.Since(start))
	if err != nil {
		return a.undo(ctx, sr, err)
	}
	if req.IdempotencyKey != "" {
		// Tell retries with the same key that the event is safe on the broker.
		if err := a.Stock.Ack(ctx, req.ConcertID, ev.ID); err != nil {
			a.Log.Warn("ack not recorded; retries with this key will wait", "id", ev.ID, "err", err)
		}
	}
	return Reservation{ID: ev.ID, Status: boxoffice.StatusPending}, false, nil
}

// undo returns the seat of a reservation whose event Kafka did not take.
func (a *Async) undo(ctx context.Context, sr stock.Reservation, cause error) (Reservation, bool, error) {
	// The caller's context may be what ended; the undo gets its own time.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	code, err := a.Stock.Release(uctx, sr)
	if err != nil {
		// The record stays in flight; the writer's sweeper republishes it
		// after the grace period, so the seat is not lost either way.
		a.observer().Undo("error")
		a.Log.Error("undo failed; the sweeper will complete the reservation", "id", sr.ID, "err", err, "cause", cause)
		return Reservation{}, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, cause)
	}
	switch code {
	case lua.ReleasePersisted, lua.ReleaseKept:
		// The ack was lost but the event arrived: the reservation stands.
		a.observer().Undo("kept")
		return Reservation{ID: sr.ID, Status: boxoffice.StatusPending}, false, nil
	default:
		a.observer().Undo("released")
		return Reservation{}, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, cause)
	}
}

func (a *Async) releaseQuietly(ctx context.Context, sr stock.Reservation) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if code, err := a.Stock.Release(uctx, sr); err == nil && code == lua.ReleaseDone {
		a.observer().Undo("released")
	}
}

// replay answers a retry with an Idempotency-Key seen before: the earlier
// reservation once its event is safe on the broker.
func (a *Async) replay(ctx context.Context, concert int64, id, state string) (Reservation, bool, error) {
	deadline := time.Now().Add(a.ProduceTimeout + time.Second)
	for state == lua.StatePublishing {
		if time.Now().After(deadline) {
			return Reservation{}, false, fmt.Errorf("the first request with this Idempotency-Key is still in progress: %w", boxoffice.ErrUnavailable)
		}
		select {
		case <-ctx.Done():
			return Reservation{}, false, fmt.Errorf("replay: %w: %w", boxoffice.ErrUnavailable, ctx.Err())
		case <-time.After(replayPoll):
		}
		var err error
		if state, err = a.Stock.ReplayState(ctx, concert, id); err != nil {
			return Reservation{}, false, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if state == lua.StateGone {
			// Written meanwhile, or undone (which also forgot the key):
			// running the script again tells which.
			return Reservation{}, true, nil
		}
	}
	return Reservation{ID: id, Status: boxoffice.StatusPending, Replayed: true}, false, nil
}

func reserveResult(code int) string {
	switch code {
	case lua.ReserveOK:
		return "accepted"
	case lua.ReserveSoldOut:
		return "sold_out"
	case lua.ReserveAlreadyReserved:
		return "already_reserved"
	case lua.ReserveNoConcert:
		return "concert_not_found"
	case lua.ReserveReplay:
		return "replay"
	case lua.ReserveKeyMismatch:
		return "key_mismatch"
	}
	return "unknown"
}
