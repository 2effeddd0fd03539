package app_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/seatmap"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
)

// seatedConfig is a concert of sections A and B, 3 rows of 5 seats each.
func seatedConfig(t *testing.T, members int, hold time.Duration) config.Config {
	cfg := servicetest.Config(t)
	cfg.Sections, cfg.Rows, cfg.SeatsPerRow = 2, 3, 5
	cfg.Members = members
	cfg.HoldTTL = hold
	cfg.Strategies = "async"
	return cfg
}

func (s *system) reserveBody(body string) reply {
	return s.do("POST", "/api/reservations/async", "application/json", []byte(body), nil)
}

func seatsOf(r reply) []string {
	list, _ := r.Body["seats"].([]any)
	var out []string
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// free lists the seats Redis holds free.
func (s *system) free(concert int64) map[string]bool {
	s.t.Helper()
	snap, err := s.stock.Snapshot(context.Background(), concert)
	if err != nil || snap.Seats == nil {
		s.t.Fatalf("snapshot: %v (seats %v)", err, snap.Seats)
	}
	out := map[string]bool{}
	for _, sec := range snap.Seats.Map.Sections {
		for _, r := range sec.Rows {
			for n := 1; n <= r.Seats; n++ {
				if id := seatmap.FormatID(sec.Name, r.Number, n); snap.Seats.Taken[id] == "" {
					if _, taken := snap.Seats.Taken[id]; !taken {
						out[id] = true
					}
				}
			}
		}
	}
	if int64(len(out)) != snap.Remaining {
		s.t.Fatalf("Redis stock %d, %d seats free in its bitmap", snap.Remaining, len(out))
	}
	return out
}

// activeSeats is each seat MySQL gives an active reservation.
func (s *system) activeSeats(concert int64) map[string]string {
	s.t.Helper()
	var rows []struct {
		Seat string `db:"seat_id"`
		ID   string `db:"reservation_id"`
	}
	if err := s.db.DB().Select(&rows, `SELECT seat_id, reservation_id FROM reservation_seats WHERE concert_id = ? AND active = 1`, concert); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Seat] = r.ID
	}
	return out
}

// seatsAgree waits for the writer and checks every seat is free in Redis or
// held by exactly one active reservation in MySQL, and the counts agree.
func (s *system) seatsAgree(concert int64) {
	s.t.Helper()
	servicetest.Eventually(s.t, 30*time.Second, "seats agree", func() (bool, error) {
		a := s.audit(concert)
		active := s.activeSeats(concert)
		free := s.free(concert)
		for seat := range active {
			if free[seat] {
				return false, fmt.Errorf("%s is free in Redis and sold in MySQL", seat)
			}
		}
		ok := a.InFlight == 0 && int64(len(active))+int64(len(free)) == a.Capacity && a.DBRemaining == a.RedisStock &&
			a.Capacity-a.DBRemaining == int64(len(active))
		return ok, fmt.Errorf("%+v, %d active seats, %d free", a, len(active), len(free))
	})
}

