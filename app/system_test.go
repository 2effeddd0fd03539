package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Every exchange of this package's tests with a gateway is validated
// against api/openapi.yaml.
func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

// system is a gateway (and optionally a writer) running in-process against
// the real services, on a database, prefix and topic of its own.
type system struct {
	t      *testing.T
	cfg    config.Config
	url    string
	gw     *app.Gateway
	writer *runningWriter
	db     *store.Store
	stock  *stock.Store
	http   *http.Client
	// stopGateway stops the gateway (once).
	stopGateway func()
}

type runningWriter struct {
	w      *app.Writer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BOX_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// newSystem migrates and seeds (concerts × capacity, members), then starts a
// gateway, and a writer when withWriter.
func newSystem(t *testing.T, cfg config.Config, withWriter bool) *system {
	t.Helper()
	ctx := context.Background()
	log := testLog()
	if err := app.Migrate(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	if err := app.Seed(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	s := &system{t: t, cfg: cfg, http: &http.Client{Timeout: 30 * time.Second, Transport: apitest.Transport(&http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256})}}
	s.gw, s.stopGateway = startGateway(t, cfg)
	s.db, s.stock, s.url = s.gw.DB, s.gw.Stock, "http://"+s.gw.Addr
	if withWriter {
		s.startWriter(cfg)
	}
	return s
}

// startGateway opens a gateway on cfg, registered with apitest, and runs it;
// stop (once, and at the test's end) stops it.
func startGateway(t *testing.T, cfg config.Config) (gw *app.Gateway, stop func()) {
	t.Helper()
	ctx := context.Background()
	gw, err := app.OpenGateway(ctx, cfg, testLog())
	if err != nil {
		t.Fatal(err)
	}
	apitest.Serves(t, apitest.Public, gw.Addr)
	if gw.AdminAddr != "" {
		apitest.Serves(t, apitest.Admin, gw.AdminAddr)
	}
	gctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(gctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			gw.Close()
		})
	}
	t.Cleanup(stop)
	return gw, stop
}

func (s *system) startWriter(cfg config.Config) *runningWriter {
	s.t.Helper()
	w, err := app.OpenWriter(context.Background(), cfg, testLog())
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rw := &runningWriter{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(ctx) }()
	s.writer = rw
	s.t.Cleanup(rw.stop)
	return rw
}

func (rw *runningWriter) stop() {
	rw.once.Do(func() {
		rw.cancel()
		select {
		case <-rw.done:
		case <-time.After(30 * time.Second):
		}
		rw.w.Close()
	})
}

type reply struct {
	Status int
	Body   map[string]any
	Header http.Header
}

func (r reply) code() string { s, _ := r.Body["error"].(string); return s }
func (r reply) id() string   { s, _ := r.Body["reservationId"].(string); return s }

func (s *system) do(method, path, contentType string, body []byte, header map[string]string) reply {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Errorf("%s %s: %v", method, path, err)
		return reply{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{Status: resp.StatusCode, Header: resp.Header, Body: map[string]any{}}
	json.Unmarshal(raw, &r.Body)
	return r
}

func (s *system) reserve(concert, member int64, key string) reply {
	return s.reserveWith(concert, member, "Idempotency-Key", key)
}

// reserveWith reserves with one header (none when value is empty).
func (s *system) reserveWith(concert, member int64, header, value string) reply {
	h := map[string]string{}
	if value != "" {
		h[header] = value
	}
	return s.do("POST", "/api/reservations/async", "application/json", fmt.Appendf(nil, `{"concertId":%d,"memberId":%d}`, concert, member), h)
}

// audit is the truth about one concert across Redis and MySQL.
type audit struct {
	Capacity, RedisStock, InFlight, Rows, DBRemaining, Duplicates int64
}

func (s *system) audit(concert int64) audit {
	s.t.Helper()
	ctx := context.Background()
	c, err := s.db.ConcertCounts(ctx, concert)
	if err != nil {
		s.t.Fatal(err)
	}
	n, _, err := s.stock.Remaining(ctx, concert)
	if err != nil {
		s.t.Fatal(err)
	}
	inflight, err := s.stock.InFlightCount(ctx, concert)
	if err != nil {
		s.t.Fatal(err)
	}
	return audit{Capacity: c.Capacity, RedisStock: n, InFlight: inflight, Rows: c.Active, DBRemaining: c.Remaining, Duplicates: c.Duplicates}
}

// drained waits until the writer has written everything in flight and then
// checks the invariants: no oversell, no leak, no duplicates, MySQL in step.
func (s *system) drained(concert int64, wantRows int64) audit {
	s.t.Helper()
	var a audit
	servicetest.Eventually(s.t, 60*time.Second, "writer drains", func() (bool, error) {
		a = s.audit(concert)
		return a.InFlight == 0 && a.Rows == wantRows, fmt.Errorf("%+v", a)
	})
	if a.Rows > a.Capacity {
		s.t.Errorf("oversold: %+v", a)
	}
	if taken := a.Capacity - a.RedisStock; taken != a.Rows {
		s.t.Errorf("leak: Redis took %d seats, MySQL has %d rows: %+v", taken, a.Rows, a)
	}
	if a.DBRemaining != a.RedisStock {
		s.t.Errorf("MySQL remaining %d, Redis stock %d", a.DBRemaining, a.RedisStock)
	}
	if a.Duplicates != 0 {
		s.t.Errorf("duplicates: %+v", a)
	}
	return a
}

// concurrently runs f(i) for i in [0, n) at once and collects the replies.
func concurrently(n int, f func(i int) reply) []reply {
	out := make([]reply, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// admitAll reserves a seat of concert 1 for each of members 1..n, at most
// 64 at a time, and fails the test unless every one is admitted.
func (s *system) admitAll(n int) {
	s.t.Helper()
	sem := make(chan struct{}, 64)
	replies := concurrently(n, func(i int) reply {
		sem <- struct{}{}
		defer func() { <-sem }()
		return s.reserve(1, int64(i+1), "")
	})
	if got := tally(replies); got["202 "] != n {
		s.t.Fatalf("admission: %v", got)
	}
}

func tally(replies []reply) map[string]int {
	m := map[string]int{}
	for _, r := range replies {
		m[fmt.Sprintf("%d %s", r.Status, r.code())]++
	}
	return m
}
