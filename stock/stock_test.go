package stock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
)

func newStore(t *testing.T, seats int64) *stock.Store {
	t.Helper()
	cfg := servicetest.Config(t)
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	t.Cleanup(func() { rdb.Close() })
	st := stock.New(rdb, cfg.RedisPrefix, time.Second)
	if err := st.Load(context.Background(), stock.Loading{Concert: 1, Remaining: seats, Epoch: "test", Reset: true}); err != nil {
		t.Fatal(err)
	}
	return st
}

func res(id string, member int64, key string) stock.Reservation {
	return stock.Reservation{ID: id, ConcertID: 1, MemberID: member, Payload: []byte(`{}`), IdempotencyKey: key, Now: time.Now()}
}

func remaining(t *testing.T, st *stock.Store) int64 {
	t.Helper()
	n, _, err := st.Remaining(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReserveCodes(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 1)
	steps := []struct {
		name string
		r    stock.Reservation
		want string
	}{
		{"first seat", res("A", 1, ""), "accepted"},
		{"same member again", res("B", 1, ""), "already_reserved"},
		{"sold out", res("C", 2, ""), "sold_out"},
		{"same id again takes nothing", res("A", 3, ""), "replay"},
		{"unknown concert", stock.Reservation{ID: "D", ConcertID: 99, MemberID: 1, Payload: []byte(`{}`), Now: time.Now()}, "concert_not_found"},
	}
	for _, s := range steps {
		got, err := st.Reserve(ctx, s.r)
		if o := stock.Answer(got, err); o != s.want {
			t.Fatalf("%s: %s (%v), want %s", s.name, o, err, s.want)
		}
	}
	if n := remaining(t, st); n != 0 {
		t.Fatalf("remaining %d, want 0", n)
	}
}

func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 10)
	first, err := st.Reserve(ctx, res("A", 1, "key-1"))
	if stock.Answer(first, err) != "accepted" {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := st.Reserve(ctx, res("B", 1, "key-1"))
	if stock.Answer(again, err) != "replay" || again.ID != "A" || again.State != stock.Publishing {
		t.Fatalf("replay: %+v %v", again, err)
	}
	other, err := st.Reserve(ctx, res("C", 2, "key-1"))
	if stock.Answer(other, err) != "key_mismatch" {
		t.Fatalf("other member, same key: %+v %v", other, err)
	}
	if err := st.Ack(ctx, 1, "A"); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.InFlightState(ctx, 1, "A"); s != stock.Acked {
		t.Fatalf("state after ack %q", s)
	}
	if n := remaining(t, st); n != 9 {
		t.Fatalf("remaining %d, want 9", n)
	}
}

// The undo and the writer's claim race for a reservation whose ack was late:
// whichever runs first wins, and the seat is counted exactly once.
func TestReleaseAndClaimRace(t *testing.T) {
	ctx := context.Background()
	t.Run("release first", func(t *testing.T) {
		st := newStore(t, 5)
		st.Reserve(ctx, res("A", 1, "k"))
		if code, err := st.Release(ctx, res("A", 1, "k")); err != nil || code != stock.Released {
			t.Fatalf("release: %d %v", code, err)
		}
		if code, _ := st.Release(ctx, res("A", 1, "k")); code != stock.ReleasedBefore {
			t.Fatalf("second release: %d", code)
		}
		codes, err := st.Claim(ctx, 1, []string{"A"})
		if err != nil || codes[0] != stock.Undone {
			t.Fatalf("claim after release: %v %v", codes, err)
		}
		if n := remaining(t, st); n != 5 {
			t.Fatalf("remaining %d, want 5", n)
		}
		// The member and the key are free again.
		if r, err := st.Reserve(ctx, res("B", 1, "k")); stock.Answer(r, err) != "accepted" {
			t.Fatalf("reserve again: %+v %v", r, err)
		}
	})
	t.Run("claim first", func(t *testing.T) {
		st := newStore(t, 5)
		st.Reserve(ctx, res("A", 1, ""))
		if codes, _ := st.Claim(ctx, 1, []string{"A"}); codes[0] != stock.ClaimedNow {
			t.Fatalf("claim: %v", codes)
		}
		if code, _ := st.Release(ctx, res("A", 1, "")); code != stock.Kept {
			t.Fatalf("release after claim: %d, want kept", code)
		}
		st.Done(ctx, 1, []string{"A"})
		if code, _ := st.Release(ctx, res("A", 1, "")); code != stock.Persisted {
			t.Fatalf("release after done: %d, want persisted", code)
		}
		if n := remaining(t, st); n != 4 {
			t.Fatalf("remaining %d, want 4", n)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		st := newStore(t, 200)
		for i := range 200 {
			st.Reserve(ctx, res(fmt.Sprint(i), int64(i+1), ""))
		}
		var wg sync.WaitGroup
		released := make([]bool, 200)
		claimed := make([]bool, 200)
		for i := range 200 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				code, _ := st.Release(ctx, res(fmt.Sprint(i), int64(i+1), ""))
				released[i] = code == stock.Released
			}()
			go func() {
				defer wg.Done()
				codes, _ := st.Claim(ctx, 1, []string{fmt.Sprint(i)})
				claimed[i] = len(codes) == 1 && codes[0] == stock.ClaimedNow
			}()
		}
		wg.Wait()
		kept := 0
		for i := range 200 {
			if released[i] == claimed[i] {
				t.Fatalf("reservation %d: released=%v claimed=%v, want exactly one", i, released[i], claimed[i])
			}
			if claimed[i] {
				kept++
			}
		}
		if n := remaining(t, st); n != int64(200-kept) {
			t.Fatalf("remaining %d, want %d", n, 200-kept)
		}
	})
}

