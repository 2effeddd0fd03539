package app_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/servicetest"
)

// startRanker runs a ranker process in-process until the test ends.
func (s *system) startRanker(cfg config.Config) {
	s.t.Helper()
	r, err := app.OpenRanker(context.Background(), cfg, testLog())
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		r.Close()
	})
}

// rankedConcert is one entry of GET /api/rankings, as JSON numbers come.
type rankedConcert struct {
	concert, sold, confirmed, remaining, capacity float64
}

func (r reply) ranked() []rankedConcert {
	list, _ := r.Body["concerts"].([]any)
	var out []rankedConcert
	for _, e := range list {
		m, _ := e.(map[string]any)
		num := func(k string) float64 { f, _ := m[k].(float64); return f }
		out = append(out, rankedConcert{num("concertId"), num("sold"), num("confirmed"), num("remaining"), num("capacity")})
	}
	return out
}

// heldAll reserves a seat of concert for each member and waits until each is HELD.
func (s *system) heldAll(concert int64, members ...int64) []string {
	s.t.Helper()
	var ids []string
	for _, m := range members {
		r := s.reserve(concert, m, "")
		if r.Status != 202 {
			s.t.Fatalf("reserve concert %d member %d: %+v", concert, m, r)
		}
		ids = append(ids, r.id())
	}
	for _, id := range ids {
		s.waitStatus(id, "HELD", 20*time.Second)
	}
	return ids
}

// TestRankingsEndToEnd: a gateway, a writer and a ranker; reservations,
// confirms and cancels on two concerts; GET /api/rankings ranks them by
// sell-through with the seats sold (taken, not given back), paid and
// remaining.
func TestRankingsEndToEnd(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Concerts, cfg.Capacity, cfg.Members = 2, 10, 20
	cfg.HoldTTL = time.Minute
	s := newSystem(t, cfg, true)
	s.startRanker(cfg)

	one := s.heldAll(1, 1, 2, 3, 4, 5, 6)
	s.heldAll(2, 1, 2, 3, 4, 5)
	for _, id := range one[:2] {
		if r := s.transition(id, "confirm"); r.Status != 200 {
			t.Fatalf("confirm: %+v", r)
		}
	}
	for _, id := range one[4:] {
		if r := s.transition(id, "cancel"); r.Status != 200 {
			t.Fatalf("cancel: %+v", r)
		}
	}
	// Concert 2: 5 of 10 sold; concert 1: 6 taken, 2 back, 2 paid.
	want := []rankedConcert{{2, 5, 0, 5, 10}, {1, 4, 2, 6, 10}}
	for _, w := range []string{"1m", "5m", "1h"} {
		servicetest.Eventually(t, 30*time.Second, "rankings over "+w, func() (bool, error) {
			r := s.do("GET", "/api/rankings?window="+w, "", nil, nil)
			return r.Status == 200 && slices.Equal(r.ranked(), want) && r.Body["window"] == w, fmt.Errorf("%d %v", r.Status, r.Body)
		})
	}
	if r := s.do("GET", "/api/rankings?limit=1", "", nil, nil); r.Status != 200 || !slices.Equal(r.ranked(), want[:1]) || r.Body["window"] != "5m" {
		t.Errorf("limit=1 (window 5m by default): %d %v", r.Status, r.Body)
	}

	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{"?window=2m", 400, "invalid_request"},
		{"?window=", 400, "invalid_request"},
		{"?limit=0", 400, "invalid_request"},
		{"?limit=101", 400, "invalid_request"},
		{"?limit=ten", 400, "invalid_request"},
		{"?window=1h&limit=100", 200, ""},
	} {
		if r := s.do("GET", "/api/rankings"+c.query, "", nil, nil); r.Status != c.status || r.code() != c.code {
			t.Errorf("GET /api/rankings%s: %d %q %v, want %d %q", c.query, r.Status, r.code(), r.Body, c.status, c.code)
		}
	}
	if r := s.do("POST", "/api/rankings", "application/json", []byte(`{}`), nil); r.Status != 405 {
		t.Errorf("POST /api/rankings: %d %v", r.Status, r.Body)
	}
}

// lifecycleRun is what one pass of the reservation path answered, and how
// long each call took.
type lifecycleRun struct {
	answers []string
	took    []time.Duration
}

