package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAudit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		c        Counts
		accepted int64
		want     Audit // only the numbers and OK are compared
		problem  string
		warning  string
	}{
		{
			name:     "clean sell-out",
			c:        Counts{Capacity: 1000, RedisTaken: 1000, Rows: 1000, DBRemaining: 0},
			accepted: 1000,
			want:     Audit{DBTaken: 1000, OK: true},
		},
		{
			name:     "clean, writer still behind",
			c:        Counts{Capacity: 1000, RedisTaken: 1000, Rows: 900, InFlight: 100, DBRemaining: 100},
			accepted: 1000,
			want:     Audit{DBTaken: 900, OK: true},
			warning:  "in flight",
		},
		{
			name:     "clean, a DB strategy that never touches Redis",
			c:        Counts{Capacity: 1000, RedisTaken: 0, Rows: 1000, DBRemaining: 0},
			accepted: 1000,
			want:     Audit{DBTaken: 1000, OK: true},
		},
		{
			name:     "planted oversell in MySQL",
			c:        Counts{Capacity: 1000, RedisTaken: 0, Rows: 1013, DBRemaining: 0},
			accepted: 1013,
			want:     Audit{Oversold: 13, DBTaken: 1000, DBMismatch: -13},
			problem:  "oversold: 1013 active reservations for 1000 seats",
			warning:  "concerts.remaining",
		},
		{
			name:     "planted oversell in Redis",
			c:        Counts{Capacity: 1000, RedisTaken: 1002, Rows: 1000, DBRemaining: 0},
			accepted: 1000,
			want:     Audit{Oversold: 2, Leaked: 2, DBTaken: 1000},
			problem:  "Redis stock below zero",
		},
		{
			name:     "planted leak",
			c:        Counts{Capacity: 1000, RedisTaken: 1000, Rows: 990, InFlight: 3, DBRemaining: 10},
			accepted: 1000,
			want:     Audit{Leaked: 7, DBTaken: 990, Lost: 7},
			problem:  "leaked: 7 seats",
			warning:  "lost: 7",
		},
		{
			name:     "planted duplicates",
			c:        Counts{Capacity: 1000, RedisTaken: 10, Rows: 10, Duplicates: 2, DBRemaining: 990},
			accepted: 10,
			want:     Audit{Duplicates: 2, DBTaken: 10},
			problem:  "duplicates: 2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := audit(tc.c, tc.accepted)
			got := [6]int64{a.Oversold, a.Leaked, a.Duplicates, a.DBTaken, a.DBMismatch, a.Lost}
			want := [6]int64{tc.want.Oversold, tc.want.Leaked, tc.want.Duplicates, tc.want.DBTaken, tc.want.DBMismatch, tc.want.Lost}
			if got != want {
				t.Errorf("oversold, leaked, duplicates, db_taken, db_mismatch, lost = %v, want %v", got, want)
			}
			if a.OK != tc.want.OK {
				t.Errorf("OK = %v, want %v (problems %q)", a.OK, tc.want.OK, a.Problems)
			}
			if tc.problem != "" && !slices.ContainsFunc(a.Problems, func(p string) bool { return strings.Contains(p, tc.problem) }) {
				t.Errorf("problems %q lack %q", a.Problems, tc.problem)
			}
			if tc.problem == "" && len(a.Problems) > 0 {
				t.Errorf("unexpected problems %q", a.Problems)
			}
			if tc.warning != "" && !slices.ContainsFunc(a.Warnings, func(p string) bool { return strings.Contains(p, tc.warning) }) {
				t.Errorf("warnings %q lack %q", a.Warnings, tc.warning)
			}
		})
	}
}

func TestSettledAtAndPersistedSeries(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	samples := []sample{
		{at(100), Counts{Rows: 0, InFlight: 5}},
		{at(600), Counts{Rows: 40, InFlight: 10}},
		{at(1200), Counts{Rows: 90, InFlight: 0}},
		{at(1700), Counts{Rows: 100, InFlight: 0}}, // last row landed here
		{at(2100), Counts{Rows: 100, InFlight: 0}},
		{at(2300), Counts{Rows: 100, InFlight: 0}},
	}
	if got := settledAt(samples); !got.Equal(at(1700)) {
		t.Errorf("settled at %v, want 1.7s", got.Sub(t0))
	}
	if got, want := persistedSeries(samples, t0, 3), []int64{40, 60, 0}; !slices.Equal(got, want) {
		t.Errorf("persisted per second %v, want %v", got, want)
	}
	// Still in flight at the end: settled is the last sample.
	busy := append(slices.Clone(samples), sample{at(2500), Counts{Rows: 100, InFlight: 1}})
	if got := settledAt(busy); !got.Equal(at(2500)) {
		t.Errorf("settled at %v with writes in flight, want the last sample", got.Sub(t0))
	}
}
