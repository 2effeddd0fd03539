package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/seatmap"
	"github.com/boxoffice/boxoffice/store"
)

func seatedStore(t *testing.T) *store.Store {
	t.Helper()
	db := newStore(t, 1, 10)
	m, err := seatmap.Generate(1, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SeedSeatMap(context.Background(), 1, m); err != nil {
		t.Fatal(err)
	}
	return db
}

func withSeats(r store.NewReservation, seats ...string) store.NewReservation {
	r.Seats = seats
	exp := time.Now().Add(time.Hour)
	r.ExpiresAt = &exp
	return r
}

// The unique key on (concert, seat, active) is the last guard: a seat two
// reservations name goes to the first; the second fails and names it.
func TestSeatsAreTheLastGuard(t *testing.T) {
	for _, ins := range inserts {
		t.Run(ins.name, func(t *testing.T) {
			db := seatedStore(t)
			useInsert(t, db, ins.load)
			seatsAreTheLastGuard(t, db)
		})
	}
}

func seatsAreTheLastGuard(t *testing.T, db *store.Store) {
	ctx := context.Background()
	first := withSeats(nr("01SEAT000000000000000000A1", 1, 1), "A-1-1", "A-1-2")
	if out, err := db.ApplyBatch(ctx, []store.NewReservation{first}); err != nil || len(out.Written) != 1 {
		t.Fatalf("first: %+v %v", out, err)
	}
	for _, batch := range [][]store.NewReservation{
		// In a later batch (the fast path's insert is refused by the key)…
		{withSeats(nr("01SEAT000000000000000000B2", 1, 2), "A-1-2", "A-1-3")},
		// …and in one batch with the reservation that takes it first.
		{withSeats(nr("01SEAT000000000000000000C3", 1, 3), "A-2-1"), withSeats(nr("01SEAT000000000000000000D4", 1, 4), "A-2-1", "A-2-2")},
	} {
		out, err := db.ApplyBatch(ctx, batch)
		last := batch[len(batch)-1]
		if err != nil || len(out.Failed) != 1 || out.Failed[0].ID != last.ID || out.Reasons[last.ID] != store.ReasonSeatTaken ||
			!reflect.DeepEqual(out.Taken[last.ID], last.Seats[:1]) {
			t.Fatalf("%v: %+v %v", ids(batch), out, err)
		}
		// A redelivery fails the same way and names the seat again.
		again, err := db.ApplyBatch(ctx, []store.NewReservation{last})
		if err != nil || len(again.Failed) != 1 || !reflect.DeepEqual(again.Taken[last.ID], last.Seats[:1]) {
			t.Fatalf("redelivered %s: %+v %v", last.ID, again, err)
		}
	}
	st, err := db.State(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A-1-1": first.ID, "A-1-2": first.ID, "A-2-1": "01SEAT000000000000000000C3"}
	if !reflect.DeepEqual(st.Seats, want) || st.ActiveSeats != 3 || st.Capacity-st.Remaining != 3 {
		t.Fatalf("state %+v, want seats %v", st, want)
	}
	// A cancel lets its seats go, in seats: remaining +2, and A-1-2 can be sold again.
	applied, err := db.ApplyTransitions(ctx, []store.Transition{{ID: first.ID, To: boxoffice.StatusCancelled}})
	if err != nil || !applied[0].Changed || !reflect.DeepEqual(applied[0].Seats, []string{"A-1-1", "A-1-2"}) {
		t.Fatalf("cancel: %+v %v", applied, err)
	}
	if st, _ := db.State(ctx, 1); st.Remaining != 9 || st.ActiveSeats != 1 {
		t.Fatalf("after the cancel: remaining %d, %d active seats", st.Remaining, st.ActiveSeats)
	}
	if out, err := db.ApplyBatch(ctx, []store.NewReservation{withSeats(nr("01SEAT000000000000000000E5", 1, 5), "A-1-2")}); err != nil || len(out.Written) != 1 {
		t.Fatalf("the cancelled seat again: %+v %v", out, err)
	}
}
