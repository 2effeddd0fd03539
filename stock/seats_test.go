package stock_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/seatmap"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
)

// testMap: section A of rows 1-3 of 5 seats, section B of one row of 5.
const testMap = `
sections:
  - name: A
    tier: R
    rows: [{seats: 5}, {seats: 5}, {seats: 5}]
  - name: B
    tier: S
    rows: [{row: 1, seats: 5}]
tiers: {R: 150000, S: 90000}
`

type seated struct {
	st     *stock.Store
	rdb    *redis.Client
	prefix string
	m      seatmap.Map
}

// newSeated loads concert 1 with testMap, the seats of taken already taken
// (by reservation "old").
func newSeated(t *testing.T, taken ...string) seated {
	t.Helper()
	cfg := servicetest.Config(t)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	st := stock.New(rdb, cfg.RedisPrefix, 2*time.Second)
	m, err := seatmap.Parse([]byte(testMap))
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, s := range taken {
		owners[s] = "old"
	}
	if err := st.Load(context.Background(), stock.Loading{Concert: 1, Remaining: int64(m.Capacity() - len(taken)), Epoch: "test", Reset: true,
		Seats: &stock.SeatLoading{Map: m, Taken: owners}}); err != nil {
		t.Fatal(err)
	}
	return seated{st: st, rdb: rdb, prefix: cfg.RedisPrefix, m: m}
}

func seatRes(id string, member int64) stock.Reservation {
	now := time.Now().UTC()
	ev := event.Event{V: event.Version, Type: event.Requested, ID: id, ConcertID: 1, MemberID: member, At: now}
	return stock.Reservation{ID: id, ConcertID: 1, MemberID: member, Payload: ev.Encode(), Now: now}
}

func named(id string, member int64, seats ...string) stock.Reservation {
	r := seatRes(id, member)
	r.Seats = seats
	return r
}

func best(id string, member int64, section string, count int, adjacent bool) stock.Reservation {
	r := seatRes(id, member)
	r.Section, r.Count, r.Adjacent = section, count, adjacent
	return r
}

