package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Env seeds stock and audits the outcome; the lead implements it over MySQL+Redis.
type Env interface {
	// Reset makes concerts ids 1..concerts with `capacity` seats each, full stock, no reservations,
	// and members 1..members; it returns when the gateway can take reservations.
	Reset(ctx context.Context, concerts, capacity, members int) error
	// Audit counts the truth for concerts 1..concerts right now.
	Audit(ctx context.Context, concerts int) (Counts, error)
}

// SeatedEnv is an Env that can give the concerts it resets numbered seats
// (--seats-per-row): the requests, which name no seats, then each get the
// best available seat.
type SeatedEnv interface {
	Env
	Seated(perRow int)
}

// Counts is what Env.Audit sees, summed over the audited concerts.
type Counts struct {
	Capacity    int64 // total seats
	RedisTaken  int64 // capacity - sum of Redis stock  (seats taken according to Redis)
	Rows        int64 // active reservation rows in MySQL (status HELD/CONFIRMED)
	InFlight    int64 // reservations accepted but not yet written (writer lag)
	Duplicates  int64 // (concert, member) pairs with more than one active row
	DBRemaining int64 // sum of concerts.remaining in MySQL
}

// Audit is the verdict on one strategy's run, computed by audit from Counts.
type Audit struct {
	Capacity   int64 `json:"capacity"`
	Rows       int64 `json:"rows"`
	RedisTaken int64 `json:"redis_taken"`
	InFlight   int64 `json:"in_flight"`
	DBTaken    int64 `json:"db_taken"`
	// Oversold is max(0, rows − capacity, redis_taken − capacity).
	Oversold int64 `json:"oversold"`
	// Leaked is redis_taken − rows − in_flight when positive: seats gone from
	// Redis with no reservation anywhere to show for them.
	Leaked     int64 `json:"leaked"`
	Duplicates int64 `json:"duplicates"`
	// DBMismatch is db_taken − rows: concerts.remaining disagrees with the rows.
	DBMismatch int64 `json:"db_mismatch"`
	// Lost is accepted − rows − in_flight when positive: 2xx answers with no
	// active reservation (a permanent writer failure returns the seat and
	// shows up here too).
	Lost int64 `json:"lost"`
	// OK is true when the invariants hold: no oversell, no leak, no duplicate.
	OK bool `json:"ok"`
	// Problems explains each broken invariant; Warnings each other anomaly.
	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

// audit judges counts taken after the drain. accepted is the number of 2xx
// answers the client saw. It is pure so that its arithmetic can be tested on
// planted faults.
func audit(c Counts, accepted int64) Audit {
	a := Audit{
		Capacity:   c.Capacity,
		Rows:       c.Rows,
		RedisTaken: c.RedisTaken,
		InFlight:   c.InFlight,
		DBTaken:    c.Capacity - c.DBRemaining,
		Duplicates: c.Duplicates,
		Problems:   []string{},
		Warnings:   []string{},
	}
	a.Oversold = max(0, c.Rows-c.Capacity, c.RedisTaken-c.Capacity)
	a.Leaked = max(0, c.RedisTaken-c.Rows-c.InFlight)
	a.DBMismatch = a.DBTaken - c.Rows
	a.Lost = max(0, accepted-c.Rows-c.InFlight)

	if c.Rows > c.Capacity {
		a.Problems = append(a.Problems, fmt.Sprintf("oversold: %d active reservations for %d seats", c.Rows, c.Capacity))
	}
	if c.RedisTaken > c.Capacity {
		a.Problems = append(a.Problems, fmt.Sprintf("Redis stock below zero: %d seats taken of %d", c.RedisTaken, c.Capacity))
	}
	if a.Leaked > 0 {
		a.Problems = append(a.Problems, fmt.Sprintf("leaked: %d seats taken in Redis with no reservation (%d taken, %d rows, %d in flight)",
			a.Leaked, c.RedisTaken, c.Rows, c.InFlight))
	}
	if c.Duplicates > 0 {
		a.Problems = append(a.Problems, fmt.Sprintf("duplicates: %d (concert, member) pairs hold more than one active reservation", c.Duplicates))
	}
	if a.DBMismatch != 0 {
		a.Warnings = append(a.Warnings, fmt.Sprintf("concerts.remaining says %d seats taken, rows say %d", a.DBTaken, c.Rows))
	}
	if a.Lost > 0 {
		a.Warnings = append(a.Warnings, fmt.Sprintf("lost: %d accepted answers with no active reservation", a.Lost))
	}
	if c.InFlight > 0 {
		a.Warnings = append(a.Warnings, fmt.Sprintf("%d reservations still in flight at the audit", c.InFlight))
	}
	a.OK = len(a.Problems) == 0
	return a
}

// sample is one Env.Audit reading.
type sample struct {
	at time.Time
	c  Counts
}

// sampler reads Env.Audit at a fixed interval while a load runs and while it
// drains, so that the moment the last row landed is known to one interval.
type sampler struct {
	env      Env
	concerts int
	every    time.Duration

	mu      sync.Mutex
	samples []sample
	errs    int
	lastErr error

	stop chan struct{}
	done chan struct{}
}

func startSampler(ctx context.Context, env Env, concerts int, every time.Duration) *sampler {
	s := &sampler{env: env, concerts: concerts, every: every, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take(ctx)
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// take reads the counts once and keeps them.
func (s *sampler) take(ctx context.Context) (sample, bool) {
	c, err := s.env.Audit(ctx, s.concerts)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		s.lastErr = err
		return sample{}, false
	}
	sm := sample{at: now, c: c}
	s.samples = append(s.samples, sm)
	return sm, true
}

// drainResult is what the drain found.
type drainResult struct {
	final     Counts
	drained   bool      // in-flight reached zero and rows stopped changing
	settledAt time.Time // first sample from which nothing changed any more
	samples   []sample
	errs      int
	lastErr   error
}

// drain stops the background sampling and keeps reading until two readings
// after loadEnd show nothing in flight and the same rows, or timeout passes.
func (s *sampler) drain(ctx context.Context, loadEnd time.Time, timeout time.Duration) drainResult {
	close(s.stop)
	<-s.done
	deadline := time.Now().Add(timeout)
	var prev *sample
	var res drainResult
	for {
		if sm, ok := s.take(ctx); ok && !sm.at.Before(loadEnd) {
			if prev != nil && prev.c.InFlight == 0 && sm.c.InFlight == 0 && prev.c.Rows == sm.c.Rows {
				res.drained = true
				break
			}
			prev = &sm
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.every):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res.samples = s.samples
	res.errs, res.lastErr = s.errs, s.lastErr
	if len(s.samples) > 0 {
		res.final = s.samples[len(s.samples)-1].c
		res.settledAt = settledAt(s.samples)
	}
	return res
}

// settledAt is the time of the earliest sample from which on every sample has
// nothing in flight and the final rows: when the last row landed, to one
// sampling interval. With writes still in flight it is the last sample.
func settledAt(samples []sample) time.Time {
	last := samples[len(samples)-1]
	at := last.at
	for i := len(samples) - 1; i >= 0; i-- {
		c := samples[i].c
		if c.InFlight != 0 || c.Rows != last.c.Rows {
			break
		}
		at = samples[i].at
	}
	return at
}

// persistedSeries spreads the sampled rows over the seconds of a run: the
// rows persisted during second t is rows(end of t) − rows(end of t−1), each
// read from the last sample before that instant.
func persistedSeries(samples []sample, start time.Time, seconds int) []int64 {
	out := make([]int64, seconds)
	var prev int64
	j := -1
	for t := range seconds {
		end := start.Add(time.Duration(t+1) * time.Second)
		for j+1 < len(samples) && samples[j+1].at.Before(end) {
			j++
		}
		var rows int64
		if j >= 0 {
			rows = samples[j].c.Rows
		}
		out[t] = rows - prev
		prev = rows
	}
	return out
}
