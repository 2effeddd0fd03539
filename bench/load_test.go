package bench

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func testLoad(t *testing.T, target string, maxConns int) *load {
	t.Helper()
	c, err := newClient([]string{target}, maxConns, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &load{
		c:    c,
		rec:  newRecorder(0),
		seed: 1,
		next: func(i int64, _ *rand.Rand) request { return reservation(strategyAsync, 1, int(i)+1) },
	}
}

// A server that handles one request at a time, 10 ms each, gets 200/s for
// 0.5 s: 100 requests, twice what it can serve. The open model must still
// send them on schedule, and their latency must show the queue that builds.
func TestOpenModelKeepsRateAndMeasuresQueueing(t *testing.T) {
	const handlerTime = 10 * time.Millisecond
	var (
		serial   sync.Mutex
		arrivals []time.Time
		arrMu    sync.Mutex
	)
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		arrMu.Lock()
		arrivals = append(arrivals, time.Now())
		arrMu.Unlock()
		serial.Lock()
		time.Sleep(handlerTime)
		serial.Unlock()
		ctx.SetStatusCode(201)
	})
	l := testLoad(t, target, 1000)
	start := time.Now()
	runOpen(context.Background(), l, 200, 500*time.Millisecond, 1000)
	st := l.rec.stats()

	if st.sent != 100 || st.requests != 100 || st.dropped != 0 {
		t.Fatalf("sent %d, finished %d, dropped %d; want 100, 100, 0", st.sent, st.requests, st.dropped)
	}
	arrMu.Lock()
	onTime := 0
	for _, a := range arrivals {
		if a.Sub(start) < 650*time.Millisecond {
			onTime++
		}
	}
	arrMu.Unlock()
	// At the server's pace only ~65 would have arrived by then.
	if onTime < 95 {
		t.Errorf("%d of 100 requests reached the server within 0.65 s; the open model was throttled to the server's pace", onTime)
	}
	// The last requests wait for ~50 before them: about half a second.
	if p99 := st.latency.P99; p99 < 20*ms(handlerTime) {
		t.Errorf("p99 %.1f ms, want well above the %v handler time: queueing is not measured", p99, handlerTime)
	}
	if st.accepted != 100 {
		t.Errorf("accepted %d, want 100", st.accepted)
	}
}

// When the in-flight cap is reached, the requests due are counted as
// dropped, not sent late.
func TestOpenModelDropsAtInFlightCap(t *testing.T) {
	var cur, peak atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		cur.Add(-1)
		ctx.SetStatusCode(202)
	})
	l := testLoad(t, target, 5)
	runOpen(context.Background(), l, 200, 200*time.Millisecond, 5)
	st := l.rec.stats()
	if st.sent+st.dropped != 40 {
		t.Errorf("sent %d + dropped %d, want 40 due", st.sent, st.dropped)
	}
	if st.dropped == 0 {
		t.Error("no request dropped although the cap of 5 was hit")
	}
	if p := peak.Load(); p > 5 {
		t.Errorf("%d requests in flight at once, cap is 5", p)
	}
}

// Closed model: never more requests in flight than VUs, and it does reach
// the full number.
func TestClosedModelNeverExceedsVUs(t *testing.T) {
	const vus = 8
	var cur, peak atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(3 * time.Millisecond)
		cur.Add(-1)
		ctx.SetStatusCode(202)
	})
	l := testLoad(t, target, 1000) // the client would allow far more
	start := time.Now()
	runClosed(context.Background(), l, rampStages(vus, 100*time.Millisecond, 300*time.Millisecond))
	if el := time.Since(start); el < 500*time.Millisecond || el > 2*time.Second {
		t.Errorf("run took %v, want about 500ms (ramp + hold + ramp)", el)
	}
	if p := peak.Load(); p > vus {
		t.Errorf("%d requests in flight at once with %d VUs", p, vus)
	} else if p < vus-2 {
		t.Errorf("at most %d requests in flight, the ramp never reached %d VUs", p, vus)
	}
	if st := l.rec.stats(); st.requests < 100 {
		t.Errorf("only %d requests in 0.5 s with %d VUs and a 3 ms server", st.requests, vus)
	}
}