func TestFailReturnsSeatOnce(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 3)
	st.Reserve(ctx, res("A", 7, ""))
	st.Claim(ctx, 1, []string{"A"})
	for i, want := range []int64{1, 0, 0} {
		n, err := st.Fail(ctx, 1, []stock.Seat{{ID: "A", MemberID: 7}})
		if err != nil || n != want {
			t.Fatalf("fail #%d: %d %v, want %d", i, n, err, want)
		}
	}
	if n := remaining(t, st); n != 3 {
		t.Fatalf("remaining %d, want 3", n)
	}
	if r, err := st.Reserve(ctx, res("B", 7, "")); stock.Answer(r, err) != "accepted" {
		t.Fatalf("member not released: %+v %v", r, err)
	}
}

func TestScriptsReloadAfterFlush(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 2)
	if err := st.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.ScriptsLoaded(ctx); ok {
		t.Fatal("scripts still loaded after SCRIPT FLUSH")
	}
	if r, err := st.Reserve(ctx, res("A", 1, "")); stock.Answer(r, err) != "accepted" {
		t.Fatalf("reserve after flush: %+v %v", r, err)
	}
}

func TestStaleAndTouch(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 5)
	old := res("A", 1, "")
	old.Now = time.Now().Add(-time.Minute)
	st.Reserve(ctx, old)
	st.Reserve(ctx, res("B", 2, ""))
	stale, err := st.Stale(ctx, 1, time.Now().Add(-30*time.Second), 10)
	if err != nil || len(stale) != 1 || stale[0].ID != "A" || string(stale[0].Payload) != "{}" {
		t.Fatalf("stale: %+v %v", stale, err)
	}
	st.Touch(ctx, 1, []string{"A"}, time.Now())
	if stale, _ := st.Stale(ctx, 1, time.Now().Add(-30*time.Second), 10); len(stale) != 0 {
		t.Fatalf("stale after touch: %+v", stale)
	}
}

func TestCoalescedReserve(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 50)
	stop := st.Coalesce(4)
	defer stop()
	st.Client().ScriptFlush(ctx) // the pipelines must recover from NOSCRIPT too
	codes := make([]string, 500)
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := st.Reserve(ctx, res(fmt.Sprint(i), int64(i+1), ""))
			codes[i] = stock.Answer(r, err)
			if codes[i] == "error" {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count["accepted"] != 50 || count["sold_out"] != 450 {
		t.Fatalf("codes %v, want 50 accepted and 450 sold out", count)
	}
	if n := remaining(t, st); n != 0 {
		t.Fatalf("remaining %d", n)
	}
}

// A confirm that arrives after the hold's deadline, before the expirer has
// claimed it (the expirer lags or its writer is down), finds it expired: the
// hold's score is its deadline, and the deadline wins (issue 12 c).
func TestDecideAfterDeadlineExpires(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 5)
	late := res("A", 1, "")
	late.ExpiresAt = time.Now().Add(-time.Second)
	if _, err := st.Reserve(ctx, late); err != nil {
		t.Fatal(err)
	}
	onTime := res("B", 2, "")
	onTime.ExpiresAt = time.Now().Add(time.Minute)
	if _, err := st.Reserve(ctx, onTime); err != nil {
		t.Fatal(err)
	}
	for _, d := range []event.Decision{event.Confirm, event.Cancel} {
		stands, held, err := st.Decide(ctx, 1, "A", 1, d, time.Now().Add(time.Minute))
		if err != nil || !held || stands != event.Expire {
			t.Fatalf("%s after the deadline: stands %q held %v err %v, want expire", d, stands, held, err)
		}
	}
	// The expiry is in the outbox at once, for the expirer's next pass.
	due, err := st.OutboxDue(ctx, 1, time.Now(), 10, time.Now().Add(time.Minute))
	if err != nil || len(due) != 1 || due[0].ID != "A" || due[0].Decision != event.Expire {
		t.Fatalf("outbox after a late confirm: %+v %v, want A's expiry", due, err)
	}
	if stands, held, err := st.Decide(ctx, 1, "B", 2, event.Confirm, time.Now().Add(time.Minute)); err != nil || !held || stands != event.Confirm {
		t.Fatalf("confirm in time: stands %q held %v err %v", stands, held, err)
	}
}

