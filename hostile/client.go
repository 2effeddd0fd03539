package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/boxoffice/boxoffice/auth"
)

// Source addresses. Linux routes all of 127.0.0.0/8 to the loopback, so a
// socket bound to 127.0.0.x before it connects is a client of its own to
// the gateway's per-address limits; the gateway listens on 127.0.0.1.
const (
	controlHost  = 1 // the harness's own requests
	floodHost    = 2 // one address flooding the API
	connsHost    = 3 // more connections than one address may have
	singlesHost  = 4 // the input, token and payment attacks' single requests
	wellFirst    = 5 // the well-behaved client: 127.0.0.5 … 127.0.0.8
	wellHosts    = 4
	loopHost     = 9   // one member reserving in a tight loop
	overFirst    = 10  // the overload burst: 127.0.0.10 …
	overHosts    = 100 // … 127.0.0.109
	connFirst    = 10  // the slow and idle connections: 127.0.0.10 …
	connLastHost = 254 // … 127.0.0.254
)

// Members: the well-behaved client's from 1, the attacks' from here.
const attackMembers = 5_000_000

func hostIP(n int) net.IP { return net.IPv4(127, 0, 0, byte(n)) }

// memberIDs hands out fresh members.
type memberIDs struct{ next int64 }

func (m *memberIDs) take() int64 { return atomic.AddInt64(&m.next, 1) }

// dialer connects from a source address.
func dialer(host int) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: hostIP(host)}, Timeout: 5 * time.Second}
}

// newClient is an HTTP client whose connections come from 127.0.0.host.
func newClient(host, conns int, timeout time.Duration) *http.Client {
	d := dialer(host)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
	}}
}

// answer is what one request got.
type answer struct {
	status     int
	code       string // the JSON error's "error", "text" for another body, "" for none
	retryAfter string
	body       []byte
	err        error
}

// key names the answer in a status histogram: "202", "401/unauthorized",
// "429/text", "conn/closed".
func (a answer) key() string {
	if a.err != nil {
		return "conn/" + connError(a.err)
	}
	s := strconv.Itoa(a.status)
	if a.code != "" {
		s += "/" + a.code
	}
	return s
}

// message is the answer's JSON message, or the start of its body.
func (a answer) message() string {
	if a.err != nil {
		return a.err.Error()
	}
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(a.body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(a.body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// connError classifies a transport error.
func connError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EMFILE):
		return "local"
	}
	return "error"
}

// readAnswer fills an answer from a response.
func readAnswer(resp *http.Response) answer {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b}
	var e struct {
		Error string `json:"error"`
	}
	switch {
	case len(bytes.TrimSpace(b)) == 0:
	case json.Unmarshal(b, &e) == nil && e.Error != "":
		a.code = e.Error
	case resp.StatusCode >= 400:
		a.code = "text"
	}
	return a
}

// do sends one request with c.
func do(ctx context.Context, c *http.Client, method, url, body string, header map[string]string) answer {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	return readAnswer(resp)
}

// raw writes request bytes as they are on a new connection from host and
// reads one response: for what net/http would refuse to send.
func raw(ctx context.Context, host int, target string, request []byte) answer {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := dialer(host).DialContext(ctx, "tcp", target)
	if err != nil {
		return answer{err: err}
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// Written in the background: a server that answers before it read the
	// whole request (431 on a huge header) may reset the rest of the write.
	go func() { _, _ = conn.Write(request) }()
	return readOne(conn)
}

// readOne reads one response from conn.
func readOne(conn net.Conn) answer {
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return answer{err: err}
	}
	return readAnswer(resp)
}

// bearer is the Authorization header of a token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// reservedID is the reservation id of a 202's body.
func reservedID(a answer) string {
	var r struct {
		ReservationID string `json:"reservationId"`
	}
	_ = json.Unmarshal(a.body, &r)
	return r.ReservationID
}

// Latency is the well-behaved client's account of a span of time.
type Latency struct {
	Sent     int64            `json:"sent"`
	Dropped  int64            `json:"dropped"`
	Statuses map[string]int64 `json:"statuses"`
	P50Ms    float64          `json:"p50_ms"`
	P99Ms    float64          `json:"p99_ms"`
	MaxMs    float64          `json:"max_ms"`
}

