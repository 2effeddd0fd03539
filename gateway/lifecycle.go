package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

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
	// Grace is how long a decision may wait for the writer before the
	// outbox publishes its event again (a publish lost to a crash):
	// --inflight-grace.
	Grace time.Duration
	Log   *slog.Logger
}

// Confirm confirms a reservation (the caller checked the payment).
func (l *Lifecycle) Confirm(ctx context.Context, id string) (Reservation, error) {
	return l.decide(ctx, id, event.Confirm, 0)
}

// Cancel cancels a reservation of owner and gives its seat back; another
// member's is not found. Owner 0 cancels anyone's (a gateway that trusts the
// body).
func (l *Lifecycle) Cancel(ctx context.Context, id string, owner int64) (Reservation, error) {
	return l.decide(ctx, id, event.Cancel, owner)
}

// held is what the lifecycle needs to know of a reservation.
type held struct {
	concert, member int64
	status          boxoffice.Status
	hold            bool // PENDING with a hold, or HELD
}

func (l *Lifecycle) find(ctx context.Context, id string) (held, error) {
	f, err := lookup(ctx, l.DB, l.Stock, id)
	if err != nil {
		return held{}, err
	}
	if row := f.row; row != nil {
		return held{concert: row.ConcertID, member: row.MemberID, status: row.Status, hold: row.Status == boxoffice.StatusHeld}, nil
	}
	ev, err := event.Decode(f.inFlight.Payload)
	if err != nil {
		return held{}, fmt.Errorf("in-flight record of %s: %w", id, err)
	}
	return held{concert: f.concert, member: ev.MemberID, status: boxoffice.StatusPending, hold: ev.ExpiresAt != nil}, nil
}

func (l *Lifecycle) decide(ctx context.Context, id string, decision event.Decision, owner int64) (Reservation, error) {
	h, err := l.find(ctx, id)
	if err != nil {
		return Reservation{}, err
	}
	if owner != 0 && h.member != owner {
		return Reservation{}, notYours("reservation " + id)
	}
	want := decision.Status()
	stands, inRedis, err := l.Stock.Decide(ctx, h.concert, id, h.member, decision, time.Now().Add(l.Grace))
	if err != nil {
		return Reservation{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	switch {
	case inRedis && stands == decision:
		// Published again on a repeated call too: the first publish may be
		// the one that failed, and the writer applies it once either way.
		typ := decision.Type()
		ev := event.Event{V: event.Version, Type: typ, ID: id, ConcertID: h.concert, MemberID: h.member, At: time.Now().UTC()}
		pctx, cancel := context.WithTimeout(ctx, l.ProduceTimeout)
		defer cancel()
		if err := l.Producer.Publish(pctx, kafka.Message{Topic: l.Topic, Key: []byte(id), Value: ev.Encode()}); err != nil {
			// The decision stands; the outbox publishes it later, and a retry
			// of this call publishes it now.
			return Reservation{}, fmt.Errorf("%s recorded, event not yet published: %w: %w", typ, boxoffice.ErrUnavailable, err)
		}
		return Reservation{ID: id, Status: want}, nil
	case inRedis:
		return Reservation{}, conflict(id, stands.Status())
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
