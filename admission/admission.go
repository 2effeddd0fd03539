// Package admission is the one protocol that turns a request into an accepted
// reservation: take the seat in Redis, publish the event and wait for the
// broker's ack, and give the seat back when the broker did not take it —
// unless the ack was lost but the event arrived, in which case the
// reservation stands. The gateway runs it for every request, and
// `boxoffice dlq replay` for a dead-lettered reservation.
package admission

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
)

// Seats is the Redis side (*stock.Store).
type Seats interface {
	Reserve(ctx context.Context, r stock.Reservation) (stock.Admission, error)
	Release(ctx context.Context, r stock.Reservation) (stock.Undo, error)
	Ack(ctx context.Context, concert int64, id string) error
}

// Publisher sends one message and waits for the broker's ack (*kafka.Producer).
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Observer is told how each step went (the gateway's metrics).
type Observer interface {
	Script(result string, d time.Duration)
	Producing(delta int)
	Produce(err error, d time.Duration)
	Undo(result string)
}

// UndoTimeout bounds giving a seat back; the undo gets its own time because
// the caller's context may be what ended.
const UndoTimeout = 2 * time.Second

// Protocol admits reservations.
type Protocol struct {
	Seats    Seats
	Producer Publisher
	Topic    string
	// ProduceTimeout bounds waiting for the broker's ack (0: the caller's
	// context alone).
	ProduceTimeout time.Duration
	Log            *slog.Logger
	// Observe, if set, is told how each step went.
	Observe Observer
}

// Outcome is what Admit did.
type Outcome struct {
	// Admission is Redis's answer: the reservation id, and on a replay the
	// earlier one's id and state (nothing was taken or published then).
	stock.Admission
	// AckLost: the publish failed, but the writer already had the event, so
	// the reservation stands.
	AckLost bool
}

// PublishError says that the event did not reach the broker. Undo says what
// became of the seat; UndoErr is set when giving it back failed too (the
// record stays in flight, and the writer's sweeper publishes it after its
// grace).
type PublishError struct {
	Cause   error
	Undo    stock.Undo
	UndoErr error
}

func (e *PublishError) Error() string {
	if e.UndoErr != nil {
		return fmt.Sprintf("event not published: %v; giving the seat back failed too: %v", e.Cause, e.UndoErr)
	}
	return fmt.Sprintf("event not published: %v", e.Cause)
}

// Unwrap makes a PublishError an ErrUnavailable (the seat went back) or,
// when the undo failed, an ErrInDoubt; and its causes.
func (e *PublishError) Unwrap() []error {
	if e.UndoErr != nil {
		return []error{boxoffice.ErrInDoubt, e.Cause, e.UndoErr}
	}
	return []error{boxoffice.ErrUnavailable, e.Cause}
}

// Admit takes r's seat and publishes r.Payload keyed by r.ID. A refusal is
// the stock's error (boxoffice.ErrSoldOut and the like). On a replay (the
// id or the Idempotency-Key seen before) nothing is taken or published: the
// caller decides what a replay means. fresh says r.ID was made for this call,
// so when Redis's reply is lost the admission is undone at once (release.lua
// acts only on this id's own Publishing record); an id that may have been in
// flight before is left to the sweeper instead.
func (p *Protocol) Admit(ctx context.Context, r stock.Reservation, fresh bool) (Outcome, error) {
	start := time.Now()
	adm, err := p.Seats.Reserve(ctx, r)
	answer := stock.Answer(adm, err)
	p.observer().Script(answer, time.Since(start))
	if err != nil {
		if answer != "error" {
			return Outcome{}, err // the script said no (sold out, ...): nothing to undo
		}
		if fresh {
			if uerr := p.undoLostReply(ctx, r); uerr != nil {
				return Outcome{}, fmt.Errorf("%w: %w (giving the seat back failed too: %w)", boxoffice.ErrInDoubt, err, uerr)
			}
		} else {
			// The script may have run; the sweeper publishes what it left.
			return Outcome{}, fmt.Errorf("%w: %w", boxoffice.ErrInDoubt, err)
		}
		return Outcome{}, fmt.Errorf("%w: %w", boxoffice.ErrUnavailable, err)
	}
	out := Outcome{Admission: adm}
	if adm.Replay {
		return out, nil
	}
	payload := r.Payload
	if adm.Payload != nil {
		payload = adm.Payload // the event with the seats the script chose
	}
	if err := p.Publish(ctx, r.ID, payload); err != nil {
		return p.undo(ctx, r, out, err)
	}
	if r.IdempotencyKey != "" {
		// Tell retries with the same key that the event is safe on the broker.
		if err := p.Seats.Ack(ctx, r.ConcertID, r.ID); err != nil {
			p.log().Warn("ack not recorded; retries with this key will wait", "id", r.ID, "err", err)
		}
	}
	return out, nil
}

// Publish sends one reservation's event and waits for the ack.
func (p *Protocol) Publish(ctx context.Context, id string, payload []byte) error {
	if p.ProduceTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.ProduceTimeout)
		defer cancel()
	}
	start := time.Now()
	p.observer().Producing(1)
	err := p.Producer.Publish(ctx, kafka.Message{Topic: p.Topic, Key: []byte(id), Value: payload})
	p.observer().Producing(-1)
	p.observer().Produce(err, time.Since(start))
	return err
}

// undo returns the seat of a reservation whose event the broker did not take.
func (p *Protocol) undo(ctx context.Context, r stock.Reservation, out Outcome, cause error) (Outcome, error) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
	defer cancel()
	u, err := p.Seats.Release(uctx, r)
	switch {
	case err != nil:
		p.observer().Undo("error")
		p.log().Error("undo failed; the sweeper will complete the reservation", "id", r.ID, "err", err, "cause", cause)
		return Outcome{}, &PublishError{Cause: cause, UndoErr: err}
	case u.Stands():
		p.observer().Undo("kept")
		out.AckLost = true
		return out, nil
	}
	p.observer().Undo("released")
	return Outcome{}, &PublishError{Cause: cause, Undo: u}
}

// undoLostReply undoes an admission whose reply was lost, in case the
// script ran; an error means it may have run and stays in flight.
func (p *Protocol) undoLostReply(ctx context.Context, r stock.Reservation) error {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), UndoTimeout)
	defer cancel()
	u, err := p.Seats.Release(uctx, r)
	if err != nil {
		p.observer().Undo("error")
		return err
	}
	if u == stock.Released {
		p.observer().Undo("released")
	}
	return nil
}

type nopObserver struct{}

func (nopObserver) Script(string, time.Duration) {}
func (nopObserver) Producing(int)                {}
func (nopObserver) Produce(error, time.Duration) {}
func (nopObserver) Undo(string)                  {}

func (p *Protocol) observer() Observer {
	if p.Observe == nil {
		return nopObserver{}
	}
	return p.Observe
}

func (p *Protocol) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}
