package store_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/store"
)

// inserts are the fast path's two ways to insert its rows (a prepared
// INSERT, LOAD DATA LOCAL): the tests of ApplyBatch run with each.
var inserts = []struct {
	name string
	load bool
}{{"insert", false}, {"load data", true}}

// useInsert switches db's fast path to LOAD DATA LOCAL when load is set.
func useInsert(t *testing.T, db *store.Store, load bool) {
	t.Helper()
	if !load {
		return
	}
	on, err := db.UseLoadData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !on {
		if os.Getenv("BOX_STANDINS") != "" {
			// go-mysql-server has no LOAD DATA LOCAL; the writer keeps
			// the INSERT there (UseLoadData says off), which the other
			// half of each test runs. The real MariaDB runs this half.
			t.Skip("the dev stand-in's MySQL has no LOAD DATA LOCAL: the INSERT half of this test runs")
		}
		t.Fatal("the server has local_infile off (docker-compose.yml starts MySQL with --local-infile=ON)")
	}
}

// With LOCAL the server turns what the INSERT refused into warnings; each
// refusal must still send the batch to the careful path and end as it does
// with the INSERT.
func TestFastPathRefusalsWithEachInsert(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name          string
		capacity      int
		before, batch []store.NewReservation
		wantWritten   []string
		wantFailed    []string
		wantReason    string
		wantErr       bool
		wantRemaining int64
		wantRows      int
	}{
		{name: "all fit", capacity: 5, batch: []store.NewReservation{nr("A", 1, 1), nr("B", 1, 2)},
			wantWritten: []string{"A", "B"}, wantFailed: []string{}, wantRemaining: 3, wantRows: 2},
		{name: "a redelivered id (primary key)", capacity: 5, before: []store.NewReservation{nr("A", 1, 1)},
			batch: []store.NewReservation{nr("A", 1, 1), nr("B", 1, 2)}, wantWritten: []string{"A", "B"}, wantFailed: []string{}, wantRemaining: 3, wantRows: 2},
		{name: "a member's second seat (unique key)", capacity: 5, before: []store.NewReservation{nr("A", 1, 1)},
			batch: []store.NewReservation{nr("B", 1, 1), nr("C", 1, 2)}, wantWritten: []string{"C"}, wantFailed: []string{"B"}, wantReason: store.ReasonDuplicate, wantRemaining: 3, wantRows: 3},
		{name: "more than capacity (check constraint)", capacity: 2, before: []store.NewReservation{nr("A", 1, 1)},
			batch: []store.NewReservation{nr("B", 1, 2), nr("C", 1, 3)}, wantWritten: []string{"B"}, wantFailed: []string{"C"}, wantReason: store.ReasonNoSeat, wantRemaining: 0, wantRows: 3},
		// Strict mode refuses it in the INSERT; LOAD DATA would cut it to
		// 26 characters with a warning.
		{name: "a value that does not fit (an id of 27 characters)", capacity: 5,
			batch: []store.NewReservation{nr(strings.Repeat("Z", 27), 1, 1)}, wantErr: true, wantRemaining: 5},
	}
	for _, ins := range inserts {
		for _, c := range cases {
			t.Run(ins.name+"/"+c.name, func(t *testing.T) {
				db := newStore(t, 1, c.capacity)
				useInsert(t, db, ins.load)
				loadsBefore := loads(t, db)
				if len(c.before) > 0 {
					if out, err := db.ApplyBatch(ctx, c.before); err != nil || len(out.Written) != len(c.before) {
						t.Fatalf("before: %+v %v", out, err)
					}
				}
				out, err := db.ApplyBatch(ctx, c.batch)
				if c.wantErr {
					if err == nil {
						t.Fatalf("no error; outcome %+v", out)
					}
				} else {
					if err != nil {
						t.Fatal(err)
					}
					if got := ids(out.Written); !equal(got, c.wantWritten) {
						t.Fatalf("written %v, want %v", got, c.wantWritten)
					}
					if got := ids(out.Failed); !equal(got, c.wantFailed) {
						t.Fatalf("failed %v, want %v", got, c.wantFailed)
					}
					if c.wantReason != "" && out.Reasons[c.wantFailed[0]] != c.wantReason {
						t.Fatalf("reason %q, want %q", out.Reasons[c.wantFailed[0]], c.wantReason)
					}
				}
				got, err := db.Concert(ctx, 1)
				if err != nil {
					t.Fatal(err)
				}
				if got.Remaining != c.wantRemaining {
					t.Fatalf("remaining %d, want %d", got.Remaining, c.wantRemaining)
				}
				var rows int
				if err := db.DB().GetContext(ctx, &rows, `SELECT COUNT(*) FROM reservations`); err != nil {
					t.Fatal(err)
				}
				if rows != c.wantRows {
					t.Fatalf("%d rows, want %d", rows, c.wantRows)
				}
				if n := loads(t, db) - loadsBefore; ins.load && n == 0 {
					t.Fatal("the fast path never ran LOAD DATA")
				}
			})
		}
	}
}

// loads is the server's count of LOAD DATA statements so far (every
// session's: a test only looks for a rise).
func loads(t *testing.T, db *store.Store) int64 {
	t.Helper()
	var name string
	var n int64
	if err := db.DB().QueryRowContext(context.Background(), `SHOW GLOBAL STATUS LIKE 'Com_load'`).Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// LOAD DATA writes the rows the INSERT wrote: the same status, times and
// NULLs, and an id with the characters its text format gives a meaning.
func TestLoadDataWritesWhatTheInsertWrote(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2026, 5, 1, 12, 30, 45, 123456789, time.FixedZone("CEST", 2*3600))
	expires := created.Add(5 * time.Minute)
	batch := []store.NewReservation{
		{ID: "01HOLD0000000000000000000A", ConcertID: 1, MemberID: 1, CreatedAt: created, ExpiresAt: &expires},
		{ID: "01SOLD0000000000000000000B", ConcertID: 1, MemberID: 2, CreatedAt: created},
		{ID: "tab\there\\back\nline", ConcertID: 1, MemberID: 3, CreatedAt: created},
	}
	rows := map[bool][]store.Reservation{}
	for _, ins := range inserts {
		db := newStore(t, 1, 10)
		useInsert(t, db, ins.load)
		out, err := db.ApplyBatch(ctx, batch)
		if err != nil || len(out.Written) != len(batch) {
			t.Fatalf("%s: %+v %v", ins.name, out, err)
		}
		for _, r := range batch {
			got, err := db.Reservation(ctx, r.ID)
			if err != nil {
				t.Fatalf("%s: %q: %v", ins.name, r.ID, err)
			}
			got.UpdatedAt = time.Time{} // the time of the write
			rows[ins.load] = append(rows[ins.load], got)
		}
	}
	for i := range batch {
		ins, load := rows[false][i], rows[true][i]
		if ins.ID != load.ID || ins.Status != load.Status || !ins.CreatedAt.Equal(load.CreatedAt) || ins.ExpiresAt != load.ExpiresAt || ins.Reason != load.Reason {
			t.Errorf("row %d: inserted %+v, loaded %+v", i, ins, load)
		}
	}
	if rows[true][0].Status != boxoffice.StatusHeld || rows[true][1].Status != boxoffice.StatusConfirmed || rows[true][1].ExpiresAt.Valid {
		t.Errorf("loaded %+v", rows[true])
	}
}
