package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// load is one stream of requests against the target, counted by one recorder.
type load struct {
	c   *client
	rec *recorder
	// next builds request number i (0-based, in sending order). rng belongs to
	// the caller's goroutine.
	next func(i int64, rng *rand.Rand) request
	// limit caps the number of requests (0: none).
	limit int64
	// stop, when closed, ends the load early (the requests out still finish).
	stop <-chan struct{}
	seed uint64
	// ids: keep the reservation id of every 2xx answer (--ids).
	ids bool
	// started, when set, is told the load's time zero (Hooks.LoadStarted).
	started func(time.Time)
}

// begin sets the load's time zero and tells whoever asked.
func (l *load) begin(start time.Time) {
	l.rec.begin(start)
	if l.started != nil {
		l.started(start)
	}
}

// fire sends one request and records it. from is the instant latency counts
// from: the scheduled send time in the open model, the actual send in the
// closed model.
func (l *load) fire(r request, from time.Time) {
	sent := time.Now()
	if from.IsZero() {
		from = sent
	}
	l.rec.noteSent(sent)
	kind, code, id := l.c.do(r, l.ids)
	done := time.Now()
	l.rec.record(result{done: done, latency: done.Sub(from), kind: kind, code: code, concert: r.concert, id: id})
}

func (l *load) stopped(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-l.stop:
		return true
	default:
		return false
	}
}

// runOpen sends at a constant arrival rate for d (or until limit, stop or
// ctx). Request i is due at start + i/rate and its latency is measured from
// that instant, not from when it actually left: a server that stalls cannot
// make the client send less and hide its queue (no coordinated omission).
// At most maxInFlight requests are outstanding; one due while the cap is hit
// is counted as dropped instead of being sent late.
func runOpen(ctx context.Context, l *load, rate float64, d time.Duration, maxInFlight int) {
	n := int64(math.Floor(rate * d.Seconds()))
	if l.limit > 0 && l.limit < n {
		n = l.limit
	}
	rng := rand.New(rand.NewPCG(l.seed, 0))
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	l.begin(start)
	for i := int64(0); i < n; i++ {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if wait := time.Until(due); wait > 0 {
			// Sleeping overshoots by up to a millisecond; the requests due in
			// the meantime then leave together, each still timed from its due
			// instant.
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			case <-timer.C:
			}
		} else if l.stopped(ctx) {
			return
		}
		r := l.next(i, rng)
		select {
		case slots <- struct{}{}:
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.fire(r, due)
				<-slots
			}()
		default:
			l.rec.drop(due)
		}
	}
}

// stage is one leg of a closed-model run: move linearly to target VUs over d.
type stage struct {
	d      time.Duration
	target int
}

// rampStages is ramp up to vus over ramp, hold, ramp down over ramp.
func rampStages(vus int, ramp, hold time.Duration) []stage {
	return []stage{{ramp, vus}, {hold, vus}, {ramp, 0}}
}

// vusAt is how many VUs should run at elapsed since the start, k6-style:
// each stage moves linearly from the previous stage's target to its own.
// done is true once every stage is over.
func vusAt(stages []stage, elapsed time.Duration) (vus int, done bool) {
	from := 0
	for _, s := range stages {
		if elapsed < s.d {
			return from + int(float64(s.target-from)*float64(elapsed)/float64(s.d)), false
		}
		elapsed -= s.d
		from = s.target
	}
	return from, true
}

// rampTick is how often the closed model adjusts the number of VUs; 2,000 VUs
// over 10 s is 4 new VUs per tick.
const rampTick = 20 * time.Millisecond

// runClosed runs virtual users that each loop request → answer → request,
// their number following stages. VU k runs only while k < the current target,
// so at most max(target) requests are ever outstanding. A VU told to stop
// finishes its request first (k6's graceful ramp-down).
func runClosed(ctx context.Context, l *load, stages []stage) {
	peak := 0
	for _, s := range stages {
		peak = max(peak, s.target)
	}
	var (
		running = make([]atomic.Bool, peak) // slot k has a goroutine
		target  atomic.Int64
		tickets atomic.Int64
		full    = make(chan struct{}) // closed when limit is reached
		once    sync.Once
		wg      sync.WaitGroup
	)
	vu := func(k int) {
		defer wg.Done()
		defer running[k].Store(false)
		rng := rand.New(rand.NewPCG(l.seed, uint64(k)+1))
		for int64(k) < target.Load() && !l.stopped(ctx) {
			i := tickets.Add(1) - 1
			if l.limit > 0 && i >= l.limit {
				once.Do(func() { close(full) })
				return
			}
			l.fire(l.next(i, rng), time.Time{})
		}
	}
	tick := time.NewTicker(rampTick)
	defer tick.Stop()
	start := time.Now()
	l.begin(start)
loop:
	for {
		n, done := vusAt(stages, time.Since(start))
		target.Store(int64(n))
		if done {
			break
		}
		for k := 0; k < n; k++ {
			if !running[k].Load() {
				running[k].Store(true)
				wg.Add(1)
				go vu(k)
			}
		}
		select {
		case <-ctx.Done():
			break loop
		case <-l.stop:
			break loop
		case <-full:
			break loop
		case <-tick.C:
		}
	}
	target.Store(0)
	wg.Wait()
}
