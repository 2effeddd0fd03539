package gateway

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/admission"
	"github.com/boxoffice/boxoffice/stock"
)

func TestSoldOutMemory(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	cases := []struct {
		name  string
		s     *SoldOut
		learn bool
		at    time.Duration // after the learning
		want  bool
	}{
		{"nothing learnt", &SoldOut{TTL: time.Second}, false, 0, false},
		{"within the TTL", &SoldOut{TTL: time.Second}, true, 999 * time.Millisecond, true},
		{"at the TTL it is forgotten", &SoldOut{TTL: time.Second}, true, time.Second, false},
		{"a zero TTL remembers nothing", &SoldOut{}, true, 0, false},
		{"nil is off", nil, true, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.learn {
				c.s.Learn(7, now)
			}
			if got := c.s.Known(7, now.Add(c.at)); got != c.want {
				t.Errorf("Known = %v, want %v", got, c.want)
			}
			if c.s.Known(8, now) {
				t.Error("another concert is sold out too")
			}
		})
	}
}

// countingSeats answers sold out and counts the script runs.
type countingSeats struct {
	fakeSeats
	runs atomic.Int64
}

func (c *countingSeats) Reserve(ctx context.Context, r stock.Reservation) (stock.Admission, error) {
	c.runs.Add(1)
	return stock.Admission{}, boxoffice.ErrSoldOut
}

// Once Redis said sold out, the next requests are answered without it until
// the TTL passes — except a retry with an Idempotency-Key, which may be
// answered its own reservation.
func TestSoldOutSkipsRedis(t *testing.T) {
	seats := &countingSeats{}
	a := &Async{Admission: &admission.Protocol{Seats: seats, Producer: failingPublisher{}, Topic: "t", ProduceTimeout: time.Second},
		SoldOut: &SoldOut{TTL: 200 * time.Millisecond}}
	for m := range 50 {
		if _, err := a.Reserve(context.Background(), ReserveRequest{ConcertID: 1, MemberID: int64(m + 1)}); !errors.Is(err, boxoffice.ErrSoldOut) {
			t.Fatalf("member %d: %v, want sold out", m+1, err)
		}
	}
	if got := seats.runs.Load(); got != 1 {
		t.Fatalf("50 requests on a sold-out concert ran the script %d times, want 1", got)
	}
	a.Reserve(context.Background(), ReserveRequest{ConcertID: 1, MemberID: 99, IdempotencyKey: "k-1"})
	if got := seats.runs.Load(); got != 2 {
		t.Fatalf("a retry with an Idempotency-Key did not ask Redis (runs %d)", got)
	}
	time.Sleep(250 * time.Millisecond)
	a.Reserve(context.Background(), ReserveRequest{ConcertID: 1, MemberID: 100})
	if got := seats.runs.Load(); got != 3 {
		t.Fatalf("after the TTL Redis was not asked again (runs %d)", got)
	}
}
