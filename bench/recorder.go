package bench

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in microseconds. 1 µs to 10 minutes covers any request
// a run can make (the timeout is at most an hour but a run that slow is
// broken anyway; longer values are clamped and still counted).
const (
	histMinUs   = 1
	histMaxUs   = int64(10 * time.Minute / time.Microsecond)
	histSigFigs = 3
	// Per-second histograms only feed charts; two significant figures keep
	// each one at a few kilobytes.
	secondSigFigs = 2
	// maxSeconds bounds the time series (a 24 h run is the longest allowed).
	maxSeconds = int(maxRunTime/time.Second) + 3600
	// maxCodes bounds the distinct codes counted; the rest count as "other".
	maxCodes = 64
)

// result is one finished request.
type result struct {
	done    time.Time     // when the answer (or the error) came back
	latency time.Duration // done − scheduled send time (open) or done − send (closed)
	kind    outcome
	code    string
	concert int
	id      string // reservation id of a 2xx answer, with --ids
}

// second holds one second of a run, by completion time.
type second struct {
	sent, requests, accepted, rejected, errors, dropped int64
	hist                                                *hdrhistogram.Histogram
}

// recorder collects the outcome of one load. It is safe for concurrent use.
type recorder struct {
	// onResult, when set, sees every result after it is counted (outside the lock).
	onResult func(result)

	mu         sync.Mutex
	start      time.Time
	hist       *hdrhistogram.Histogram
	secs       []second
	sent       int64
	requests   int64
	accepted   int64
	rejected   int64
	errors     int64
	dropped    int64
	rejectedBy map[string]int64
	errorsBy   map[string]int64
	lastDone   time.Time
	lastOK     time.Time
	// capacity > 0 makes the recorder note when the accepted count reaches it.
	capacity     int64
	capacityAt   time.Time
	firstSoldOut time.Time
	// ids are the reservation ids of the 2xx answers (with --ids).
	ids []string
}

func newRecorder(capacity int64) *recorder {
	return &recorder{
		hist:       hdrhistogram.New(histMinUs, histMaxUs, histSigFigs),
		rejectedBy: map[string]int64{},
		errorsBy:   map[string]int64{},
		capacity:   capacity,
	}
}

// begin sets time zero of the run (the first scheduled send).
func (r *recorder) begin(t time.Time) {
	r.mu.Lock()
	if r.start.IsZero() {
		r.start = t
	}
	r.mu.Unlock()
}

// sec returns the bucket of t; r.mu must be held.
func (r *recorder) sec(t time.Time) *second {
	i := int(t.Sub(r.start) / time.Second)
	if i < 0 {
		i = 0
	}
	if i >= maxSeconds {
		i = maxSeconds - 1
	}
	for len(r.secs) <= i {
		r.secs = append(r.secs, second{})
	}
	return &r.secs[i]
}

// noteSent counts a request leaving at t.
func (r *recorder) noteSent(t time.Time) {
	r.mu.Lock()
	r.sent++
	r.sec(t).sent++
	r.mu.Unlock()
}

// drop counts a request that was due at t but not sent because too many were
// outstanding.
func (r *recorder) drop(t time.Time) {
	r.mu.Lock()
	r.dropped++
	r.sec(t).dropped++
	r.mu.Unlock()
}

func latencyUs(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	return min(max(us, histMinUs), histMaxUs)
}

// record counts one finished request.
func (r *recorder) record(res result) {
	us := latencyUs(res.latency)
	r.mu.Lock()
	r.requests++
	_ = r.hist.RecordValue(us) // in range by construction
	s := r.sec(res.done)
	s.requests++
	if s.hist == nil {
		s.hist = hdrhistogram.New(histMinUs, histMaxUs, secondSigFigs)
	}
	_ = s.hist.RecordValue(us)
	if res.done.After(r.lastDone) {
		r.lastDone = res.done
	}
	switch res.kind {
	case accepted:
		r.accepted++
		s.accepted++
		if res.done.After(r.lastOK) {
			r.lastOK = res.done
		}
		if r.capacity > 0 && r.accepted == r.capacity {
			r.capacityAt = res.done
		}
		if res.id != "" {
			r.ids = append(r.ids, res.id)
		}
	case rejected:
		r.rejected++
		s.rejected++
		countCode(r.rejectedBy, res.code)
		if res.code == "sold_out" && (r.firstSoldOut.IsZero() || res.done.Before(r.firstSoldOut)) {
			r.firstSoldOut = res.done
		}
	default:
		r.errors++
		s.errors++
		countCode(r.errorsBy, res.code)
	}
	r.mu.Unlock()
	if r.onResult != nil {
		r.onResult(res)
	}
}

func countCode(m map[string]int64, code string) {
	if _, ok := m[code]; !ok && len(m) >= maxCodes {
		code = "other"
	}
	m[code]++
}

// progressSnap is what the progress line shows.
type progressSnap struct {
	elapsed                                   time.Duration
	sent, accepted, rejected, errors, dropped int64
	p99                                       time.Duration
}

func (r *recorder) snapshot(now time.Time) progressSnap {
	r.mu.Lock()
	defer r.mu.Unlock()
	var el time.Duration
	if !r.start.IsZero() {
		el = now.Sub(r.start)
	}
	return progressSnap{
		elapsed: el, sent: r.sent, accepted: r.accepted, rejected: r.rejected,
		errors: r.errors, dropped: r.dropped,
		p99: time.Duration(r.hist.ValueAtQuantile(99)) * time.Microsecond,
	}
}

// loadStats is the summary of a finished load.
type loadStats struct {
	start, lastDone, lastOK, capacityAt, firstSoldOut time.Time

	sent, requests, accepted, rejected, errors, dropped int64
	rejectedBy, errorsBy                                map[string]int64
	latency                                             Latency
	series                                              []Second
	ids                                                 []string
}

func (r *recorder) stats() loadStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := loadStats{
		start: r.start, lastDone: r.lastDone, lastOK: r.lastOK,
		capacityAt: r.capacityAt, firstSoldOut: r.firstSoldOut,
		sent: r.sent, requests: r.requests, accepted: r.accepted, rejected: r.rejected,
		errors: r.errors, dropped: r.dropped,
		rejectedBy: maps.Clone(r.rejectedBy), errorsBy: maps.Clone(r.errorsBy),
		latency: latencyOf(r.hist),
		series:  make([]Second, len(r.secs)),
		ids:     slices.Clone(r.ids),
	}
	for i, s := range r.secs {
		st.series[i] = Second{
			T: i, Sent: s.sent, Requests: s.requests, Accepted: s.accepted,
			Rejected: s.rejected, Errors: s.errors, Dropped: s.dropped,
		}
		if s.hist != nil {
			st.series[i].P50Ms = usToMs(s.hist.ValueAtQuantile(50))
			st.series[i].P99Ms = usToMs(s.hist.ValueAtQuantile(99))
		}
	}
	return st
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50:  usToMs(h.ValueAtQuantile(50)),
		P95:  usToMs(h.ValueAtQuantile(95)),
		P99:  usToMs(h.ValueAtQuantile(99)),
		P999: usToMs(h.ValueAtQuantile(99.9)),
		Max:  usToMs(h.Max()),
		Mean: h.Mean() / 1000,
	}
}

func usToMs(us int64) float64 { return float64(us) / 1000 }
