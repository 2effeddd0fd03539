package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice/admission"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
)

type fakeSeats struct {
	reserveErr, releaseErr error
	undo                   stock.Undo
}

func (f *fakeSeats) Reserve(_ context.Context, r stock.Reservation) (stock.Admission, error) {
	return stock.Admission{ID: r.ID}, f.reserveErr
}
func (f *fakeSeats) Release(context.Context, stock.Reservation) (stock.Undo, error) {
	return f.undo, f.releaseErr
}
func (f *fakeSeats) Ack(context.Context, int64, string) error { return nil }

type failingPublisher struct{ err error }

func (f failingPublisher) Publish(context.Context, kafka.Message) error { return f.err }

// A 503 may say "the seat was given back, retrying is safe" only when it
// was: when the undo fails too, the reservation is in flight and the sweeper
// may still complete it, so the client is told it is in doubt, with the id
// to look it up (issue 12 d).
func TestAsyncFailureSaysWhetherTheSeatWentBack(t *testing.T) {
	redisDown := errors.New("connection refused")
	cases := []struct {
		name       string
		seats      fakeSeats
		publishErr error
		code       string
		withID     bool
	}{
		{"publish fails, seat back", fakeSeats{undo: stock.Released}, kafka.ErrTimeout, "unavailable", false},
		{"publish fails, undo fails", fakeSeats{releaseErr: redisDown}, kafka.ErrTimeout, "in_doubt", true},
		{"reply lost, undo fails", fakeSeats{reserveErr: redisDown, releaseErr: redisDown}, nil, "in_doubt", true},
		{"reply lost, seat back", fakeSeats{reserveErr: redisDown, undo: stock.Released}, nil, "unavailable", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Async{Admission: &admission.Protocol{Seats: &tc.seats, Producer: failingPublisher{tc.publishErr}, Topic: "t", ProduceTimeout: time.Second}}
			_, err := a.Reserve(context.Background(), ReserveRequest{ConcertID: 1, MemberID: 2})
			if err == nil {
				t.Fatal("no error")
			}
			var ctx fasthttp.RequestCtx
			writeError(&ctx, err)
			var body map[string]string
			if jerr := json.Unmarshal(ctx.Response.Body(), &body); jerr != nil {
				t.Fatal(jerr)
			}
			if ctx.Response.StatusCode() != 503 || body["error"] != tc.code {
				t.Fatalf("%d %v, want 503 %s (err %v)", ctx.Response.StatusCode(), body, tc.code, err)
			}
			if got := body["reservationId"] != ""; got != tc.withID {
				t.Errorf("reservationId in the body: %v, want %v (%v)", got, tc.withID, body)
			}
		})
	}
}
