package dlq

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

// Seats is the Redis side a replay admits a reservation in (*stock.Store).
type Seats = admission.Seats

// Rows reads the system of record (*store.Store).
type Rows interface {
	Reservation(ctx context.Context, id string) (store.Reservation, error)
}

// Publisher sends one message and waits for the broker's ack (*kafka.Producer).
type Publisher interface {
	Publish(ctx context.Context, m kafka.Message) error
}

// Decode checks that value is an event the writer can process; a replay of
// anything else is refused (it would only land in the DLQ again).
func Decode(value []byte) (event.Event, error) {
	ev, err := event.Decode(value)
	if err != nil {
		return ev, fmt.Errorf("refusing to replay: the value does not decode (%w); put a fixed event in a file and pass --value-file", err)
	}
	return ev, nil
}

// Result says what a replay did.
type Result int

// Replay results.
const (
	// Admitted: the seat was taken in Redis now and the event published.
	Admitted Result = iota + 1
	// Republished: the reservation was already in flight (an earlier replay,
	// or a gateway whose event has not been written yet), so no seat was
	// taken; the event was published again and the writer stores it once.
	Republished
	// AlreadyWritten: MySQL has the row; nothing was done.
	AlreadyWritten
	// Transition: a confirmed/cancelled/expired event was published; the
	// writer applies transitions idempotently.
	Transition
)

func (r Result) String() string {
	switch r {
	case Admitted:
		return "admitted"
	case Republished:
		return "republished"
	case AlreadyWritten:
		return "already_written"
	case Transition:
		return "transition"
	}
	return "unknown"
}

// Outcome is what a replay did, for the operator.
type Outcome struct {
	Result Result
	Event  event.Event
	Topic  string
	// Status of the row found, for AlreadyWritten.
	Status boxoffice.Status
	// Note adds what the operator should know (an ack lost but the event
	// already taken by the writer).
	Note string
}

func (o Outcome) String() string {
	ev := o.Event
	who := fmt.Sprintf("reservation %s (concert %d, member %d)", ev.ID, ev.ConcertID, ev.MemberID)
	var s string
	switch o.Result {
	case Admitted:
		s = fmt.Sprintf("%s: seat taken in Redis and %s event published to %s; the writer will store it", who, ev.Type, o.Topic)
	case Republished:
		s = fmt.Sprintf("%s: already in flight (taken earlier, not yet written), no second seat taken; %s event published again to %s, the writer stores it once", who, ev.Type, o.Topic)
	case AlreadyWritten:
		s = fmt.Sprintf("%s: already written (status %s); nothing to do", who, o.Status)
	case Transition:
		s = fmt.Sprintf("%s: %s event published to %s; the writer applies it once", who, ev.Type, o.Topic)
	default:
		s = fmt.Sprintf("%s: unknown result %d", who, o.Result)
	}
	if o.Note != "" {
		s += " (" + o.Note + ")"
	}
	return s
}

// ErrSeatUnavailable means a requested event cannot become a reservation:
// the concert is sold out or not loaded, or the member holds another seat.
// It wraps the reason (boxoffice.ErrSoldOut, ErrAlreadyReserved,
// ErrConcertNotFound) too.
var ErrSeatUnavailable = errors.New("the seat is not available: the reservation cannot be created")

// Replayer puts a dead-lettered event back on the reservations topic. A
// requested event is admitted exactly as the gateway admits a request
// (admission.Protocol), so the seat, the member and the in-flight record exist
// before the writer sees the event; running it twice takes one seat and
// writes one row.
type Replayer struct {
	Seats    Seats // needed for requested events
	Rows     Rows  // needed for requested events
	Producer Publisher
	Topic    string
	// ProduceTimeout bounds waiting for the broker's ack.
	ProduceTimeout time.Duration
	// Now is the admission time recorded for the sweeper (time.Now if nil).
	Now func() time.Time
}

func (r *Replayer) protocol() *admission.Protocol {
	return &admission.Protocol{Seats: r.Seats, Producer: r.Producer, Topic: r.Topic, ProduceTimeout: r.ProduceTimeout}
}

// Replay puts ev back on the topic (see Replayer). Errors wrapping
// ErrSeatUnavailable are refusals: nothing was changed.
func (r *Replayer) Replay(ctx context.Context, ev event.Event) (Outcome, error) {
	out := Outcome{Event: ev, Topic: r.Topic}
	if ev.Type != event.Requested {
		if err := r.protocol().Publish(ctx, ev.ID, ev.Encode()); err != nil {
			return out, fmt.Errorf("%s event of reservation %s not published: %w", ev.Type, ev.ID, err)
		}
		out.Result = Transition
		return out, nil
	}
	if r.Seats == nil || r.Rows == nil {
		return out, errors.New("replay of a requested event needs Redis and MySQL")
	}
	written, status, err := r.written(ctx, ev.ID)
	if err != nil {
		return out, err
	}
	if written {
		out.Result, out.Status = AlreadyWritten, status
		return out, nil
	}
	return r.admit(ctx, ev, out)
}