func TestClosedModelStopsAtRequestCap(t *testing.T) {
	var n atomic.Int64
	target := serve(t, func(ctx *fasthttp.RequestCtx) { n.Add(1); ctx.SetStatusCode(201) })
	l := testLoad(t, target, 100)
	l.limit = 50
	runClosed(context.Background(), l, rampStages(10, 0, 5*time.Second))
	if got := n.Load(); got != 50 {
		t.Errorf("server saw %d requests, cap was 50", got)
	}
}

func TestVusAt(t *testing.T) {
	st := rampStages(100, 10*time.Second, 30*time.Second)
	for _, tc := range []struct {
		at   time.Duration
		want int
		done bool
	}{
		{0, 0, false},
		{5 * time.Second, 50, false},
		{10 * time.Second, 100, false},
		{25 * time.Second, 100, false},
		{40 * time.Second, 100, false},
		{45 * time.Second, 50, false},
		{50 * time.Second, 0, true},
	} {
		if got, done := vusAt(st, tc.at); got != tc.want || done != tc.done {
			t.Errorf("vusAt(%v) = %d, %v; want %d, %v", tc.at, got, done, tc.want, tc.done)
		}
	}
	// No ramp: full at once.
	if got, _ := vusAt(rampStages(30, 0, time.Second), 0); got != 30 {
		t.Errorf("no ramp: %d VUs at 0, want 30", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		err    error
		kind   outcome
		code   string
	}{
		{202, `{"reservationId":"1"}`, nil, accepted, ""},
		{201, ``, nil, accepted, ""},
		{409, `{"error":"sold_out","message":"x"}`, nil, rejected, "sold_out"},
		{409, `{"error":"already_reserved"}`, nil, rejected, "already_reserved"},
		{409, `not json`, nil, rejected, "unknown"},
		{503, `{"error":"lock_timeout"}`, nil, failed, "503/lock_timeout"},
		{500, ``, nil, failed, "500/unknown"},
		{404, `{"error":"Concert Not Found!"}`, nil, failed, "404/concert_not_found_"},
		{0, ``, fasthttp.ErrTimeout, failed, "conn/timeout"},
		{0, ``, syscall.ECONNREFUSED, failed, "conn/refused"},
		{0, ``, io.EOF, failed, "conn/closed"},
		{0, ``, errors.New("odd"), failed, "conn/error"},
	} {
		kind, code := classify(tc.status, []byte(tc.body), tc.err)
		if kind != tc.kind || code != tc.code {
			t.Errorf("classify(%d, %q, %v) = %d, %q; want %d, %q", tc.status, tc.body, tc.err, kind, code, tc.kind, tc.code)
		}
	}
}

func TestRecorderSeries(t *testing.T) {
	r := newRecorder(2)
	t0 := time.Now()
	r.begin(t0)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * 600 * time.Millisecond)
		r.noteSent(at)
		kind := accepted
		if i >= 2 {
			kind = rejected
		}
		r.record(result{done: at, latency: time.Duration(i+1) * time.Millisecond, kind: kind, code: "sold_out"})
	}
	st := r.stats()
	if len(st.series) != 3 {
		t.Fatalf("%d seconds, want 3", len(st.series))
	}
	if got := st.series[0].Requests + st.series[1].Requests + st.series[2].Requests; got != 5 {
		t.Errorf("series counts %d requests, want 5", got)
	}
	if want := t0.Add(600 * time.Millisecond); !st.capacityAt.Equal(want) {
		t.Errorf("capacity reached at %v, want the second accept", st.capacityAt.Sub(t0))
	}
	if want := t0.Add(1200 * time.Millisecond); !st.firstSoldOut.Equal(want) {
		t.Errorf("first sold_out at %v, want 1.2s", st.firstSoldOut.Sub(t0))
	}
	if st.latency.Max < 4.9 || st.latency.P50 < 2.9 || st.latency.P50 > 3.1 {
		t.Errorf("latency %+v, want p50 3 ms, max 5 ms", st.latency)
	}
	for i := range 100 {
		countCode(st.errorsBy, "code"+strconv.Itoa(i))
	}
	if len(st.errorsBy) > maxCodes+1 {
		t.Errorf("%d distinct codes kept, want at most %d", len(st.errorsBy), maxCodes+1)
	}
}
