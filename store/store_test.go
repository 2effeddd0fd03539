package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/store"
)

func newStore(t *testing.T, concerts, capacity int) *store.Store {
	t.Helper()
	db := servicetest.Store(t, 2, concerts, capacity)
	if err := db.Migrate(context.Background()); err != nil { // idempotent
		t.Fatalf("second migrate: %v", err)
	}
	return db
}

func nr(id string, concert, member int64) store.NewReservation {
	return store.NewReservation{ID: id, ConcertID: concert, MemberID: member, CreatedAt: time.Now()}
}

func ids(rs []store.NewReservation) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestApplyBatch(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name          string
		capacity      int
		batch         []store.NewReservation
		wantWritten   []string
		wantFailed    []string
		wantReason    string
		wantRemaining int64
	}{
		{name: "all fit", capacity: 3, batch: []store.NewReservation{nr("A", 1, 1), nr("B", 1, 2)}, wantWritten: []string{"A", "B"}, wantFailed: []string{}, wantRemaining: 1},
		{name: "database refuses more than capacity", capacity: 1, batch: []store.NewReservation{nr("A", 1, 1), nr("B", 1, 2)}, wantWritten: []string{"A"}, wantFailed: []string{"B"}, wantReason: store.ReasonNoSeat, wantRemaining: 0},
		{name: "concert gone", capacity: 1, batch: []store.NewReservation{nr("A", 42, 1)}, wantWritten: []string{}, wantFailed: []string{"A"}, wantReason: store.ReasonConcertGone, wantRemaining: 1},
		{name: "a gone concert beside a real one", capacity: 2, batch: []store.NewReservation{nr("A", 1, 1), nr("B", 42, 2)}, wantWritten: []string{"A"}, wantFailed: []string{"B"}, wantReason: store.ReasonConcertGone, wantRemaining: 1},
		{name: "one active seat per member", capacity: 5, batch: []store.NewReservation{nr("A", 1, 1), nr("B", 1, 1)}, wantWritten: []string{"A"}, wantFailed: []string{"B"}, wantReason: store.ReasonDuplicate, wantRemaining: 4},
		{name: "same event twice in a batch", capacity: 5, batch: []store.NewReservation{nr("A", 1, 1), nr("A", 1, 1)}, wantWritten: []string{"A"}, wantFailed: []string{}, wantRemaining: 4},
	}
	for _, ins := range inserts {
		for _, c := range cases {
			t.Run(ins.name+"/"+c.name, func(t *testing.T) {
				db := newStore(t, 1, c.capacity)
				useInsert(t, db, ins.load)
				for delivery := 1; delivery <= 2; delivery++ {
					out, err := db.ApplyBatch(ctx, c.batch)
					if err != nil {
						t.Fatal(err)
					}
					if got := ids(out.Written); !equal(got, c.wantWritten) {
						t.Fatalf("delivery %d: written %v, want %v", delivery, got, c.wantWritten)
					}
					if got := ids(out.Failed); !equal(got, c.wantFailed) {
						t.Fatalf("delivery %d: failed %v, want %v", delivery, got, c.wantFailed)
					}
					if delivery == 1 && c.wantReason != "" && out.Reasons[c.wantFailed[0]] != c.wantReason {
						t.Fatalf("reason %q, want %q", out.Reasons[c.wantFailed[0]], c.wantReason)
					}
					if delivery == 2 && out.Redelivered == 0 {
						t.Fatalf("second delivery not recognised as a redelivery")
					}
					got, err := db.Concert(ctx, 1)
					if err != nil {
						t.Fatal(err)
					}
					if got.Remaining != c.wantRemaining {
						t.Fatalf("delivery %d: remaining %d, want %d", delivery, got.Remaining, c.wantRemaining)
					}
				}
				for _, id := range c.wantFailed {
					r, err := db.Reservation(ctx, id)
					if err != nil || r.Status != boxoffice.StatusFailed {
						t.Fatalf("failed reservation %s: %+v %v", id, r, err)
					}
				}
			})
		}
	}
}

func TestCheckConstraintIsTheLastGuard(t *testing.T) {
	db := newStore(t, 1, 1)
	_, err := db.DB().Exec(`UPDATE concerts SET remaining = remaining - 2 WHERE id = 1`)
	if err == nil {
		t.Fatal("the database accepted a negative remaining count")
	}
}

func TestSeedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, 2, 10)
	db.ApplyBatch(ctx, []store.NewReservation{nr("A", 1, 1)})
	if err := db.SeedConcerts(ctx, 2, 10, false); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Concert(ctx, 1); c.Remaining != 9 {
		t.Fatalf("re-seed changed remaining to %d", c.Remaining)
	}
	if err := db.SeedMembers(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if err := db.SeedMembers(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Member(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if err := db.SeedConcerts(ctx, 2, 10, true); err != nil {
		t.Fatal(err)
	}
	if c, _ := db.Concert(ctx, 1); c.Remaining != 10 {
		t.Fatalf("reset left remaining %d", c.Remaining)
	}
	if _, err := db.Reservation(ctx, "A"); err == nil {
		t.Fatal("reset kept the reservation")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWaitPurge(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, 1, 100)
	if err := db.SeedConcerts(ctx, 1, 100, true); err != nil {
		t.Fatal(err)
	}
	var version string
	if err := db.DB().GetContext(ctx, &version, `SELECT VERSION()`); err != nil {
		t.Fatal(err)
	}
	err := db.WaitPurge(ctx)
	switch {
	case strings.Contains(version, "MariaDB") && err != nil:
		t.Fatalf("MariaDB %s: %v", version, err)
	case !strings.Contains(version, "MariaDB") && err == nil:
		t.Fatalf("%s accepted a MariaDB-only variable", version)
	}
}

// A migration that dropped an index but died before recording its version
// runs again without failing.
func TestMigrateAgainAfterUnrecordedDrop(t *testing.T) {
	ctx := context.Background()
	db := newStore(t, 1, 1)
	var n int
	if err := db.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND table_name = 'reservations' AND index_name = 'reservations_member'`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("reservations_member still exists after migrating")
	}
	if _, err := db.DB().ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = '002_drop_member_index'`); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}

// The careful path decides from what is committed once it holds the
// concerts' locks: a member's reservation committed by another writer while
// this batch waited for the lock is seen, and this batch's reservation of the
// same member fails — rather than being counted as written while the insert
// turns into a silent no-op on the UNIQUE key, a 202 with no row of its own
// (issue 12 b).
func TestApplyBatchSeesWhatCommittedWhileItWaited(t *testing.T) {
	ctx := context.Background()
	// Connections for the other writer, the batch and the test's own looks.
	db := servicetest.Store(t, 4, 1, 10)
	other, err := db.DB().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	// The other writer holds concert 1 (as its fast path's UPDATE would).
	if _, err := other.ExecContext(ctx, `UPDATE concerts SET remaining = remaining - 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out store.Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		// The same event twice: the fast path steps aside for the careful one.
		out, err := db.ApplyBatch(ctx, []store.NewReservation{nr("X", 1, 7), nr("X", 1, 7)})
		done <- result{out, err}
	}()
	servicetest.Eventually(t, 10*time.Second, "the batch waits for the concert's lock", func() (bool, error) {
		var n int
		// The processlist shows a user its own threads without PROCESS.
		err := db.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT id, remaining FROM concerts%FOR UPDATE'`)
		return n > 0, err
	})
	if _, err := other.ExecContext(ctx, `INSERT INTO reservations (id, concert_id, member_id, status, created_at, updated_at) VALUES ('Y', 1, 7, 'CONFIRMED', NOW(), NOW())`); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	var rows int
	if err := db.DB().GetContext(ctx, &rows, `SELECT COUNT(*) FROM reservations WHERE id = 'X'`); err != nil {
		t.Fatal(err)
	}
	written := slices.Contains(ids(r.out.Written), "X")
	if written && rows == 0 {
		t.Fatalf("X reported written (%+v) but it has no row", r.out)
	}
	if written || r.out.Reasons["X"] != store.ReasonDuplicate {
		t.Fatalf("outcome %+v, want X failed as the member's second seat", r.out)
	}
	var remaining int64
	if err := db.DB().GetContext(ctx, &remaining, `SELECT remaining FROM concerts WHERE id = 1`); err != nil || remaining != 9 {
		t.Fatalf("remaining %d (%v), want 9: only Y's seat taken", remaining, err)
	}
}

// TestApplyBatchPreparedSizes writes batches of more distinct sizes than
// the prepared statements kept (so some are closed and prepared again), on
// one connection as the writer has, and checks every row.
func TestApplyBatchPreparedSizes(t *testing.T) {
	ctx := context.Background()
	db := servicetest.Store(t, 1, 2, 100_000)
	member, total := int64(0), 0
	for _, size := range []int{64, 65, 100, 200, 300, 400, 500, 600, 700, 800, 64, 2500, 63, 1} {
		batch := make([]store.NewReservation, size)
		for i := range batch {
			member++
			batch[i] = nr(fmt.Sprintf("R%08d", member), member%2+1, member)
		}
		out, err := db.ApplyBatch(ctx, batch)
		if err != nil {
			t.Fatalf("batch of %d: %v", size, err)
		}
		if len(out.Written) != size || len(out.Failed) != 0 {
			t.Fatalf("batch of %d: %d written, %d failed", size, len(out.Written), len(out.Failed))
		}
		total += size
	}
	var rows int
	for c := int64(1); c <= 2; c++ {
		counts, err := db.AuditCounts(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if counts.Duplicates != 0 || counts.Active != counts.Capacity-counts.Remaining {
			t.Fatalf("concert %d: %+v", c, counts)
		}
		rows += int(counts.Active)
	}
	if rows != total {
		t.Fatalf("%d rows, want %d", rows, total)
	}
}
