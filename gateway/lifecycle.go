package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/lua"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// DecisionGrace is how long a confirm or cancel may wait for the writer
// before the outbox publishes its event again (a publish lost to a crash).
const DecisionGrace = 30 * time.Second

// Lifecycle confirms (payment succeeded) and cancels (user cancel, payment
// failed) held reservations. The decision is one atomic step in Redis that
// races fairly with expiry: whoever removes the hold from the delay queue
// decides. The event then travels on the reservations topic, keyed by the
// reservation id, so the writer applies it after the reservation's creation.
type Lifecycle struct {
	Stock          *stock.Store
	DB             *store.Store
	Producer       Publisher
	Topic          string
	ProduceTimeout time.Duration
	Log            *slog.Logger
}

// Confirm confirms a reservation.
func (l *Lifecycle) Confirm(ctx context.Context, id string) (Reservation, error) {
	return l.decide(ctx, id, lua.DecisionConfirm)
}

// Cancel cancels a reservation and gives its seat back.
func (l *Lifecycle) Cancel(ctx context.Context, id string) (Reservation, error) {
	return l.decide(ctx, id, lua.DecisionCancel)
}

// target is what a decision makes of a reservation.
func target(decision string) (boxoffice.Status, event.Type) {
	if decision == lua.DecisionConfirm {
		return boxoffice.StatusConfirmed, event.Confirmed
	}
	return boxoffice.StatusCancelled, event.Cancelled
}

// held is what the lifecycle needs to know of a reservation.
type held struct {
	concert, member int64
	status          boxoffice.Status
	hold            bool // PENDING with a hold, or HELD
}

func (l *Lifecycle) find(ctx context.Context, id string) (held, error) {
	if _, err := ulid.ParseStrict(id); err != nil {
		return held{}, boxoffice.Invalidf("reservation id %q is not a ULID", id)
	}
	// Row first, then the in-flight records, then the row again (the writer
	// commits before it clears the record).
	for i := 0; i < 2; i++ {
		row, err := l.DB.Reservation(ctx, id)
		if err == nil {
			return held{concert: row.ConcertID, member: row.MemberID, status: row.Status, hold: row.Status == boxoffice.StatusHeld}, nil
		}
		if !errors.Is(err, boxoffice.ErrNotFound) {
			return held{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if i == 1 {
			break
		}
		rec, concert, err := l.Stock.State(ctx, id)
		if err != nil {
			return held{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
		}
		if rec.State != lua.StateGone {
			ev, err := event.Decode(rec.Payload)
			if err != nil {
				return held{}, fmt.Errorf("in-flight record of %s: %w", id, err)
			}
			return held{concert: concert, member: ev.MemberID, status: boxoffice.StatusPending, hold: ev.ExpiresAt != nil}, nil
		}
	}
	return held{}, fmt.Errorf("reservation %s: %w", id, boxoffice.ErrNotFound)
}

func (l *Lifecycle) decide(ctx context.Context, id, decision string) (Reservation, error) {
	h, err := l.find(ctx, id)
	if err != nil {
		return Reservation{}, err
	}
	want, typ := target(decision)
	code, stands, err := l.Stock.Decide(ctx, h.concert, id, h.member, decision, time.Now().Add(DecisionGrace))
	if err != nil {
		return Reservation{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	switch {
	case code == lua.DecideNow || (code == lua.DecideBefore && stands == decision):
		// Published again on a repeated call too: the first publish may be
		// the one that failed, and the writer applies it once either way.
		ev := event.Event{V: event.Version, Type: typ, ID: id, ConcertID: h.concert, MemberID: h.member, At: time.Now().UTC()}
		pctx, cancel := context.WithTimeout(ctx, l.ProduceTimeout)
		defer cancel()
		if err := l.Producer.Publish(pctx, kafka.Message{Topic: l.Topic, Key: []byte(id), Value: ev.Encode()}); err != nil {
			// The decision stands; the outbox publishes it later, and a retry
			// of this call publishes it now.
			return Reservation{}, fmt.Errorf("%s recorded, event not yet published: %w: %w", typ, boxoffice.ErrUnavailable, err)
		}
		return Reservation{ID: id, Status: want}, nil
	case code == lua.DecideBefore:
		return Reservation{}, conflict(id, decisionStatus(stands))
	}
	// Not held in Redis: never held (confirmed on write), or decided and
	// applied already; the status says which. It is read again: a decision
	// (an expiry, say) may have been applied since it was first read.
	if h.status == boxoffice.StatusHeld || (h.status == boxoffice.StatusPending && h.hold) {
		if h, err = l.find(ctx, id); err != nil {
			return Reservation{}, err
		}
	}
	switch {
	case h.status == want, h.status == boxoffice.StatusPending && !h.hold && want == boxoffice.StatusConfirmed:
		return Reservation{ID: id, Status: want}, nil
	case h.status == boxoffice.StatusPending && !h.hold:
		return Reservation{}, conflict(id, boxoffice.StatusConfirmed) // confirmed on write
	case h.status == boxoffice.StatusPending, h.status == boxoffice.StatusHeld:
		// A hold Redis does not know: its state was lost (restart without
		// persistence). Refuse rather than guess.
		return Reservation{}, fmt.Errorf("reservation %s: its hold is not in Redis: %w", id, boxoffice.ErrUnavailable)
	}
	return Reservation{}, conflict(id, h.status)
}

func decisionStatus(d string) boxoffice.Status {
	switch d {
	case lua.DecisionConfirm:
		return boxoffice.StatusConfirmed
	case lua.DecisionCancel:
		return boxoffice.StatusCancelled
	}
	return boxoffice.StatusExpired
}

// conflict is the error for a reservation that already ended otherwise.
func conflict(id string, s boxoffice.Status) error {
	switch s {
	case boxoffice.StatusExpired:
		return fmt.Errorf("reservation %s: %w", id, boxoffice.ErrExpired)
	case boxoffice.StatusCancelled:
		return fmt.Errorf("reservation %s: %w", id, boxoffice.ErrCancelled)
	case boxoffice.StatusConfirmed:
		return fmt.Errorf("reservation %s: %w", id, boxoffice.ErrConfirmed)
	}
	return fmt.Errorf("reservation %s: %w", id, boxoffice.ErrFailed)
}
