package stock_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/boxoffice/boxoffice/stock"
)

// ClaimAll and DoneAll do for several concerts in one pipeline what Claim
// and Done do for one: the same result per id, again on a replay, and over
// more ids than claim.lua and done.lua take in one command, and after the
// server lost its scripts.
func TestClaimAllAndDoneAll(t *testing.T) {
	ctx := context.Background()
	st := newStore(t, 3000)
	if err := st.Load(ctx, stock.Loading{Concert: 2, Remaining: 10, Epoch: "test", Reset: true}); err != nil {
		t.Fatal(err)
	}
	// Concert 1: 2,500 in flight (over claim.lua's chunk of 1,000), one of
	// them undone by the gateway. Concert 2: one in flight, one unknown.
	var many []string
	for i := range 2500 {
		id := fmt.Sprintf("M%04d", i)
		if _, err := st.Reserve(ctx, res(id, int64(i+1), "")); err != nil {
			t.Fatal(err)
		}
		many = append(many, id)
	}
	if code, err := st.Release(ctx, res("M0007", 8, "")); err != nil || code != stock.Released {
		t.Fatalf("release: %v %v", code, err)
	}
	r := res("X", 1, "")
	r.ConcertID = 2
	if _, err := st.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	ids := map[int64][]string{1: many, 2: {"X", "unknown"}}
	want := map[int64][]stock.ClaimResult{1: make([]stock.ClaimResult, len(many)), 2: {stock.ClaimedNow, stock.Unknown}}
	for i := range many {
		want[1][i] = stock.ClaimedNow
	}
	want[1][7] = stock.Undone
	// The pipeline must recover from NOSCRIPT (a restarted or flushed server).
	if err := st.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ { // a replay claims nothing twice
		got, err := st.ClaimAll(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("attempt %d: claims differ from %v", attempt, want[2])
		}
	}
	for _, c := range []struct {
		concert int64
		id      string
	}{{1, "M0000"}, {1, "M2499"}, {2, "X"}} {
		if s, err := st.InFlightState(ctx, c.concert, c.id); err != nil || s != stock.Claimed {
			t.Fatalf("%s after the claim: %q %v", c.id, s, err)
		}
	}
	if n := remaining(t, st); n != 3000-2499 {
		t.Fatalf("remaining %d, want %d: the claim takes or gives back nothing", n, 3000-2499)
	}
	if err := st.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := st.DoneAll(ctx, map[int64][]string{1: many, 2: {"X"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []int64{1, 2} {
		if n, err := st.InFlightCount(ctx, c); err != nil || n != 0 {
			t.Fatalf("concert %d: %d in flight (%v), want none", c, n, err)
		}
	}
}
