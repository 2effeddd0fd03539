package room

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/stock"
)

func testService(t *testing.T) *Service {
	t.Helper()
	p, err := auth.NewPasses([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Passes: p, Metrics: NewMetrics(nil)}
	s.hubs = map[int64]*hub{}
	return s
}

// The draw is a permutation, and uniform: over many draws each arrival
// lands in each position about equally often (a chi-square test that a
// biased shuffle — say, one that leaves the first arrival first twice as
// often — fails).
func TestShuffleIsUniform(t *testing.T) {
	s := testService(t)
	s.rng = newRNG()
	const n, draws = 8, 40000
	counts := [n][n]int{}
	for range draws {
		p := s.shuffle(n)
		sorted := slices.Clone(p)
		slices.Sort(sorted)
		for i, v := range sorted {
			if v != i+1 {
				t.Fatalf("not a permutation of 1..%d: %v", n, p)
			}
		}
		for pos, arrival := range p {
			counts[arrival-1][pos]++
		}
	}
	expected := float64(draws) / n
	var chi2 float64
	for a := range n {
		for pos := range n {
			d := float64(counts[a][pos]) - expected
			chi2 += d * d / expected
		}
	}
	// 49 degrees of freedom ((n-1)²); 0.999 quantile ≈ 85.4.
	if chi2 > 85.4 {
		t.Fatalf("chi-square %.1f over %d draws of %d: not uniform (counts %v)", chi2, draws, n, counts)
	}
	if s.shuffle(0) == nil || len(s.shuffle(0)) != 0 {
		t.Fatal("an empty draw")
	}
}

func TestStatus(t *testing.T) {
	s := testService(t)
	now := time.Now()
	r := boxoffice.Room{Concert: 1, OpensAt: now.Add(-time.Minute), Rate: 10, MaxActive: 100, PassTTL: time.Minute}
	cohort := &stock.Cohort{UpTo: 5, At: now.Add(-time.Second), ExpiresAt: now.Add(time.Minute)}
	old := &stock.Cohort{UpTo: 5, At: now.Add(-2 * time.Minute), ExpiresAt: now.Add(-time.Minute)}
	place := func(pos, admitted int64, state string, c *stock.Cohort) stock.Place {
		return stock.Place{Ticket: stock.Ticket{Member: 7, Position: pos, JoinedAt: now.Add(-time.Hour)}, Admitted: admitted, State: state, Cohort: c, Now: now}
	}
	for _, c := range []struct {
		name         string
		place        stock.Place
		status       string
		ahead        int64 // -1: null
		wait         float64
		pass         bool
		nullEstimate bool
		nullPosition bool
	}{
		{"waiting for the draw", place(0, 0, stock.RoomScheduled, nil), Waiting, -1, 0, false, true, true},
		{"queued", place(25, 5, stock.RoomOpen, nil), Queued, 19, 2, false, false, false},
		{"next", place(6, 5, stock.RoomOpen, nil), Queued, 0, 0.1, false, false, false},
		{"paused", place(25, 5, stock.RoomPaused, nil), Queued, 19, 0, false, true, false},
		{"sold out", place(25, 5, stock.RoomSoldOut, nil), SoldOut, 19, 0, false, true, false},
		{"admitted", place(3, 5, stock.RoomOpen, cohort), Admitted, 0, 0, true, true, false},
		{"admitted, sold out since: no pass any more", place(3, 5, stock.RoomSoldOut, cohort), SoldOut, 0, 0, false, true, false},
		{"expired, sold out since", place(3, 5, stock.RoomSoldOut, old), Expired, -1, 0, false, true, false},
		{"expired", place(3, 5, stock.RoomOpen, old), Expired, -1, 0, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := s.status(r, c.place, "ticket")
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != c.status || (st.Position == nil) != c.nullPosition || (st.Pass != "") != c.pass ||
				(st.EstimatedWaitSeconds == nil) != c.nullEstimate {
				t.Fatalf("%+v", st)
			}
			if c.ahead >= 0 && (st.Ahead == nil || *st.Ahead != c.ahead) {
				t.Fatalf("ahead %v, want %d", st.Ahead, c.ahead)
			}
			if !c.nullEstimate && math.Abs(*st.EstimatedWaitSeconds-c.wait) > 1e-9 {
				t.Fatalf("estimate %v, want %v", *st.EstimatedWaitSeconds, c.wait)
			}
			if c.pass {
				if m, err := s.Passes.Verify(auth.KindPass, st.Pass, 1); err != nil || m != 7 || !st.PassExpiresAt.Equal(cohort.ExpiresAt.UTC()) {
					t.Fatalf("the pass: member %d, err %v, expires %v", m, err, st.PassExpiresAt)
				}
			}
		})
	}
}

// An empty room list asks for no pass: the sale as before rooms.
func TestRequired(t *testing.T) {
	var none *Service
	if none.Required(1) {
		t.Fatal("a gateway without rooms asks for a pass")
	}
	s := testService(t)
	m := map[int64]boxoffice.Room{2: {Concert: 2}}
	s.rooms.Store(&m)
	if s.Required(1) || !s.Required(2) {
		t.Fatal("Required does not follow the list")
	}
}

// A Redis that fails is a 503 worth retrying, the room's own refusals stay
// what they are.
func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error
	}{
		{context.DeadlineExceeded, boxoffice.ErrUnavailable},
		{fmt.Errorf("room 1: join: %w", errors.New("dial tcp: connection refused")), boxoffice.ErrUnavailable},
		{fmt.Errorf("concert 1: %w", boxoffice.ErrNoRoom), boxoffice.ErrNoRoom},
		{fmt.Errorf("member 1: %w", boxoffice.ErrNotQueued), boxoffice.ErrNotQueued},
	} {
		if got := unavailable(c.err); !errors.Is(got, c.want) || (c.want != boxoffice.ErrUnavailable && errors.Is(got, boxoffice.ErrUnavailable)) {
			t.Errorf("unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if unavailable(nil) != nil {
		t.Error("unavailable(nil) is not nil")
	}
}