// runLifecycle reserves n seats of concert 1 (members 1..n), confirms the
// first third and cancels the second, recording each answer and its time.
func (s *system) runLifecycle(n int) lifecycleRun {
	s.t.Helper()
	var run lifecycleRun
	timed := func(f func() reply) reply {
		start := time.Now()
		r := f()
		run.took = append(run.took, time.Since(start))
		run.answers = append(run.answers, fmt.Sprintf("%d %s %v", r.Status, r.code(), r.Body["status"]))
		return r
	}
	var ids []string
	for m := 1; m <= n; m++ {
		r := timed(func() reply { return s.reserve(1, int64(m), "") })
		ids = append(ids, r.id())
	}
	for _, id := range ids {
		s.waitStatus(id, "HELD", 20*time.Second)
	}
	for i, id := range ids {
		switch i * 3 / n {
		case 0:
			timed(func() reply { return s.transition(id, "confirm") })
		case 1:
			timed(func() reply { return s.transition(id, "cancel") })
		}
	}
	return run
}

func percentile(ds []time.Duration, p int) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[(len(ds)-1)*p/100]
}

// TestReservationsIgnoreTheRanking: the same reservations, confirms and
// cancels against a gateway whose ranking works (and a ranker runs), and
// against one whose ranking points at a port that refuses connections (no
// ranker), while a client asks for the ranking all along: the same answers,
// and latency within noise; the broken one's rankings answer 503 at once.
func TestReservationsIgnoreTheRanking(t *testing.T) {
	const n = 60
	setup := func(broken bool) *system {
		cfg := servicetest.Config(t)
		cfg.Capacity, cfg.Members = n, n
		cfg.HoldTTL = time.Minute
		if broken {
			cfg.RankingRedisAddr = fmt.Sprintf("127.0.0.1:%d", servicetest.FreePort(t))
		}
		s := newSystem(t, cfg, true)
		if !broken {
			s.startRanker(cfg)
		}
		return s
	}
	// Rankings asked all along, as a dashboard or a busy page would.
	hammer := func(s *system) (stop func() (map[string]int, time.Duration)) {
		var mu sync.Mutex
		seen := map[string]int{}
		var slowest time.Duration
		var done atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				start := time.Now()
				r := s.do("GET", "/api/rankings?window=1m", "", nil, nil)
				mu.Lock()
				seen[fmt.Sprintf("%d %s", r.Status, r.code())]++
				took := time.Since(start)
				slowest = max(slowest, took)
				if took > time.Second {
					seen["slower than 1 s"]++
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
		return func() (map[string]int, time.Duration) { done.Store(true); wg.Wait(); return seen, slowest }
	}

	healthy := setup(false)
	stopH := hammer(healthy)
	base := healthy.runLifecycle(n)
	seenH, slowestH := stopH()

	broken := setup(true)
	stopB := hammer(broken)
	got := broken.runLifecycle(n)
	seenB, slowestB := stopB()

	if !slices.Equal(got.answers, base.answers) {
		t.Errorf("answers differ with the ranking unreachable:\n got %v\nwant %v", got.answers, base.answers)
	}
	if seenH["200 "] == 0 || len(seenH) != 1 {
		t.Errorf("rankings with a working ranking: %v, want only 200s", seenH)
	}
	if seenB["503 unavailable"] == 0 || len(seenB) != 1 {
		t.Errorf("rankings with the ranking unreachable: %v, want only 503 unavailable, each within 1 s", seenB)
	}
	bp50, bp99 := percentile(base.took, 50), percentile(base.took, 99)
	gp50, gp99 := percentile(got.took, 50), percentile(got.took, 99)
	t.Logf("rankings asked meanwhile: working %v (slowest %s), unreachable %v (slowest %s)", seenH, slowestH, seenB, slowestB)
	t.Logf("reservation path over %d calls (busy shared machine): ranking working p50 %s p99 %s; ranking unreachable p50 %s p99 %s",
		len(got.took), bp50, bp99, gp50, gp99)
	// Generous: the machine is shared; a path that waited on the ranking's
	// Redis would pay a dial per call and show far beyond this.
	if gp50 > 3*bp50+20*time.Millisecond {
		t.Errorf("p50 %s with the ranking unreachable, %s with it working", gp50, bp50)
	}
}
