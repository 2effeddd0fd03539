package admission_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/admission"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
)

type fakeSeats struct {
	admission  stock.Admission
	reserveErr error
	undo       stock.Undo
	undoErr    error
	reserves   int
	releases   int
	acks       int
}

func (f *fakeSeats) Reserve(context.Context, stock.Reservation) (stock.Admission, error) {
	f.reserves++
	return f.admission, f.reserveErr
}

func (f *fakeSeats) Release(context.Context, stock.Reservation) (stock.Undo, error) {
	f.releases++
	return f.undo, f.undoErr
}

func (f *fakeSeats) Ack(context.Context, int64, string) error { f.acks++; return nil }

type fakePublisher struct {
	err  error
	sent int
}

func (f *fakePublisher) Publish(context.Context, kafka.Message) error {
	f.sent++
	return f.err
}

func TestAdmit(t *testing.T) {
	redisDown := errors.New("connection refused")
	cases := []struct {
		name       string
		seats      fakeSeats
		publishErr error
		fresh      bool
		key        string
		wantErr    error // errors.Is target; nil: admitted
		wantAck    bool  // Outcome.AckLost
		wantReplay bool
		sent       int
		releases   int
		acks       int
	}{
		{name: "admitted and published", seats: fakeSeats{admission: stock.Admission{ID: "A"}}, fresh: true, sent: 1},
		{name: "idempotency key: ack recorded", seats: fakeSeats{admission: stock.Admission{ID: "A"}}, key: "k", fresh: true, sent: 1, acks: 1},
		{name: "sold out: nothing published", seats: fakeSeats{reserveErr: boxoffice.ErrSoldOut}, fresh: true, wantErr: boxoffice.ErrSoldOut},
		{name: "replay: nothing published", seats: fakeSeats{admission: stock.Admission{ID: "B", Replay: true, State: stock.Acked}}, fresh: true, wantReplay: true},
		{name: "lost reply of a fresh id: undone", seats: fakeSeats{reserveErr: redisDown, undo: stock.Released}, fresh: true, wantErr: boxoffice.ErrUnavailable, releases: 1},
		{name: "lost reply of a fresh id, undo fails: in doubt", seats: fakeSeats{reserveErr: redisDown, undoErr: redisDown}, fresh: true, wantErr: boxoffice.ErrInDoubt, releases: 1},
		{name: "lost reply of an old id: left to the sweeper", seats: fakeSeats{reserveErr: redisDown}, wantErr: boxoffice.ErrInDoubt},
		{name: "publish fails: seat back", seats: fakeSeats{admission: stock.Admission{ID: "A"}, undo: stock.Released}, publishErr: kafka.ErrTimeout, fresh: true, wantErr: kafka.ErrTimeout, sent: 1, releases: 1},
		{name: "publish fails, ack lost: stands", seats: fakeSeats{admission: stock.Admission{ID: "A"}, undo: stock.Kept}, publishErr: kafka.ErrTimeout, fresh: true, wantAck: true, sent: 1, releases: 1},
		{name: "publish fails, already written: stands", seats: fakeSeats{admission: stock.Admission{ID: "A"}, undo: stock.Persisted}, publishErr: kafka.ErrTimeout, fresh: true, wantAck: true, sent: 1, releases: 1},
		{name: "publish and undo fail: in doubt", seats: fakeSeats{admission: stock.Admission{ID: "A"}, undoErr: redisDown}, publishErr: kafka.ErrTimeout, fresh: true, wantErr: boxoffice.ErrInDoubt, sent: 1, releases: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.publishErr}
			p := &admission.Protocol{Seats: &tc.seats, Producer: pub, Topic: "t", ProduceTimeout: time.Second}
			out, err := p.Admit(context.Background(), stock.Reservation{ID: "A", ConcertID: 1, MemberID: 2, IdempotencyKey: tc.key}, tc.fresh)
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && err != nil:
				t.Fatalf("err = %v", err)
			}
			if out.AckLost != tc.wantAck || out.Replay != tc.wantReplay {
				t.Errorf("outcome %+v, want AckLost=%v Replay=%v", out, tc.wantAck, tc.wantReplay)
			}
			if pub.sent != tc.sent || tc.seats.releases != tc.releases || tc.seats.acks != tc.acks {
				t.Errorf("published %d (want %d), released %d (want %d), acked %d (want %d)",
					pub.sent, tc.sent, tc.seats.releases, tc.releases, tc.seats.acks, tc.acks)
			}
		})
	}
}

// A failed publish is ErrUnavailable, and says whether the seat went back.
func TestPublishErrorSaysWhatBecameOfTheSeat(t *testing.T) {
	seats := &fakeSeats{admission: stock.Admission{ID: "A"}, undo: stock.Released}
	p := &admission.Protocol{Seats: seats, Producer: &fakePublisher{err: kafka.ErrTimeout}, Topic: "t"}
	_, err := p.Admit(context.Background(), stock.Reservation{ID: "A"}, true)
	var pe *admission.PublishError
	if !errors.As(err, &pe) || pe.Undo != stock.Released || pe.UndoErr != nil || !errors.Is(err, boxoffice.ErrUnavailable) {
		t.Fatalf("err = %#v", err)
	}
}
