package stock_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/stock"
)

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i + 1
	}
	return p
}

func reversed(n int) []int {
	p := identity(n)
	slices.Reverse(p)
	return p
}

func newRoom(t *testing.T, opensIn time.Duration, rate, maxActive int, ttl time.Duration) *stock.Store {
	t.Helper()
	st := newStore(t, 1000)
	if _, err := st.SetRoom(context.Background(), boxoffice.Room{Concert: 1, OpensAt: time.Now().Add(opensIn), Rate: rate, MaxActive: maxActive, PassTTL: ttl}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRoomJoinIsOncePerMember(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, time.Hour, 10, 10, time.Minute)
	first, created, err := st.JoinRoom(ctx, 1, 7)
	if err != nil || !created || !first.PreOpen || first.Position != 0 || first.Seq != 1 {
		t.Fatalf("first join: %+v created %v err %v", first, created, err)
	}
	again, created, err := st.JoinRoom(ctx, 1, 7)
	if err != nil || created || again != first {
		t.Fatalf("joining again: %+v created %v err %v, want %+v", again, created, err, first)
	}
	if _, _, err := st.JoinRoom(ctx, 2, 7); !errors.Is(err, boxoffice.ErrNoRoom) {
		t.Fatalf("joining a concert without a room: %v", err)
	}
}

// The draw places the pre-open arrivals as the permutation says, once;
// later arrivals queue behind them in order.
func TestRoomDrawThenFIFO(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 300*time.Millisecond, 100, 100, time.Minute)
	for m := int64(1); m <= 5; m++ {
		if _, _, err := st.JoinRoom(ctx, 1, m); err != nil {
			t.Fatal(err)
		}
	}
	if opened, err := st.OpenRoom(ctx, 1, reversed); err != nil || opened {
		t.Fatalf("open before its time: opened %v, err %v", opened, err)
	}
	time.Sleep(350 * time.Millisecond)
	// A member joining after the opening time but before the draw is
	// behind every pre-open arrival.
	late, _, err := st.JoinRoom(ctx, 1, 6)
	if err != nil || late.PreOpen || late.Position != 6 {
		t.Fatalf("join after the opening time: %+v, %v", late, err)
	}
	if opened, err := st.OpenRoom(ctx, 1, reversed); err != nil || !opened {
		t.Fatalf("open: opened %v, err %v", opened, err)
	}
	// A second draw (another gateway) changes nothing.
	if opened, err := st.OpenRoom(ctx, 1, identity); err != nil || !opened {
		t.Fatalf("open again: opened %v, err %v", opened, err)
	}
	for m := int64(1); m <= 5; m++ {
		p, err := st.RoomPlace(ctx, 1, m, false)
		if err != nil {
			t.Fatal(err)
		}
		// reversed: position i holds the arrival 6-i.
		if p.Position != 6-m || !p.PreOpen || p.Seq != m {
			t.Fatalf("member %d: %+v, want position %d", m, p.Ticket, 6-m)
		}
	}
	for m := int64(7); m <= 9; m++ {
		tk, _, err := st.JoinRoom(ctx, 1, m)
		if err != nil || tk.Position != m {
			t.Fatalf("post-open join %d: %+v, %v", m, tk, err)
		}
	}
	members, err := st.RoomMembers(ctx, 1, 1, 9)
	if err != nil || !slices.Equal(members, []int64{5, 4, 3, 2, 1, 6, 7, 8, 9}) {
		t.Fatalf("members by position: %v, %v", members, err)
	}
	if members, err := st.RoomMembers(ctx, 1, 4, 7); err != nil || !slices.Equal(members, []int64{2, 1, 6, 7}) {
		t.Fatalf("members 4..7: %v, %v", members, err)
	}
}

// A permutation that is not one of the arrivals is refused whole.
func TestRoomDrawRefusesABadPermutation(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 100*time.Millisecond, 100, 100, time.Minute)
	for m := int64(1); m <= 3; m++ {
		st.JoinRoom(ctx, 1, m)
	}
	time.Sleep(150 * time.Millisecond)
	for name, bad := range map[string]func(int) []int{
		"a repeat":     func(int) []int { return []int{1, 1, 2} },
		"out of range": func(int) []int { return []int{1, 2, 4} },
		"too short":    func(int) []int { return []int{1, 2} },
	} {
		if _, err := st.OpenRoom(ctx, 1, bad); err == nil {
			t.Fatalf("%s: the room opened", name)
		}
	}
	if p, _ := st.RoomPlace(ctx, 1, 1, false); p.Position != 0 || p.Opened {
		t.Fatalf("after refused draws: %+v", p)
	}
}