// Undo tombstones live TombstoneRetention after the last one, not forever
// (before, a concert's tombstones were trimmed only by a later undo of the
// same concert, and the key never expired: issue 12 g).
func TestTombstonesExpire(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"release", "fail"} {
		t.Run(how, func(t *testing.T) {
			st := newStore(t, 5)
			if _, err := st.Reserve(ctx, res("A", 1, "")); err != nil {
				t.Fatal(err)
			}
			var err error
			if how == "release" {
				_, err = st.Release(ctx, res("A", 1, ""))
			} else {
				_, err = st.Fail(ctx, 1, []stock.Seat{{ID: "A", MemberID: 1}})
			}
			if err != nil {
				t.Fatal(err)
			}
			ttl, err := st.TombstonesTTL(ctx, 1)
			if err != nil || ttl <= 0 || ttl > stock.TombstoneRetention {
				t.Fatalf("tombstones' TTL %s (%v), want (0, %s]", ttl, err, stock.TombstoneRetention)
			}
		})
	}
}

// A caller that gave up before its coalesced call ran must not have the
// script run after it was told "failed": nothing would undo it, and the
// sweeper would later write a reservation the client was told failed (issue
// 12 d). Every call made with an ended context either did not run, or ran
// and says so.
func TestCoalescedReserveOfCallerThatGaveUp(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 500)
	stop := st.Coalesce(1)
	defer stop()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	ran := 0
	for i := range 400 {
		if _, err := st.Reserve(gone, res(fmt.Sprint(i), int64(i+1), "")); err == nil {
			ran++
		}
	}
	time.Sleep(100 * time.Millisecond) // anything still queued runs now
	n, err := st.InFlightCount(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(ran) || remaining(t, st) != int64(500-ran) {
		t.Fatalf("%d reservations in flight, %d seats left, but %d calls said they ran", n, remaining(t, st), ran)
	}
}

// Without its marker a concert admits nobody: Redis does not know its stock
// (issue 12, item 1).
func TestReserveNeedsTheMarker(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 5)
	if got, err := st.Reserve(ctx, res("A", 1, "")); stock.Answer(got, err) != "accepted" {
		t.Fatalf("with the marker: %v", err)
	}
	epoch, err := st.Unmark(ctx, 1)
	if err != nil || epoch != "test" {
		t.Fatalf("unmark: %q %v", epoch, err)
	}
	if _, err := st.Reserve(ctx, res("B", 2, "")); !errors.Is(err, boxoffice.ErrStockNotLoaded) {
		t.Fatalf("without the marker: %v, want ErrStockNotLoaded", err)
	}
	if n := remaining(t, st); n != 4 {
		t.Fatalf("remaining %d, want 4: a refusal takes nothing", n)
	}
	if err := st.Mark(ctx, 1, "again"); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Reserve(ctx, res("B", 2, "")); stock.Answer(got, err) != "accepted" {
		t.Fatalf("marked again: %v", err)
	}
	// Nothing at all (never loaded, or all lost): the caller asks MySQL.
	if _, err := st.Reserve(ctx, stock.Reservation{ID: "C", ConcertID: 77, MemberID: 1, Payload: []byte(`{}`), Now: time.Now()}); !errors.Is(err, boxoffice.ErrConcertNotFound) {
		t.Fatalf("unknown concert: %v", err)
	}
}

// Load writes the holds it is given, scored by their deadline, and Snapshot
// reads back what Load wrote.
func TestLoadAndSnapshot(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 5)
	due := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := st.Load(ctx, stock.Loading{Concert: 1, Remaining: 3, Holders: []int64{7, 8}, Holds: []stock.Hold{{ID: "H", MemberID: 7, ExpiresAt: due}}, Epoch: "db/1"}); err != nil {
		t.Fatal(err)
	}
	snap, err := st.Snapshot(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Loaded || snap.Remaining != 3 || snap.Epoch != "db/1" || len(snap.Members) != 2 || len(snap.Holds) != 1 || snap.Holds[0].ID != "H" || !snap.Holds[0].ExpiresAt.Equal(due) {
		t.Fatalf("snapshot %+v", snap)
	}
	if got := stock.EpochDeployment(stock.NewEpoch("db", time.Now())); got != "db" {
		t.Fatalf("EpochDeployment = %q", got)
	}
}

// What a failed reservation gives back depends on why it failed.
func TestFailGivesBackByReason(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		back       stock.Giveback
		stock      int64
		memberFree bool
	}{
		{stock.SeatAndMember, 3, true},
		{stock.MemberOnly, 2, true},
		{stock.Nothing, 2, false},
	}
	for _, c := range cases {
		st := newStore(t, 3)
		st.Reserve(ctx, res("A", 7, ""))
		st.Claim(ctx, 1, []string{"A"})
		if _, err := st.Fail(ctx, 1, []stock.Seat{{ID: "A", MemberID: 7, Back: c.back}}); err != nil {
			t.Fatal(err)
		}
		if n := remaining(t, st); n != c.stock {
			t.Errorf("giveback %d: remaining %d, want %d", c.back, n, c.stock)
		}
		_, err := st.Reserve(ctx, res("B", 7, ""))
		if free := !errors.Is(err, boxoffice.ErrAlreadyReserved); free != c.memberFree {
			t.Errorf("giveback %d: member free %v (%v), want %v", c.back, free, err, c.memberFree)
		}
	}
}
