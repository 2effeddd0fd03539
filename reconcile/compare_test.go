package reconcile_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/seatmap"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const grace = 30 * time.Second

// inFlight is a record admitted at `at` for member m.
func inFlight(id string, m int64, at time.Time) (stock.InFlight, time.Time) {
	ev := event.Event{V: event.Version, Type: event.Requested, ID: id, ConcertID: 1, MemberID: m, At: at}
	return stock.InFlight{ID: id, State: stock.Acked, Payload: ev.Encode()}, at
}

// agreeing is a concert of 10 seats, 3 of them rows (members 1..3, one of
// them HELD), one more in flight (member 4), and Redis in step.
func agreeing() (store.ConcertState, stock.Snapshot) {
	due := now.Add(time.Minute)
	db := store.ConcertState{ID: 1, Capacity: 10, Remaining: 7, Active: 3, Holders: []int64{1, 2, 3},
		Held: []store.Held{{ID: "H1", MemberID: 1, ExpiresAt: due}}}
	rec, at := inFlight("F4", 4, now.Add(-time.Second))
	rs := stock.Snapshot{Loaded: true, Remaining: 6, Epoch: stock.NewEpoch("db", now), Members: []int64{1, 2, 3, 4},
		Holds: []stock.Hold{{ID: "H1", MemberID: 1, ExpiresAt: due}}, InFlight: []stock.InFlight{rec}, InFlightAt: map[string]time.Time{"F4": at}}
	return db, rs
}

func TestCompare(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*store.ConcertState, *stock.Snapshot)
		kinds []string
	}{
		{"agree", func(*store.ConcertState, *stock.Snapshot) {}, nil},
		{"no marker", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Epoch = "" }, []string{reconcile.NotLoaded}},
		{"nothing in Redis", func(_ *store.ConcertState, rs *stock.Snapshot) { *rs = stock.Snapshot{} }, []string{reconcile.NotLoaded, reconcile.StaleHolds}},
		{"another database's marker", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Epoch = stock.NewEpoch("other", now) }, []string{reconcile.OtherDatabase}},
		{"Redis admits more than the database has room for", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Remaining = 8 }, []string{reconcile.Oversold}},
		{"more rows than seats", func(db *store.ConcertState, _ *stock.Snapshot) { db.Active, db.Capacity, db.Remaining = 12, 10, -2 }, []string{reconcile.Oversold, reconcile.Oversold}},
		{"seats taken in Redis with nothing to show", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Remaining = 4 }, []string{reconcile.Leaked}},
		{"the database's count disagrees with its rows", func(db *store.ConcertState, rs *stock.Snapshot) { db.Remaining, rs.Remaining = 8, 7 }, []string{reconcile.MissingRows}},
		{"an in-flight record past the grace", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.InFlightAt["F4"] = now.Add(-time.Minute) }, []string{reconcile.Orphans}},
		{"a HELD row Redis can neither expire nor confirm", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Holds = nil }, []string{reconcile.StaleHolds}},
		{"a decided hold is not stale", func(_ *store.ConcertState, rs *stock.Snapshot) {
			rs.Holds = nil
			rs.Decided = []stock.Decided{{ID: "H1", MemberID: 1, Decision: event.Confirm}}
		}, nil},
		{"a hold with no reservation", func(_ *store.ConcertState, rs *stock.Snapshot) {
			rs.Holds = append(rs.Holds, stock.Hold{ID: "X", MemberID: 9, ExpiresAt: now})
		}, []string{reconcile.StaleHolds}},
		{"a member recorded without a seat", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Members = append(rs.Members, 9) }, []string{reconcile.Members}},
		{"a member with a seat not recorded", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Members = rs.Members[1:] }, []string{reconcile.Members}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, rs := agreeing()
			tc.edit(&db, &rs)
			c := reconcile.Compare(db, rs, map[string]bool{}, "db", now, grace)
			var got []string
			for _, d := range c.Differences {
				got = append(got, d.Kind)
			}
			if len(got) != len(tc.kinds) {
				t.Fatalf("differences %+v, want kinds %v", c.Differences, tc.kinds)
			}
			for i := range got {
				if got[i] != tc.kinds[i] {
					t.Fatalf("differences %+v, want kinds %v", c.Differences, tc.kinds)
				}
			}
		})
	}
}

