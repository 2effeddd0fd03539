package bench

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// --rounds runs the strategies interleaved and reports each one's median
// round with a brief of all of them, and the speedup round by round.
func TestRoundsInterleaveAndReportTheMedian(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	res, out, err := runBench(t, f, "compare", "--strategies", "async,pessimistic", "--rounds", "3",
		"--capacity", "50", "--members", "300", "--rate", "1000", "--duration", "150ms")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Config.Rounds != 3 || len(res.Strategies) != 2 {
		t.Fatalf("rounds %d, %d strategies; want 3 rounds of 2 strategies", res.Config.Rounds, len(res.Strategies))
	}
	// Interleaved: a1 p1 a2 p2 a3 p3, as the progress lines show.
	last := -1
	for _, label := range []string{"compare async (round 1/3)", "compare pessimistic (round 1/3)", "compare async (round 2/3)",
		"compare pessimistic (round 2/3)", "compare async (round 3/3)", "compare pessimistic (round 3/3)"} {
		i := strings.Index(out, label)
		if i < last {
			t.Fatalf("%q missing or out of order", label)
		}
		last = i
	}
	for _, s := range res.Strategies {
		if len(s.Rounds) != 3 {
			t.Fatalf("%s: %d rounds briefed, want 3", s.Name, len(s.Rounds))
		}
		below, above := 0, 0
		for i, rb := range s.Rounds {
			if rb.Round != i+1 || rb.Audit == nil || !rb.Audit.OK {
				t.Errorf("%s round brief %d: %+v", s.Name, i+1, rb)
			}
			switch {
			case rb.AcceptedPerS < s.AcceptedPerS:
				below++
			case rb.AcceptedPerS > s.AcceptedPerS:
				above++
			}
		}
		if below > 1 || above > 1 || s.Round < 1 || s.Rounds[s.Round-1].AcceptedPerS != s.AcceptedPerS {
			t.Errorf("%s: round %d (%.0f/s) is not the median of %+v", s.Name, s.Round, s.AcceptedPerS, s.Rounds)
		}
	}
	if sp := res.AsyncVsLock; sp == nil || sp.Lock != "pessimistic" || sp.Factor <= 0 || len(sp.Rounds) != 3 {
		t.Fatalf("async_vs_lock %+v, want pessimistic with 3 rounds", res.AsyncVsLock)
	}
	if !strings.Contains(out, "as many reservations per second as pessimistic") {
		t.Errorf("no speedup line in the table")
	}
}

// --warmup runs every strategy once, unmeasured, before round 1; the rounds
// that count are still the ones asked for, each on fresh stock.
func TestWarmupRunsEachStrategyUnmeasuredFirst(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	f.writerLag = 30 * time.Millisecond // the warm-up must drain before the next reset
	res, out, err := runBench(t, f, "compare", "--strategies", "async,pessimistic", "--rounds", "2", "--warmup", "100ms",
		"--capacity", "50", "--members", "300", "--rate", "1000", "--duration", "150ms")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	last := -1
	for _, label := range []string{"compare async (warm-up, not measured)", "compare pessimistic (warm-up, not measured)",
		"compare async (round 1/2)", "compare pessimistic (round 1/2)", "compare async (round 2/2)"} {
		i := strings.Index(out, label)
		if i < last {
			t.Fatalf("%q missing or out of order", label)
		}
		last = i
	}
	if res.Config.WarmupMs != 100 {
		t.Errorf("config.warmup_ms %v, want 100", res.Config.WarmupMs)
	}
	for _, s := range res.Strategies {
		if len(s.Rounds) != 2 {
			t.Errorf("%s: %d rounds, want 2 (the warm-up is not one)", s.Name, len(s.Rounds))
		}
		for _, rb := range s.Rounds {
			if rb.Audit == nil || !rb.Audit.OK {
				t.Errorf("%s round %d audit %+v: the warm-up leaked into it", s.Name, rb.Round, rb.Audit)
			}
		}
	}
	f.mu.Lock()
	resets := f.resets
	f.mu.Unlock()
	if want := 1 + 2*3; resets != want { // newFakeSystem, then 2 strategies × (warm-up + 2 rounds)
		t.Errorf("%d resets, want %d", resets, want)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "100ms unmeasured before round 1") {
		t.Errorf("notes %q do not mention the warm-up", res.Notes)
	}
	if !slices.Contains(configRows(res.Config), [2]string{"warm-up", "100ms"}) {
		t.Errorf("the report's configuration %q does not show the warm-up", configRows(res.Config))
	}
}

// The closed model warms up at full VUs; the measured run still starts from
// fresh stock and counts only its own rows.
func TestWarmupClosedModel(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	res, out, err := runBench(t, f, "ramp", "--vus", "6", "--ramp", "50ms", "--hold", "100ms", "--warmup", "100ms",
		"--concerts", "3", "--capacity", "1000", "--members", "40")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	warm, measured := strings.Index(out, "ramp async (warm-up, not measured)"), strings.Index(out, "ramp async  ")
	if warm < 0 || measured <= warm {
		t.Fatalf("warm-up progress at %d, measured at %d: want the warm-up first", warm, measured)
	}
	f.mu.Lock()
	resets := f.resets
	f.mu.Unlock()
	if resets != 3 { // newFakeSystem, warm-up, the run
		t.Errorf("%d resets, want 3", resets)
	}
	s := strategyOf(t, res, "async")
	if s.Audit == nil || !s.Audit.OK || s.Audit.Rows != s.Accepted {
		t.Errorf("audit %+v, want OK with rows == accepted %d", s.Audit, s.Accepted)
	}
}

func TestMedians(t *testing.T) {
	sr := func(round int, rate float64, skipped bool) StrategyResult {
		return StrategyResult{Name: "async", Round: round, AcceptedPerS: rate, Skipped: skipped}
	}
	for _, c := range []struct {
		name   string
		rounds []StrategyResult
		want   int // round picked
	}{
		{"one round as it is", []StrategyResult{sr(1, 5, false)}, 1},
		{"odd count", []StrategyResult{sr(1, 30, false), sr(2, 10, false), sr(3, 20, false)}, 3},
		{"even count takes the lower middle", []StrategyResult{sr(1, 40, false), sr(2, 10, false), sr(3, 30, false), sr(4, 20, false)}, 4},
		{"skipped rounds do not count", []StrategyResult{sr(1, 0, true), sr(2, 10, false), sr(3, 30, false), sr(4, 20, false)}, 4},
		{"all skipped", []StrategyResult{sr(1, 0, true), sr(2, 0, true)}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := medians([]string{"async", "absent"}, map[string][]StrategyResult{"async": c.rounds})
			if len(got) != 1 || got[0].Round != c.want {
				t.Fatalf("picked %+v, want round %d", got, c.want)
			}
			if len(c.rounds) > 1 && len(got[0].Rounds) != len(c.rounds) {
				t.Fatalf("%d round briefs, want %d", len(got[0].Rounds), len(c.rounds))
			}
		})
	}
}

// A round whose audit failed fails the run even when the median round is clean.
func TestInvariantChecksEveryRound(t *testing.T) {
	res := &Result{Strategies: []StrategyResult{{Name: "async", Audit: &Audit{OK: true}, Round: 1,
		Rounds: []RoundBrief{{Round: 1, Audit: &Audit{OK: true}}, {Round: 2, Audit: &Audit{OK: false, Problems: []string{"leaked 3"}}}}}}}
	err := invariantErr(res)
	if !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), "async (round 2): leaked 3") {
		t.Fatalf("error %v, want round 2's leak", err)
	}
}
