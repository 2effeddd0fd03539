package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/api/apitest"
)

func TestBucketsTakeAndSweep(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	b := newBuckets[int64](Rate{PerSecond: 1, Burst: 3})
	for i := range 3 {
		if ok, _ := b.take(7, now); !ok {
			t.Fatalf("take %d of a burst of 3 refused", i+1)
		}
	}
	ok, wait := b.take(7, now)
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th take: ok %v wait %s, want refused with a wait of up to 1 s", ok, wait)
	}
	// A refusal takes nothing: a second later one token is there.
	if ok, _ := b.take(7, now.Add(time.Second)); !ok {
		t.Fatal("a refused take used up a token")
	}
	if ok, _ := b.take(8, now); !ok {
		t.Fatal("another key shares the bucket")
	}
	// A second on, 8's bucket is full again (2 + 1) and 7's is empty.
	if left := b.sweep(now.Add(time.Second)); left != 1 {
		t.Fatalf("sweep with one bucket full, one short: %d left, want 1", left)
	}
	if left := b.sweep(now.Add(10 * time.Second)); left != 0 {
		t.Fatalf("sweep once both are full again: %d left, want 0", left)
	}
	var off *buckets[int64] = newBuckets[int64](Rate{})
	if ok, _ := off.take(7, now); !ok || off != nil {
		t.Fatal("a zero rate limits")
	}
}

func TestClientAddr(t *testing.T) {
	peer := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 4000} }
	cases := []struct {
		name, header, value, peer, want string
	}{
		{"peer without a header setting", "", "", "10.0.0.9", "10.0.0.9"},
		{"a header nobody asked for is ignored", "", "1.2.3.4", "10.0.0.9", "10.0.0.9"},
		{"X-Real-IP", "X-Real-IP", "1.2.3.4", "10.0.0.9", "1.2.3.4"},
		{"X-Forwarded-For: the proxy's own entry is the last", "X-Forwarded-For", "6.6.6.6, 1.2.3.4", "10.0.0.9", "1.2.3.4"},
		{"junk in the header falls back to the peer", "X-Real-IP", "not-an-address", "10.0.0.9", "10.0.0.9"},
		{"IPv6 is keyed by its /64", "", "", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::"},
		{"IPv4-mapped IPv6 is IPv4", "", "", "::ffff:10.0.0.9", "10.0.0.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var req fasthttp.Request
			req.Header.Set("X-Real-IP", c.value)
			req.Header.Set("X-Forwarded-For", c.value)
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, peer(c.peer), nil)
			l := newLimiter(Limits{Address: Rate{PerSecond: 1, Burst: 1}, ClientIPHeader: c.header})
			if got := l.clientAddr(&ctx); got != netip.MustParseAddr(c.want) {
				t.Errorf("clientAddr = %s, want %s", got, c.want)
			}
		})
	}
}

// gatedStrategy admits every request, each waiting for gate to close (or
// not at all when gate is nil), and counts calls.
type gatedStrategy struct {
	calls atomic.Int64
	gate  chan struct{}
}

func (g *gatedStrategy) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	g.calls.Add(1)
	if g.gate != nil {
		select {
		case <-g.gate:
		case <-ctx.Done():
			return Reservation{}, ctx.Err()
		}
	}
	// A real id: the answer is validated against api/openapi.yaml.
	return Reservation{ID: newID(time.Now()), Status: boxoffice.StatusPending}, nil
}