// Several gateways ticking at once admit at the rate, never more than one
// tick's worth ahead of it.
func TestRoomAdmitsAtTheRateWhoeverTicks(t *testing.T) {
	ctx := context.Background()
	const rate = 200
	tick := 50 * time.Millisecond
	st := newRoom(t, 0, rate, 10000, time.Minute)
	for m := int64(1); m <= 1000; m++ {
		st.JoinRoom(ctx, 1, m)
	}
	if _, err := st.OpenRoom(ctx, 1, identity); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Since(start) < time.Second {
				if _, err := st.AdmitRoom(ctx, 1, stock.SeatsLeft, tick); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(7 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	rec, err := st.RoomRecords(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	opened := rec.Cohorts[0].At.Add(-tick)
	for _, c := range rec.Cohorts {
		allowed := int64(rate*c.At.Sub(opened).Seconds()) + rate*int64(tick/time.Millisecond)/1000
		if c.UpTo > allowed {
			t.Fatalf("cohort %+v: %d admitted, the rate allows %d", c, c.UpTo, allowed)
		}
	}
	elapsed := rec.Cohorts[len(rec.Cohorts)-1].At.Sub(rec.Cohorts[0].At).Seconds()
	if got := float64(rec.Admitted) / (elapsed + tick.Seconds()); got < rate*0.7 || got > rate*1.3 {
		t.Fatalf("%d admitted in %.2fs: %.0f/s, want about %d/s", rec.Admitted, elapsed, got, rate)
	}
}

// At most maxActive passes are valid at once; expired ones make room.
func TestRoomMaxActiveAndExpiry(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 0, 1000, 3, 10*time.Second)
	for m := int64(1); m <= 10; m++ {
		st.JoinRoom(ctx, 1, m)
	}
	st.OpenRoom(ctx, 1, identity)
	var a stock.Admitting
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		var err error
		if a, err = st.AdmitRoom(ctx, 1, stock.SeatsLeft, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if a.Admitted != 3 || a.Active != 3 {
		t.Fatalf("admitted %d, active %d; want 3 and 3 (max-active)", a.Admitted, a.Active)
	}
	p, err := st.RoomPlace(ctx, 1, 2, true)
	if err != nil || p.Cohort == nil || !p.FirstPass {
		t.Fatalf("an admitted member's place: %+v, %v", p, err)
	}
	if p, _ := st.RoomPlace(ctx, 1, 2, true); p.FirstPass {
		t.Fatal("a second pass counted as the first")
	}
	if p, _ := st.RoomPlace(ctx, 1, 4, true); p.Cohort != nil || p.FirstPass {
		t.Fatalf("a waiting member has a cohort: %+v", p)
	}
}

// The room follows the stock: paused while seats may come back, sold out
// when none can, open again when seats return.
func TestRoomFollowsTheStock(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 0, 1000, 100, time.Minute)
	for m := int64(1); m <= 5; m++ {
		st.JoinRoom(ctx, 1, m)
	}
	st.OpenRoom(ctx, 1, identity)
	for _, step := range []struct {
		stock stock.RoomStock
		state string
		more  bool // admits
	}{
		{stock.SeatsMayReturn, stock.RoomPaused, false},
		{stock.SeatsGone, stock.RoomSoldOut, false},
		{stock.SeatsLeft, stock.RoomOpen, true},
	} {
		before, _, _ := st.Room(ctx, 1)
		time.Sleep(30 * time.Millisecond)
		a, err := st.AdmitRoom(ctx, 1, step.stock, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if a.State != step.state || (a.Admitted > before.Admitted) != step.more {
			t.Fatalf("stock %d: state %s, admitted %d → %d; want %s, admitting %v", step.stock, a.State, before.Admitted, a.Admitted, step.state, step.more)
		}
		if step.state == stock.RoomSoldOut && a.SoldOutAt.IsZero() {
			t.Fatal("sold out without a time")
		}
	}
}

// Notification ranges: one lease holder at a time; a range not marked done
// is handed out again once the lease runs out.
func TestRoomNotificationLeases(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 0, 1000, 100, time.Minute)
	for m := int64(1); m <= 5; m++ {
		st.JoinRoom(ctx, 1, m)
	}
	st.OpenRoom(ctx, 1, identity)
	time.Sleep(20 * time.Millisecond)
	st.AdmitRoom(ctx, 1, stock.SeatsLeft, 100*time.Millisecond)
	from, to, ok, err := st.ClaimNotifications(ctx, 1, stock.NotifyAdmitted, "a", 200*time.Millisecond, 3)
	if err != nil || !ok || from != 1 || to != 3 {
		t.Fatalf("claim: %d..%d ok %v err %v", from, to, ok, err)
	}
	if _, _, ok, _ := st.ClaimNotifications(ctx, 1, stock.NotifyAdmitted, "b", time.Second, 3); ok {
		t.Fatal("a second gateway got a leased range")
	}
	time.Sleep(250 * time.Millisecond)
	from, to, ok, _ = st.ClaimNotifications(ctx, 1, stock.NotifyAdmitted, "b", time.Second, 3)
	if !ok || from != 1 || to != 3 {
		t.Fatalf("after the lease ran out: %d..%d ok %v, want 1..3 again", from, to, ok)
	}
	if err := st.NotificationsDone(ctx, 1, stock.NotifyAdmitted, "b", to); err != nil {
		t.Fatal(err)
	}
	from, to, ok, _ = st.ClaimNotifications(ctx, 1, stock.NotifyAdmitted, "b", time.Second, 3)
	if !ok || from != 4 || to != 5 {
		t.Fatalf("the next range: %d..%d ok %v, want 4..5", from, to, ok)
	}
	if _, _, ok, _ := st.ClaimNotifications(ctx, 1, stock.NotifySoldOut, "b", time.Second, 3); ok {
		t.Fatal("sold-out notifications claimed in an open room")
	}
}

// An opening time that has passed is kept: positions were given against it.
func TestRoomKeepsAPassedOpening(t *testing.T) {
	ctx := context.Background()
	st := newRoom(t, 0, 10, 10, time.Minute)
	opened, _, _ := st.Room(ctx, 1)
	later := time.Now().Add(time.Hour)
	inForce, err := st.SetRoom(ctx, boxoffice.Room{Concert: 1, OpensAt: later, Rate: 20, MaxActive: 10, PassTTL: time.Minute})
	if err != nil || inForce.UnixMilli() != opened.OpensAt.UnixMilli() {
		t.Fatalf("moving a passed opening: in force %v, err %v; want %v", inForce, err, opened.OpensAt)
	}
	if r, _, _ := st.Room(ctx, 1); r.Rate != 20 {
		t.Fatalf("the rate was not changed: %d", r.Rate)
	}
}