// free lists the free seats, in map order.
func (s seated) free(t *testing.T) []string {
	t.Helper()
	snap, err := s.st.Snapshot(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range s.m.Capacity() {
		id, _ := s.m.ID(i)
		if _, taken := snap.Seats.Taken[id]; !taken {
			out = append(out, id)
		}
	}
	if snap.Remaining != int64(len(out)) {
		t.Fatalf("stock %d but %d free seats in the bitmap", snap.Remaining, len(out))
	}
	return out
}

func TestHoldNamedSeatsAllOrNone(t *testing.T) {
	ctx := context.Background()
	s := newSeated(t)
	adm, err := s.st.Reserve(ctx, named("R1", 1, "A-1-1", "A-1-2"))
	if err != nil || !reflect.DeepEqual(adm.Seats, []string{"A-1-1", "A-1-2"}) {
		t.Fatalf("hold: %+v, %v", adm, err)
	}
	ev, err := event.Decode(adm.Payload)
	if err != nil || !reflect.DeepEqual(ev.Seats, adm.Seats) {
		t.Fatalf("the stored event %s carries %v (%v), want its seats", adm.Payload, ev.Seats, err)
	}
	// One of two taken: none held, and the taken one named.
	_, err = s.st.Reserve(ctx, named("R2", 2, "A-1-3", "A-1-2"))
	var se *boxoffice.SeatsError
	if !errors.As(err, &se) || !errors.Is(err, boxoffice.ErrSeatsTaken) || !reflect.DeepEqual(se.Seats, []string{"A-1-2"}) {
		t.Fatalf("overlapping hold: %v, want seats_taken naming A-1-2", err)
	}
	if free := s.free(t); slices.Contains(free, "A-1-2") || !slices.Contains(free, "A-1-3") || len(free) != 18 {
		t.Fatalf("after the refused hold the free seats are %v", free)
	}
	// The same reservation id again takes nothing and names its seats.
	adm, err = s.st.Reserve(ctx, named("R1", 1, "B-1-1"))
	if err != nil || !adm.Replay || !reflect.DeepEqual(adm.Seats, []string{"A-1-1", "A-1-2"}) {
		t.Fatalf("replay: %+v, %v", adm, err)
	}
	if n := len(s.free(t)); n != 18 {
		t.Fatalf("a replay took seats: %d free", n)
	}
	for _, c := range []struct {
		r    stock.Reservation
		want string
	}{
		{named("R3", 3, "A-4-1"), "unknown_seat"},
		{named("R3", 3, "A-1-6"), "unknown_seat"},
		{named("R3", 3, "C-1-1"), "unknown_seat"},
		{best("R3", 3, "C", 1, true), "unknown_seat"},
		{named("R3", 1, "B-1-1"), "already_reserved"},
	} {
		if _, err := s.st.Reserve(ctx, c.r); stock.Answer(stock.Admission{}, err) != c.want {
			t.Errorf("%+v: %v, want %s", c.r.Seats, err, c.want)
		}
	}
}

func TestBestAvailable(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		taken    []string
		section  string
		count    int
		adjacent bool
		want     []string
		wantErr  string
	}{
		{"lowest row, leftmost", nil, "A", 2, true, []string{"A-1-1", "A-1-2"}, ""},
		{"the first run that fits", []string{"A-1-2", "A-1-5"}, "A", 2, true, []string{"A-1-3", "A-1-4"}, ""},
		{"next row when none fits", []string{"A-1-2", "A-1-4"}, "A", 2, true, []string{"A-2-1", "A-2-2"}, ""},
		{"never across rows", []string{"A-1-1", "A-1-2", "A-1-3", "A-2-3"}, "A", 3, true, []string{"A-3-1", "A-3-2", "A-3-3"}, ""},
		{"a whole row", []string{"A-1-1"}, "A", 4, true, []string{"A-1-2", "A-1-3", "A-1-4", "A-1-5"}, ""},
		{"not adjacent: the first free", []string{"A-1-2", "A-1-4"}, "A", 3, false, []string{"A-1-1", "A-1-3", "A-1-5"}, ""},
		{"not adjacent across rows", []string{"A-1-1", "A-1-2", "A-1-3", "A-1-4"}, "A", 2, false, []string{"A-1-5", "A-2-1"}, ""},
		{"another section", nil, "B", 2, true, []string{"B-1-1", "B-1-2"}, ""},
		{"any section: the first in map order", []string{"A-1-1"}, "", 1, true, []string{"A-1-2"}, ""},
		{"any section: on to the next", rowsOf("A", 3), "", 2, true, []string{"B-1-1", "B-1-2"}, ""},
		{"no run that long", []string{"A-1-3", "A-2-3", "A-3-3"}, "A", 3, true, nil, "seats_unavailable"},
		{"section full", rowsOf("A", 3), "A", 1, true, nil, "seats_unavailable"},
		{"fewer free than asked", append(rowsOf("A", 3), "B-1-1", "B-1-2", "B-1-3", "B-1-4"), "", 2, false, nil, "seats_unavailable"},
		{"sold out", append(rowsOf("A", 3), "B-1-1", "B-1-2", "B-1-3", "B-1-4", "B-1-5"), "", 1, true, nil, "sold_out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSeated(t, c.taken...)
			before := s.free(t)
			adm, err := s.st.Reserve(ctx, best("R1", 1, c.section, c.count, c.adjacent))
			if c.wantErr != "" {
				if got := stock.Answer(adm, err); got != c.wantErr {
					t.Fatalf("got %s (%v), want %s", got, err, c.wantErr)
				}
				if after := s.free(t); !slices.Equal(after, before) {
					t.Fatalf("a refusal changed the free seats: %v → %v", before, after)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(adm.Seats, c.want) {
				t.Fatalf("got %v, %v; want %v", adm.Seats, err, c.want)
			}
			after := s.free(t)
			for _, seat := range c.want {
				if slices.Contains(after, seat) {
					t.Errorf("%s held but still free", seat)
				}
			}
			if len(after) != len(before)-c.count {
				t.Errorf("%d free after, %d before, %d held", len(after), len(before), c.count)
			}
		})
	}
}

// rowsOf lists every seat of rows 1..rows of a 5-seat-row section.
func rowsOf(section string, rows int) []string {
	var out []string
	for r := 1; r <= rows; r++ {
		for n := 1; n <= 5; n++ {
			out = append(out, seatmap.FormatID(section, r, n))
		}
	}
	return out
}

func TestSeatsGoBackExactlyOnce(t *testing.T) {
	ctx := context.Background()
	s := newSeated(t)
	for _, r := range []stock.Reservation{named("R1", 1, "A-1-1", "A-1-2"), named("R2", 2, "A-1-3", "A-1-4"), named("R3", 3, "B-1-1"), named("R4", 4, "B-1-2", "B-1-3")} {
		r.ExpiresAt = time.Now().Add(time.Hour)
		if _, err := s.st.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// Undo (the broker did not take R1's event): its two seats, once.
	for range 2 {
		if _, err := s.st.Release(ctx, named("R1", 1, "B-1-5")); err != nil {
			t.Fatal(err)
		}
	}
	free := s.free(t)
	if !slices.Contains(free, "A-1-1") || !slices.Contains(free, "A-1-2") || len(free) != 15 {
		t.Fatalf("after the undo (7 seats held, R1's 2 back): %v", free)
	}
	// A failure whose seat A-1-3 the database gave to another: A-1-4 goes
	// back, A-1-3 stays taken.
	for range 2 {
		if _, err := s.st.Fail(ctx, 1, []stock.Seat{{ID: "R2", MemberID: 2, Keep: []string{"A-1-3"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if free = s.free(t); slices.Contains(free, "A-1-3") || !slices.Contains(free, "A-1-4") || len(free) != 16 {
		t.Fatalf("after the failure: %v", free)
	}
	// A cancel, settled twice: its seat once.
	if d, held, err := s.st.Decide(ctx, 1, "R3", 3, event.Cancel, time.Now().Add(time.Minute)); err != nil || !held || d != event.Cancel {
		t.Fatalf("decide: %v %v %v", d, held, err)
	}
	for range 2 {
		if _, err := s.st.Settle(ctx, 1, []stock.Settlement{{ID: "R3", MemberID: 3, ReturnSeat: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if free = s.free(t); !slices.Contains(free, "B-1-1") || len(free) != 17 {
		t.Fatalf("after the cancel: %v", free)
	}
	// An expiry: its seats.
	due, err := s.st.ExpireDue(ctx, 1, time.Now().Add(2*time.Hour), 10, time.Now().Add(3*time.Hour))
	if err != nil || len(due) != 1 || due[0].ID != "R4" {
		t.Fatalf("expire: %v %v", due, err)
	}
	if n, err := s.st.Settle(ctx, 1, []stock.Settlement{{ID: "R4", MemberID: 4, ReturnSeat: true}}); err != nil || n != 2 {
		t.Fatalf("settle the expiry: %d seats, %v; want 2", n, err)
	}
	if free = s.free(t); len(free) != 19 || slices.Contains(free, "A-1-3") {
		t.Fatalf("after the expiry %d free, want 19 (all but the kept A-1-3): %v", len(free), free)
	}
}

// A release gives back only seats its reservation still owns, never ones
// another holds, whatever its own record lists.
func TestReleaseChecksTheOwner(t *testing.T) {
	ctx := context.Background()
	s := newSeated(t)
	if _, err := s.st.Reserve(ctx, named("R1", 1, "A-1-1")); err != nil {
		t.Fatal(err)
	}
	tag := s.prefix + ":{c1}:"
	// A decided reservation R9 whose record (wrongly) lists R1's seat.
	if err := s.rdb.HSet(ctx, tag+"seat:res", "R9", "A-1-1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, tag+"decided", "R9", "X|9").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.st.Settle(ctx, 1, []stock.Settlement{{ID: "R9", MemberID: 9, ReturnSeat: true}}); err != nil || n != 0 {
		t.Fatalf("settle: %d seats back, %v; want 0", n, err)
	}
	if free := s.free(t); slices.Contains(free, "A-1-1") {
		t.Fatal("R9's settle freed R1's seat")
	}
}

func TestSeatedConcertRequests(t *testing.T) {
	ctx := context.Background()
	s := newSeated(t)
	// Without seats: the best single seat.
	adm, err := s.st.Reserve(ctx, seatRes("R1", 1))
	if err != nil || !reflect.DeepEqual(adm.Seats, []string{"A-1-1"}) {
		t.Fatalf("a request without seats on a seated concert: %+v, %v", adm, err)
	}
	rec, _, err := s.st.State(ctx, "R1")
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := event.Decode(rec.Payload); err != nil || !reflect.DeepEqual(ev.Seats, []string{"A-1-1"}) {
		t.Fatalf("its in-flight event carries %v (%v)", ev.Seats, err)
	}
	// The same concert loaded again as general admission: the store forgets
	// it was seated.
	if err := s.st.Load(ctx, stock.Loading{Concert: 1, Remaining: 5, Epoch: "ga", Reset: true}); err != nil {
		t.Fatal(err)
	}
	r1 := seatRes("R2", 2)
	if adm, err := s.st.Reserve(ctx, r1); err != nil || adm.Seats != nil {
		t.Fatalf("general admission again: %+v, %v", adm, err)
	}
	if n, _, _ := s.st.Remaining(ctx, 1); n != 4 {
		t.Fatalf("general admission again: stock %d, want 4", n)
	}
	// Seats named for a general-admission concert.
	ga := newStore(t, 10)
	r := named("G1", 1, "A-1-1")
	r.Payload = []byte(`{}`)
	if _, err := ga.Reserve(ctx, r); !errors.Is(err, boxoffice.ErrNotSeated) {
		t.Fatalf("seats on a GA concert: %v, want ErrNotSeated", err)
	}
	if n := remaining(t, ga); n != 10 {
		t.Fatalf("GA stock %d after the refusal", n)
	}
}

// Hundreds of members at once for one seat: exactly one holds it.
func TestOneSeatManyAtOnce(t *testing.T) {
	ctx := context.Background()
	s := newSeated(t)
	const n = 200
	var wg sync.WaitGroup
	answers := make([]string, n)
	for i := range n {
		wg.Go(func() {
			adm, err := s.st.Reserve(ctx, named(fmt.Sprintf("R%d", i), int64(i+1), "A-2-3"))
			answers[i] = stock.Answer(adm, err)
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, a := range answers {
		count[a]++
	}
	if count["accepted"] != 1 || count["seats_taken"] != n-1 {
		t.Fatalf("answers %v, want 1 accepted and %d seats_taken", count, n-1)
	}
	if free := s.free(t); len(free) != 19 || slices.Contains(free, "A-2-3") {
		t.Fatalf("free after: %v", free)
	}
}

// The seeds' design serialises the requests for one seat with a distributed
// lock per seat (about 50 ms a holder: 25 s for 500). The same load here
// against hold.lua alone, and against the Redisson-style lock (the distlock
// strategy's) around the same hold: with one seat wanted, a lock per seat
// and this lock per concert queue the same requests. The figures go in the
// README (Benchmark: numbered seats); both must sell the seat exactly once.
func TestOneSeatScriptVersusLock(t *testing.T) {
	ctx := context.Background()
	const n = 500
	run := func(s seated, take func(i int) string) (time.Duration, map[string]int) {
		var wg sync.WaitGroup
		answers := make([]string, n)
		start := time.Now()
		for i := range n {
			wg.Go(func() { answers[i] = take(i) })
		}
		wg.Wait()
		count := map[string]int{}
		for _, a := range answers {
			count[a]++
		}
		return time.Since(start), count
	}
	s := newSeated(t)
	script, got := run(s, func(i int) string {
		adm, err := s.st.Reserve(ctx, named(fmt.Sprintf("S%d", i), int64(i+1), "A-2-3"))
		return stock.Answer(adm, err)
	})
	if got["accepted"] != 1 || got["seats_taken"] != n-1 {
		t.Fatalf("script: %v", got)
	}
	s = newSeated(t)
	locker, err := s.st.NewLocker(ctx, stock.LockOptions{Lease: 5 * time.Second, Wait: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	locked, got := run(s, func(i int) string {
		lease, err := locker.Lock(ctx, 1)
		if err != nil {
			return "lock: " + err.Error()
		}
		defer lease.Unlock(context.Background())
		adm, err := s.st.Reserve(ctx, named(fmt.Sprintf("L%d", i), int64(i+1), "A-2-3"))
		return stock.Answer(adm, err)
	})
	if got["accepted"] != 1 || got["seats_taken"] != n-1 {
		t.Fatalf("lock: %v", got)
	}
	t.Logf("%d concurrent requests for one seat: hold.lua alone %s (%.0f µs a request); behind a lock %s (%.0f µs a request) — %.1f× (busy machine)",
		n, script.Round(time.Millisecond), float64(script.Microseconds())/n, locked.Round(time.Millisecond), float64(locked.Microseconds())/n, float64(locked)/float64(script))
}
