package dlq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/dlq"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// What fakeSeats' Reserve answers.
const (
	reserveOK = iota + 1
	reserveReplay
	reserveSoldOut
	reserveNoConcert
	reserveAlreadyReserved
)

// fakeSeats answers Reserve and Release with fixed results.
type fakeSeats struct {
	reserveCode int
	reserveErr  error
	releaseCode stock.Undo
	reserved    []stock.Reservation
	released    []stock.Reservation
}

func (f *fakeSeats) Reserve(_ context.Context, r stock.Reservation) (stock.Admission, error) {
	f.reserved = append(f.reserved, r)
	if f.reserveErr != nil {
		return stock.Admission{}, f.reserveErr
	}
	switch f.reserveCode {
	case reserveReplay:
		return stock.Admission{ID: r.ID, Replay: true, State: stock.Publishing}, nil
	case reserveSoldOut:
		return stock.Admission{}, boxoffice.ErrSoldOut
	case reserveNoConcert:
		return stock.Admission{}, boxoffice.ErrConcertNotFound
	case reserveAlreadyReserved:
		return stock.Admission{}, boxoffice.ErrAlreadyReserved
	}
	return stock.Admission{ID: r.ID}, nil
}

func (f *fakeSeats) Release(_ context.Context, r stock.Reservation) (stock.Undo, error) {
	f.released = append(f.released, r)
	return f.releaseCode, nil
}

func (f *fakeSeats) Ack(context.Context, int64, string) error { return nil }

// fakeRows has the rows in rows; after n looks it also has the rows in later.
type fakeRows struct {
	rows  map[string]boxoffice.Status
	later map[string]boxoffice.Status
	looks int
}

func (f *fakeRows) Reservation(_ context.Context, id string) (store.Reservation, error) {
	f.looks++
	st, ok := f.rows[id]
	if !ok && f.looks > 1 {
		st, ok = f.later[id]
	}
	if !ok {
		return store.Reservation{}, boxoffice.ErrNotFound
	}
	return store.Reservation{ID: id, Status: st}, nil
}

type fakePublisher struct {
	err  error
	sent []kafka.Message
}

func (f *fakePublisher) Publish(_ context.Context, m kafka.Message) error {
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m)
	return nil
}