func TestSeatsEndToEnd(t *testing.T) {
	s := newSystem(t, seatedConfig(t, 600, time.Minute), true)
	expect := func(r reply, status int, code string, seats ...string) reply {
		t.Helper()
		if r.Status != status || r.code() != code || (seats != nil && !reflect.DeepEqual(seatsOf(r), seats)) {
			t.Fatalf("got %d %q %v, want %d %q %v", r.Status, r.code(), r.Body, status, code, seats)
		}
		return r
	}
	first := expect(s.reserveBody(`{"concertId":1,"memberId":1,"seats":["A-1-1","A-1-2"]}`), 202, "", "A-1-1", "A-1-2").id()
	// The same seats by another member: 409 naming the one taken, nothing held.
	expect(s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-1-3","A-1-2"]}`), 409, "seats_taken", "A-1-2")
	if !s.free(1)["A-1-3"] {
		t.Fatal("a refused hold kept A-1-3")
	}
	// Availability, from Redis (answers are up to 50 ms old).
	servicetest.Eventually(t, 5*time.Second, "GET seats shows the hold", func() (bool, error) {
		r := s.do("GET", "/api/concerts/1/seats", "", nil, nil)
		secs, _ := r.Body["sections"].([]any)
		if r.Status != 200 || len(secs) != 2 || r.Body["free"] != float64(28) || r.Body["capacity"] != float64(30) {
			return false, fmt.Errorf("%d %v", r.Status, r.Body)
		}
		a, _ := secs[0].(map[string]any)
		rows, _ := a["rows"].([]any)
		row1, _ := rows[0].(map[string]any)
		return a["name"] == "A" && a["free"] == float64(13) && row1["free"] == "3-5", fmt.Errorf("section A %v", a)
	})
	if r := s.do("GET", "/api/concerts/99/seats", "", nil, nil); r.Status != 404 {
		t.Fatalf("seats of a concert that does not exist: %d %v", r.Status, r.Body)
	}
	expect(s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-1-01"]}`), 400, "invalid_request")
	expect(s.reserveBody(`{"concertId":1,"memberId":2,"seats":["C-1-1"]}`), 400, "unknown_seat", "C-1-1")
	expect(s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-1-1","A-1-2","A-1-3","A-1-4","A-1-5"]}`), 400, "invalid_request")
	s.waitStatus(first, "HELD", 10*time.Second)
	if got := seatsOf(s.do("GET", "/api/reservations/"+first, "", nil, nil)); !reflect.DeepEqual(got, []string{"A-1-1", "A-1-2"}) {
		t.Fatalf("GET the reservation: seats %v", got)
	}

	// Cancel: exactly those seats come back, once.
	expect(s.transition(first, "cancel"), 200, "")
	s.waitStatus(first, "CANCELLED", 10*time.Second)
	s.seatsAgree(1)
	expect(s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-1-2","A-1-3"]}`), 202, "", "A-1-2", "A-1-3")

	// Best available, then confirmed: sold for good.
	third := expect(s.reserveBody(`{"concertId":1,"memberId":3,"section":"B","count":2,"adjacent":true}`), 202, "", "B-1-1", "B-1-2").id()
	s.waitStatus(third, "HELD", 10*time.Second)
	expect(s.transition(third, "confirm"), 200, "")
	s.waitStatus(third, "CONFIRMED", 10*time.Second)
	expect(s.reserveBody(`{"concertId":1,"memberId":4,"seats":["B-1-2"]}`), 409, "seats_taken", "B-1-2")
	// No request form: the best single seat.
	expect(s.reserveBody(`{"concertId":1,"memberId":4}`), 202, "", "A-1-1")
	s.seatsAgree(1)
	if got := s.activeSeats(1); got["B-1-1"] != third || got["B-1-2"] != third || len(got) != 5 {
		t.Fatalf("MySQL's seats: %v", got)
	}

	// 500 members at once for one seat: one 202, the rest 409, in bounded time.
	start := time.Now()
	replies := concurrently(500, func(i int) reply {
		return s.reserveBody(fmt.Sprintf(`{"concertId":1,"memberId":%d,"seats":["B-3-5"]}`, 100+i))
	})
	took := time.Since(start)
	if got := tally(replies); got["202 "] != 1 || got["409 seats_taken"] != 499 {
		t.Fatalf("500 for one seat: %v", got)
	}
	t.Logf("500 concurrent requests for one seat answered in %s (one 202, 499 409)", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Fatalf("500 requests for one seat took %s", took)
	}
	s.seatsAgree(1)
}

func TestSeatsExpire(t *testing.T) {
	s := newSystem(t, seatedConfig(t, 10, 2*time.Second), true)
	r := s.reserveBody(`{"concertId":1,"memberId":1,"section":"A","count":3}`)
	if r.Status != 202 || !reflect.DeepEqual(seatsOf(r), []string{"A-1-1", "A-1-2", "A-1-3"}) {
		t.Fatalf("hold: %+v", r)
	}
	s.waitStatus(r.id(), "EXPIRED", 30*time.Second)
	s.seatsAgree(1)
	if free := s.free(1); !free["A-1-1"] || !free["A-1-2"] || !free["A-1-3"] || len(free) != 30 {
		t.Fatalf("after the expiry: %d free", len(free))
	}
}

// Redis that lost its state sells a seat MySQL has sold: the database's
// unique key refuses it, the reservation fails, and its other seat returns
// while the sold one stays taken.
func TestSeatsMySQLGuard(t *testing.T) {
	s := newSystem(t, seatedConfig(t, 10, 0), true)
	ctx := context.Background()
	sold := s.reserveBody(`{"concertId":1,"memberId":1,"seats":["A-2-2"]}`)
	if sold.Status != 202 {
		t.Fatalf("hold: %+v", sold)
	}
	s.waitStatus(sold.id(), "CONFIRMED", 10*time.Second)

	m, _, err := s.db.SeatMap(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Redis forgets everything: every seat free again.
	if err := s.stock.Load(ctx, stock.Loading{Concert: 1, Remaining: int64(m.Capacity()), Epoch: "lost", Reset: true,
		Seats: &stock.SeatLoading{Map: m, Taken: map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	again := s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-2-2","A-2-3"]}`)
	if again.Status != 202 {
		t.Fatalf("re-admission after the loss: %+v", again)
	}
	s.waitStatus(again.id(), "FAILED", 10*time.Second)
	if got := s.activeSeats(1); len(got) != 1 || got["A-2-2"] != sold.id() {
		t.Fatalf("MySQL's seats: %v", got)
	}
	servicetest.Eventually(t, 10*time.Second, "the failure settles", func() (bool, error) {
		free := s.free(1)
		return free["A-2-3"] && !free["A-2-2"] && len(free) == m.Capacity()-1, fmt.Errorf("%d free, A-2-3 %v, A-2-2 %v", len(free), free["A-2-3"], free["A-2-2"])
	})
	// The member may try again.
	if r := s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-2-3"]}`); r.Status != 202 {
		t.Fatalf("member 2 again: %+v", r)
	}
	s.seatsAgree(1)
}

// Reconcile knows seats: a sold seat that Redis lost (free again there) is
// reported, and --fix rebuilds the seats from MySQL and what is in flight.
func TestSeatsReconcile(t *testing.T) {
	cfg := seatedConfig(t, 10, time.Minute)
	cfg.FixWait = 20 * time.Second
	s := newSystem(t, cfg, true)
	ctx := context.Background()
	r := s.reserveBody(`{"concertId":1,"memberId":1,"seats":["A-1-1","A-1-2"]}`)
	if r.Status != 202 {
		t.Fatalf("hold: %+v", r)
	}
	s.waitStatus(r.id(), "HELD", 10*time.Second)
	if rep, err := runReconcile(t, cfg, false); err != nil || !rep.OK() {
		t.Fatalf("check before: %+v %v", rep, err)
	}
	// Redis forgets that A-1-2 is sold (the stock and the bitmap alike).
	m, _, err := s.db.SeatMap(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	deployment, err := s.db.Deployment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.stock.Load(ctx, stock.Loading{Concert: 1, Remaining: int64(m.Capacity() - 1), Holders: []int64{1}, Epoch: stock.NewEpoch(deployment, time.Now()),
		Seats: &stock.SeatLoading{Map: m, Taken: map[string]string{"A-1-1": r.id()}}}); err != nil {
		t.Fatal(err)
	}
	rep, err := runReconcile(t, cfg, false)
	if err == nil || len(rep.Concerts) != 1 || !rep.Concerts[0].Has(reconcile.SeatDiffs) {
		t.Fatalf("check after the loss: %+v %v, want seats", rep, err)
	}
	rep, err = runReconcile(t, cfg, true)
	if err != nil || !rep.OK() {
		t.Fatalf("fix: %+v %v", rep, err)
	}
	if got := s.reserveBody(`{"concertId":1,"memberId":2,"seats":["A-1-2"]}`); got.Status != 409 || got.code() != "seats_taken" {
		t.Fatalf("the sold seat after the fix: %+v", got)
	}
	// Its owner can still cancel it, and gets exactly its two seats back.
	if got := s.transition(r.id(), "cancel"); got.Status != 200 {
		t.Fatalf("cancel: %+v", got)
	}
	s.waitStatus(r.id(), "CANCELLED", 10*time.Second)
	s.seatsAgree(1)
	if free := s.free(1); !free["A-1-1"] || !free["A-1-2"] || len(free) != m.Capacity() {
		t.Fatalf("after the cancel: %d free", len(free))
	}
}