// admit takes the seat and publishes, as the gateway does.
func (r *Replayer) admit(ctx context.Context, ev event.Event, out Outcome) (Outcome, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	// No Idempotency-Key: the event's key belongs to the client's first
	// request (maybe undone since), and reserve.lua already answers a
	// repeated reservation id as a replay without taking a second seat.
	// Numbered seats: the same seats again, named (all or none); hold.lua
	// appends them to the stored event, so the payload goes without them.
	seats := ev.Seats
	ev.Seats = nil
	sr := stock.Reservation{ID: ev.ID, ConcertID: ev.ConcertID, MemberID: ev.MemberID, Payload: ev.Encode(), Now: now(), Seats: seats}
	if ev.ExpiresAt != nil {
		// The hold ends when the event says, so Redis's expiry queue and
		// the row the writer stores agree. A deadline already past expires
		// at once and the seat comes back: put a later expiresAt in the
		// fixed value to give the member time to pay.
		sr.ExpiresAt = *ev.ExpiresAt
	}
	p := r.protocol()
	// Not fresh: the id may have been in flight before this replay, and
	// release.lua cannot tell whose record a lost reply's undo would drop.
	res, err := p.Admit(ctx, sr, false)
	if err != nil {
		return r.notAdmitted(ctx, ev, out, err)
	}
	if res.Replay {
		// In flight before this replay: no seat taken now; publish again,
		// and never undo what is not ours.
		out.Result = Republished
		if err := p.Publish(ctx, ev.ID, sr.Payload); err != nil {
			return out, fmt.Errorf("reservation %s not published: %w; it stays in flight as before, and the writer's sweeper republishes it", ev.ID, err)
		}
		return out, nil
	}
	out.Result = Admitted
	switch {
	case res.AckLost:
		out.Note = "the broker's ack was lost, but the writer already has the event"
	case ev.ExpiresAt != nil && !ev.ExpiresAt.After(sr.Now):
		out.Note = fmt.Sprintf("its hold ended at %s, so it expires at once and the seat comes back", ev.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return out, nil
}

// notAdmitted explains, for the operator, why admit changed nothing (or what
// it left for the sweeper).
func (r *Replayer) notAdmitted(ctx context.Context, ev event.Event, out Outcome, err error) (Outcome, error) {
	var pe *admission.PublishError
	switch {
	case errors.Is(err, boxoffice.ErrSoldOut):
		return out, fmt.Errorf("refusing to replay reservation %s: %w (concert %d: %w)", ev.ID, ErrSeatUnavailable, ev.ConcertID, boxoffice.ErrSoldOut)
	case errors.Is(err, boxoffice.ErrSeatsTaken), errors.Is(err, boxoffice.ErrUnknownSeat), errors.Is(err, boxoffice.ErrNotSeated):
		return out, fmt.Errorf("refusing to replay reservation %s: %w (concert %d: %w)", ev.ID, ErrSeatUnavailable, ev.ConcertID, err)
	case errors.Is(err, boxoffice.ErrStockNotLoaded):
		return out, fmt.Errorf("refusing to replay reservation %s: %w (concert %d: %w; run boxoffice reconcile --fix first)", ev.ID, ErrSeatUnavailable, ev.ConcertID, boxoffice.ErrStockNotLoaded)
	case errors.Is(err, boxoffice.ErrConcertNotFound):
		return out, fmt.Errorf("refusing to replay reservation %s: %w (concert %d: %w; its stock is not loaded in Redis, see seed)", ev.ID, ErrSeatUnavailable, ev.ConcertID, boxoffice.ErrConcertNotFound)
	case errors.Is(err, boxoffice.ErrAlreadyReserved):
		// The writer may have stored this very reservation (and cleared
		// its in-flight record) since the first look.
		if written, status, err := r.written(ctx, ev.ID); err == nil && written {
			out.Result, out.Status = AlreadyWritten, status
			return out, nil
		}
		return out, fmt.Errorf("refusing to replay reservation %s: %w (member %d, concert %d: %w)", ev.ID, ErrSeatUnavailable, ev.MemberID, ev.ConcertID, boxoffice.ErrAlreadyReserved)
	case errors.As(err, &pe) && pe.UndoErr != nil:
		return out, fmt.Errorf("reservation %s not published: %w; undoing it failed too (%w): it stays in flight and the writer's sweeper publishes it", ev.ID, pe.Cause, pe.UndoErr)
	case errors.As(err, &pe):
		return out, fmt.Errorf("reservation %s not published: %w; its seat was given back, nothing changed", ev.ID, pe.Cause)
	}
	// If the script did run before its reply was lost, the record is in
	// flight and the writer's sweeper publishes it after its grace.
	return out, fmt.Errorf("admit reservation %s in Redis: %w (if it was admitted before the reply was lost, the writer's sweeper publishes it; running replay again is safe)", ev.ID, err)
}

func (r *Replayer) written(ctx context.Context, id string) (bool, boxoffice.Status, error) {
	row, err := r.Rows.Reservation(ctx, id)
	if errors.Is(err, boxoffice.ErrNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("look up reservation %s in MySQL: %w", id, err)
	}
	return true, row.Status, nil
}