func requested(id string) event.Event {
	return event.Event{V: event.Version, Type: event.Requested, ID: id, ConcertID: 1, MemberID: 5, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func TestDLQReplayRequested(t *testing.T) {
	const id = "01JTESTRESERVATION000000001"
	cases := []struct {
		name        string
		seats       fakeSeats
		rows        fakeRows
		publishErr  error
		want        dlq.Result
		wantErr     error // errors.Is target; nil: success
		wantPublish int
		wantRelease int
		wantReserve int
	}{
		{name: "admitted", seats: fakeSeats{reserveCode: reserveOK}, want: dlq.Admitted, wantReserve: 1, wantPublish: 1},
		{name: "already in flight", seats: fakeSeats{reserveCode: reserveReplay}, want: dlq.Republished, wantReserve: 1, wantPublish: 1},
		{name: "already written", rows: fakeRows{rows: map[string]boxoffice.Status{id: boxoffice.StatusConfirmed}}, want: dlq.AlreadyWritten},
		{name: "sold out", seats: fakeSeats{reserveCode: reserveSoldOut}, wantErr: boxoffice.ErrSoldOut, wantReserve: 1},
		{name: "no concert", seats: fakeSeats{reserveCode: reserveNoConcert}, wantErr: boxoffice.ErrConcertNotFound, wantReserve: 1},
		{name: "member holds another seat", seats: fakeSeats{reserveCode: reserveAlreadyReserved}, wantErr: boxoffice.ErrAlreadyReserved, wantReserve: 1},
		{name: "written between the looks", seats: fakeSeats{reserveCode: reserveAlreadyReserved},
			rows: fakeRows{later: map[string]boxoffice.Status{id: boxoffice.StatusHeld}}, want: dlq.AlreadyWritten, wantReserve: 1},
		{name: "redis error", seats: fakeSeats{reserveErr: errors.New("connection refused")}, wantErr: errAny, wantReserve: 1},
		{name: "publish fails: undone", seats: fakeSeats{reserveCode: reserveOK, releaseCode: stock.Released},
			publishErr: kafka.ErrTimeout, wantErr: kafka.ErrTimeout, wantReserve: 1, wantRelease: 1},
		{name: "publish fails but the writer has it", seats: fakeSeats{reserveCode: reserveOK, releaseCode: stock.Kept},
			publishErr: kafka.ErrTimeout, want: dlq.Admitted, wantReserve: 1, wantRelease: 1},
		{name: "publish fails while in flight before: not undone", seats: fakeSeats{reserveCode: reserveReplay},
			publishErr: kafka.ErrTimeout, wantErr: kafka.ErrTimeout, wantReserve: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.publishErr}
			r := &dlq.Replayer{Seats: &tc.seats, Rows: &tc.rows, Producer: pub, Topic: "reservations", ProduceTimeout: time.Second}
			ev := requested(id)
			out, err := r.Replay(context.Background(), ev)
			switch {
			case tc.wantErr == errAny:
				if err == nil {
					t.Fatal("no error")
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case out.Result != tc.want:
				t.Fatalf("result %s, want %s (%s)", out.Result, tc.want, out)
			}
			seatRefusal := errors.Is(tc.wantErr, boxoffice.ErrSoldOut) || errors.Is(tc.wantErr, boxoffice.ErrConcertNotFound) || errors.Is(tc.wantErr, boxoffice.ErrAlreadyReserved)
			if seatRefusal != errors.Is(err, dlq.ErrSeatUnavailable) {
				t.Errorf("err = %v: ErrSeatUnavailable should mark exactly the seat refusals", err)
			}
			if len(tc.seats.reserved) != tc.wantReserve || len(pub.sent) != tc.wantPublish || len(tc.seats.released) != tc.wantRelease {
				t.Fatalf("reserve %d (want %d), publish %d (want %d), release %d (want %d)",
					len(tc.seats.reserved), tc.wantReserve, len(pub.sent), tc.wantPublish, len(tc.seats.released), tc.wantRelease)
			}
			if tc.wantReserve > 0 {
				sr := tc.seats.reserved[0]
				if sr.ID != id || sr.ConcertID != 1 || sr.MemberID != 5 || string(sr.Payload) != string(ev.Encode()) || sr.IdempotencyKey != "" || sr.Now.IsZero() {
					t.Errorf("reserve.lua got %+v", sr)
				}
			}
			for _, m := range pub.sent {
				got, err := event.Decode(m.Value)
				if m.Topic != "reservations" || string(m.Key) != id || err != nil || got.ID != id {
					t.Errorf("published %s key %s value %s (%v)", m.Topic, m.Key, m.Value, err)
				}
			}
		})
	}
}

// errAny stands for "some error" in the table.
var errAny = errors.New("any error")

func TestDLQReplayHoldKeepsItsDeadline(t *testing.T) {
	seats := &fakeSeats{reserveCode: reserveOK}
	r := &dlq.Replayer{Seats: seats, Rows: &fakeRows{}, Producer: &fakePublisher{}, Topic: "reservations", ProduceTimeout: time.Second}
	ev := requested("01JTESTRESERVATION000000002")
	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	ev.ExpiresAt = &past
	out, err := r.Replay(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !seats.reserved[0].ExpiresAt.Equal(past) {
		t.Errorf("hold deadline %s, want the event's %s", seats.reserved[0].ExpiresAt, past)
	}
	if !strings.Contains(out.String(), "expires at once") {
		t.Errorf("no warning about the past deadline: %s", out)
	}
}

func TestDLQReplayTransitionOnlyPublishes(t *testing.T) {
	for _, typ := range []event.Type{event.Confirmed, event.Cancelled, event.Expired} {
		pub := &fakePublisher{}
		// No Seats and no Rows: a transition must not need them.
		r := &dlq.Replayer{Producer: pub, Topic: "reservations", ProduceTimeout: time.Second}
		ev := requested("01JTESTRESERVATION000000003")
		ev.Type = typ
		out, err := r.Replay(context.Background(), ev)
		if err != nil || out.Result != dlq.Transition {
			t.Fatalf("%s: %s %v", typ, out, err)
		}
		if len(pub.sent) != 1 || string(pub.sent[0].Key) != ev.ID {
			t.Fatalf("%s: published %+v", typ, pub.sent)
		}
	}
}

func TestDLQDecodeRefusesMalformed(t *testing.T) {
	for _, v := range []string{"", "not json", `{"v":2,"type":"requested","id":"x","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`, `{"v":1,"type":"requested","concertId":1,"memberId":1,"at":"2026-01-01T00:00:00Z"}`} {
		if _, err := dlq.Decode([]byte(v)); !errors.Is(err, event.ErrMalformed) || !strings.Contains(err.Error(), "refusing to replay") {
			t.Errorf("%q: err = %v", v, err)
		}
	}
	ev := requested("01JTESTRESERVATION000000004")
	if got, err := dlq.Decode(ev.Encode()); err != nil || got.ID != ev.ID {
		t.Errorf("valid event: %+v %v", got, err)
	}
}