func edgeServer(t *testing.T, s Strategy, l Limits, e Edge) string {
	t.Helper()
	srv := NewServer(Options{
		Routes:  []Route{{Name: "async", Strategy: s, Success: http.StatusAccepted}},
		Metrics: NewMetrics(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024,
		Limits: l, Edge: e,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return ln.Addr().String()
}

type edgeAnswer struct {
	status     int
	body       string
	retryAfter string
}

func post(t *testing.T, addr string, member int) edgeAnswer {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/api/reservations/async", "application/json",
		strings.NewReader(fmt.Sprintf(`{"concertId":1,"memberId":%d}`, member)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return edgeAnswer{resp.StatusCode, string(b), resp.Header.Get("Retry-After")}
}

// Past a bucket's burst: 429 rate_limited with a Retry-After of whole
// seconds, and the strategy (the seat) never asked.
func TestRateLimits(t *testing.T) {
	cases := []struct {
		name    string
		limits  Limits
		members []int // members of the requests, in order
		want    []int // their statuses
	}{
		{"per member", Limits{Member: Rate{PerSecond: 0.5, Burst: 2}}, []int{7, 7, 7, 8}, []int{202, 202, 429, 202}},
		{"per address", Limits{Address: Rate{PerSecond: 0.5, Burst: 2}}, []int{1, 2, 3, 4}, []int{202, 202, 429, 429}},
		{"off", Limits{}, []int{7, 7, 7, 7}, []int{202, 202, 202, 202}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &gatedStrategy{}
			addr := edgeServer(t, s, c.limits, Edge{})
			admitted := int64(0)
			for i, m := range c.members {
				a := post(t, addr, m)
				if a.status != c.want[i] {
					t.Fatalf("request %d (member %d): %d %s, want %d", i+1, m, a.status, a.body, c.want[i])
				}
				if a.status == http.StatusAccepted {
					admitted++
					continue
				}
				if !strings.Contains(a.body, `"rate_limited"`) {
					t.Errorf("request %d: body %s, want rate_limited", i+1, a.body)
				}
				if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 || n > 2 {
					t.Errorf("request %d: Retry-After %q, want 1 or 2 s", i+1, a.retryAfter)
				}
			}
			if got := s.calls.Load(); got != admitted {
				t.Errorf("strategy called %d times for %d admitted requests", got, admitted)
			}
		})
	}
}

// Past MaxAdmissions in flight, a reservation is told 503 overloaded at
// once, and the next one after the others finish goes through.
func TestOverloadedAtOnce(t *testing.T) {
	s := &gatedStrategy{gate: make(chan struct{})}
	addr := edgeServer(t, s, Limits{}, Edge{MaxAdmissions: 2})
	results := make(chan edgeAnswer, 2)
	for m := range 2 {
		go func() { results <- post(t, addr, m+1) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	a := post(t, addr, 3)
	if took := time.Since(start); a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"overloaded"`) || a.retryAfter != "1" || took > time.Second {
		t.Fatalf("third request while two are admitted: %d %s Retry-After %q in %s, want 503 overloaded, Retry-After 1, at once", a.status, a.body, a.retryAfter, took)
	}
	close(s.gate)
	for range 2 {
		if a := <-results; a.status != http.StatusAccepted {
			t.Errorf("an admitted request: %d %s", a.status, a.body)
		}
	}
	if a := post(t, addr, 4); a.status != http.StatusAccepted {
		t.Errorf("after the others finished: %d %s, want 202", a.status, a.body)
	}
	if got := s.calls.Load(); got != 3 {
		t.Errorf("strategy called %d times, want 3 (the refused one never)", got)
	}
}

// rawExchange writes req on a fresh connection and reads until the server
// answers or closes, within limit.
func rawExchange(t *testing.T, addr, req string, limit time.Duration) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	if _, err := io.WriteString(c, req); err != nil {
		return "", true
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", true
	}
	return strings.TrimSpace(line), false
}

func TestEdgeCutsSlowAndOversizedRequests(t *testing.T) {
	addr := edgeServer(t, &gatedStrategy{}, Limits{}, Edge{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})

	// A header that never ends: answered 408 (or cut) at the header timeout.
	start := time.Now()
	status, closed := rawExchange(t, addr, "POST /api/reservations/async HTTP/1.1\r\nHost: x\r\nX-Slow: a", 3*time.Second)
	if took := time.Since(start); took > 2*time.Second || (!closed && !strings.Contains(status, " 408 ")) {
		t.Errorf("unfinished header: %q (closed %v) after %s, want 408 or a close within ~300 ms", status, closed, took)
	}

	// 64 KiB of header: 431 header_too_large, not a 400 that blames the JSON.
	big := "POST /api/reservations/async HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	if status, _ := rawExchange(t, addr, big, 3*time.Second); !strings.Contains(status, " 431 ") {
		t.Errorf("64 KiB header: %q, want 431", status)
	}

	// An idle keep-alive connection is closed at the idle timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start = time.Now()
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("an idle connection got data")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("idle connection still open after %s, want closed at ~300 ms", took)
	}
}

// Past MaxConnsPerAddress, a connection is answered 429 and closed.
func TestConnectionsPerAddress(t *testing.T) {
	addr := edgeServer(t, &gatedStrategy{}, Limits{}, Edge{MaxConnsPerAddress: 2})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// fasthttp counts a connection when it accepts it: give it a moment.
	time.Sleep(100 * time.Millisecond)
	if status, _ := rawExchange(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 3*time.Second); !strings.Contains(status, " 429 ") {
		t.Errorf("third connection: %q, want 429", status)
	}
}

// fasthttp's own log lines (a line per unparsable request) are written at
// most once a second, with a count of those left out.
func TestServerLogIsSampled(t *testing.T) {
	var buf strings.Builder
	l := &slogPrintf{l: slog.New(slog.NewTextHandler(&buf, nil))}
	for i := range 100 {
		l.Printf("error when serving connection %d", i)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("100 lines within a second wrote %d:\n%s", n, buf.String())
	}
	l.next.Store(0) // a second later
	l.Printf("one more")
	if !strings.Contains(buf.String(), "similar_lines_left_out=99") {
		t.Fatalf("the next line does not count the 99 left out:\n%s", buf.String())
	}
}

// fullListener fails its first Accepts with EMFILE, then hands out conn.
type fullListener struct {
	net.Listener
	fails int
	conn  net.Conn
}

func (l *fullListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.conn, nil
}

// A full file table is waited out, not the end of serving (fasthttp returns
// from Serve on it); any other error still ends Accept.
func TestListenerEnduresFullFileTable(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l := enduringListener{Listener: &fullListener{fails: 3, conn: a}, log: &slogPrintf{l: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	c, err := l.Accept()
	if err != nil || c != a {
		t.Fatalf("Accept after three EMFILEs: %v, %v", c, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := (enduringListener{Listener: ln, log: l.log}).Accept(); err == nil {
		t.Fatal("a closed listener's Accept did not fail")
	}
}