// span collects one phase's requests.
type span struct {
	hist          *hdrhistogram.Histogram
	sent, dropped int64
	statuses      map[string]int64
}

func newSpan() *span {
	return &span{hist: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3), statuses: map[string]int64{}}
}

func (s *span) latency() Latency {
	ms := func(us int64) float64 { return round2(float64(us) / 1000) }
	l := Latency{Sent: s.sent, Dropped: s.dropped, Statuses: map[string]int64{}}
	for k, v := range s.statuses {
		l.Statuses[k] = v
	}
	if s.hist.TotalCount() > 0 {
		l.P50Ms, l.P99Ms, l.MaxMs = ms(s.hist.ValueAtQuantile(50)), ms(s.hist.ValueAtQuantile(99)), ms(s.hist.Max())
	}
	return l
}

// wellBehaved is the client every attack must leave alone: an open model
// at a constant rate, each request a new member with a valid token
// reserving a seat of concert 2, spread over a few source addresses so
// that it stays well within the per-address rate. Latency counts from
// each request's scheduled time, so a stalled gateway cannot hide its queue.
type wellBehaved struct {
	target  string
	secret  []byte
	rate    float64
	clients []*http.Client
	member  atomic.Int64
	// outstanding bounds the requests in flight; one due beyond it is
	// dropped (counted), not sent late.
	outstanding atomic.Int64
	wg          sync.WaitGroup

	mu    sync.Mutex
	phase string
	spans map[string]*span
	all   *span
	ids   []string
}

const wellMaxOutstanding = 1000

func newWellBehaved(target string, secret []byte, rate float64) *wellBehaved {
	w := &wellBehaved{target: target, secret: secret, rate: rate, spans: map[string]*span{}, all: newSpan()}
	for i := range wellHosts {
		w.clients = append(w.clients, newClient(wellFirst+i, 32, 5*time.Second))
	}
	return w
}

// setPhase names the phase the requests scheduled from now on belong to
// ("": between phases, counted only in the total).
func (w *wellBehaved) setPhase(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.phase = name
	if name != "" && w.spans[name] == nil {
		w.spans[name] = newSpan()
	}
}

func (w *wellBehaved) stats(name string) Latency {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.spans[name]; s != nil {
		return s.latency()
	}
	return newSpan().latency()
}

func (w *wellBehaved) total() Latency {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.latency()
}

func (w *wellBehaved) acceptedIDs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.ids...)
}

// run sends until ctx ends, then waits for the answers.
func (w *wellBehaved) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / w.rate)
	start := time.Now()
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			if sleep(ctx, d) != nil {
				break
			}
		} else if ctx.Err() != nil {
			break
		}
		w.mu.Lock()
		phase := w.phase
		w.mu.Unlock()
		if w.outstanding.Load() >= wellMaxOutstanding {
			w.record(phase, func(s *span) { s.dropped++ })
			continue
		}
		w.outstanding.Add(1)
		w.wg.Go(func() {
			defer w.outstanding.Add(-1)
			w.send(due, phase, int(i))
		})
	}
	w.wg.Wait()
}

func (w *wellBehaved) send(due time.Time, phase string, n int) {
	member := w.member.Add(1)
	token, err := auth.Mint(w.secret, member, time.Hour, time.Now())
	if err != nil {
		panic(err) // the secret is ours and long enough
	}
	// Its own timeout, not the run's: a request sent is seen to its end.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a := do(ctx, w.clients[n%len(w.clients)], http.MethodPost, "http://"+w.target+"/api/reservations/async", `{"concertId":2}`, bearer(token))
	lat := time.Since(due)
	id := ""
	if a.status == http.StatusAccepted {
		id = reservedID(a)
	}
	w.record(phase, func(s *span) {
		s.sent++
		s.statuses[a.key()]++
		_ = s.hist.RecordValue(max(1, lat.Microseconds()))
	})
	if id != "" {
		w.mu.Lock()
		w.ids = append(w.ids, id)
		w.mu.Unlock()
	}
}

// record applies f to the phase's span and to the total.
func (w *wellBehaved) record(phase string, f func(*span)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.spans[phase]; s != nil {
		f(s)
	}
	f(w.all)
}

// rssMiB is a process's resident memory (VmRSS of /proc/<pid>/status).
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return round2(kb / 1024), err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}