// An in-flight record whose row is written already counts as the row, not
// as a second seat.
func TestCompareWrittenInFlight(t *testing.T) {
	db, rs := agreeing()
	db.Remaining, db.Active, db.Holders = 6, 4, []int64{1, 2, 3, 4}
	c := reconcile.Compare(db, rs, map[string]bool{"F4": true}, "db", now, grace)
	if !c.OK() || c.InFlight != 0 {
		t.Fatalf("%+v", c)
	}
}

// agreeingSeated is a seated concert of one row of 5: R1 holds A-1-1 and
// A-1-2 (written), F2 holds A-1-3 (in flight), Redis in step.
func agreeingSeated(t *testing.T) (store.ConcertState, stock.Snapshot) {
	m, err := seatmap.Generate(1, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	db := store.ConcertState{ID: 1, Capacity: 5, Remaining: 3, Active: 1, Holders: []int64{1},
		SeatMap: &m, Seats: map[string]string{"A-1-1": "R1", "A-1-2": "R1"}, ActiveSeats: 2}
	ev := event.Event{V: event.Version, Type: event.Requested, ID: "F2", ConcertID: 1, MemberID: 2, At: now, Seats: []string{"A-1-3"}}
	rs := stock.Snapshot{Loaded: true, Remaining: 2, Epoch: stock.NewEpoch("db", now) + "/s", Members: []int64{1, 2},
		InFlight: []stock.InFlight{{ID: "F2", State: stock.Acked, Payload: ev.Encode()}}, InFlightAt: map[string]time.Time{"F2": now},
		Seats: &stock.SeatSnapshot{Map: m, Taken: map[string]string{"A-1-1": "R1", "A-1-2": "R1", "A-1-3": "F2"}}}
	return db, rs
}

func TestCompareSeats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*store.ConcertState, *stock.Snapshot)
		kinds []string
	}{
		{"agree", func(*store.ConcertState, *stock.Snapshot) {}, nil},
		{"a sold seat free in Redis", func(_ *store.ConcertState, rs *stock.Snapshot) {
			delete(rs.Seats.Taken, "A-1-2")
			rs.Remaining = 3
		}, []string{reconcile.Oversold, reconcile.SeatDiffs}},
		{"a seat taken in Redis for nobody", func(_ *store.ConcertState, rs *stock.Snapshot) {
			rs.Seats.Taken["A-1-5"] = ""
			rs.Remaining = 1
		}, []string{reconcile.Leaked, reconcile.SeatDiffs}},
		{"a seat held by another reservation", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Seats.Taken["A-1-2"] = "X" }, []string{reconcile.SeatDiffs}},
		{"counts of seats, not rows", func(db *store.ConcertState, _ *stock.Snapshot) { db.ActiveSeats = 1 }, []string{reconcile.MissingRows}},
		{"a map in the database only", func(_ *store.ConcertState, rs *stock.Snapshot) { rs.Seats = nil }, []string{reconcile.SeatDiffs}},
		{"a bitmap that disagrees with the stock", func(_ *store.ConcertState, rs *stock.Snapshot) {
			rs.Seats.Taken["A-1-5"] = "R1"
		}, []string{reconcile.SeatDiffs, reconcile.SeatDiffs}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, rs := agreeingSeated(t)
			tc.edit(&db, &rs)
			c := reconcile.Compare(db, rs, map[string]bool{}, "db", now, grace)
			var got []string
			for _, d := range c.Differences {
				got = append(got, d.Kind)
			}
			if !slices.Equal(got, tc.kinds) {
				t.Fatalf("differences %+v, want kinds %v", c.Differences, tc.kinds)
			}
		})
	}
}

// Plan rebuilds the seats from the database and the in-flight records.
func TestPlanSeats(t *testing.T) {
	db, rs := agreeingSeated(t)
	rs.Seats, rs.Remaining = nil, 0
	l := reconcile.Sides{DB: db, Redis: rs, Written: map[string]bool{}}.Plan()
	if l.Seats == nil || l.Remaining != 2 || !maps.Equal(l.Seats.Taken, map[string]string{"A-1-1": "R1", "A-1-2": "R1", "A-1-3": "F2"}) {
		t.Fatalf("plan %+v seats %+v", l, l.Seats)
	}
}
