package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/store"
)

// One contract for the three synchronous ways of taking a seat: the same
// request gets the same answer from each (when requests do not race).

type reserveFunc func(s *store.Store, ctx context.Context, r store.NewReservation, strategy string) error

var syncReserves = []struct {
	name    string
	reserve reserveFunc
}{
	{"pessimistic", (*store.Store).ReserveForUpdate},
	{"distlock", (*store.Store).ReserveUnderLock},
	{"unsafe", (*store.Store).ReserveUnsafe},
}

// lockingStore opens a migrated store of its own with one concert of
// capacity seats (members need no rows).
func lockingStore(t *testing.T, capacity int) *store.Store {
	t.Helper()
	return servicetest.Store(t, 10, 1, capacity)
}

func seat(concert, member int64) store.NewReservation {
	return store.NewReservation{ID: ulid.Make().String(), ConcertID: concert, MemberID: member, CreatedAt: time.Now()}
}

func TestSyncReserveContract(t *testing.T) {
	for _, sr := range syncReserves {
		t.Run(sr.name, func(t *testing.T) {
			t.Parallel()
			db := lockingStore(t, 2)
			ctx := context.Background()
			reserve := func(r store.NewReservation) error { return sr.reserve(db, ctx, r, sr.name) }

			first := seat(1, 7)
			if err := reserve(first); err != nil {
				t.Fatalf("first seat: %v", err)
			}
			row, err := db.Reservation(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			if row.Status != boxoffice.StatusConfirmed || row.Strategy != sr.name || row.ConcertID != 1 || row.MemberID != 7 {
				t.Fatalf("row %+v, want CONFIRMED by %s for concert 1, member 7", row, sr.name)
			}
			if c, _ := db.Concert(ctx, 1); c.Remaining != 1 {
				t.Fatalf("remaining %d after one seat of two, want 1", c.Remaining)
			}

			steps := []struct {
				what string
				r    store.NewReservation
				want error
			}{
				{"unknown concert", seat(99, 8), boxoffice.ErrConcertNotFound},
				{"same member again", seat(1, 7), boxoffice.ErrAlreadyReserved},
				{"second member takes the last seat", seat(1, 8), nil},
				{"third member", seat(1, 9), boxoffice.ErrSoldOut},
				// As reserve.lua answers: a holder is told that, not sold out.
				{"holder after the sell-out", seat(1, 8), boxoffice.ErrAlreadyReserved},
			}
			for _, st := range steps {
				if err := reserve(st.r); !errors.Is(err, st.want) || (st.want == nil && err != nil) {
					t.Fatalf("%s: %v, want %v", st.what, err, st.want)
				}
			}
			counts, err := db.ConcertCounts(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if counts.Active != 2 || counts.Remaining != 0 || counts.Duplicates != 0 {
				t.Fatalf("counts %+v, want 2 active, 0 remaining, no duplicates", counts)
			}
		})
	}
}

// Even the unsafe path cannot give a member two seats: the UNIQUE key turns
// the duplicate that slips past the racy check into ErrAlreadyReserved.
func TestSyncReserveSameMemberConcurrently(t *testing.T) {
	for _, sr := range syncReserves {
		t.Run(sr.name, func(t *testing.T) {
			t.Parallel()
			db := lockingStore(t, 10)
			ctx := context.Background()
			const n = 30
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = sr.reserve(db, ctx, seat(1, 42), sr.name) })
			}
			wg.Wait()
			ok, already := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, boxoffice.ErrAlreadyReserved):
					already++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}
			if ok != 1 || already != n-1 {
				t.Fatalf("%d seats and %d already_reserved for one member, want 1 and %d", ok, already, n-1)
			}
			counts, err := db.ConcertCounts(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if counts.Active != 1 || counts.Remaining != 9 {
				t.Fatalf("counts %+v, want 1 active and 9 remaining", counts)
			}
		})
	}
}

// ReserveForUpdate under a rush of distinct members: never more than capacity.
func TestReserveForUpdateRush(t *testing.T) {
	db := lockingStore(t, 20)
	ctx := context.Background()
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = db.ReserveForUpdate(ctx, seat(1, int64(i+1)), "pessimistic") })
	}
	wg.Wait()
	ok, soldOut := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, boxoffice.ErrSoldOut):
			soldOut++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	counts, err := db.ConcertCounts(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 20 || soldOut != n-20 || counts.Active != 20 || counts.Remaining != 0 {
		t.Fatalf("%d seats, %d sold out, counts %+v; want 20, %d, 20 active, 0 remaining", ok, soldOut, counts, n-20)
	}
}
