package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// The synchronous strategies end to end: real HTTP server, MySQL and Redis.

type syncEnv struct {
	db      *store.Store
	metrics *Metrics
	url     string // http://127.0.0.1:port
	client  *http.Client
}

// newSyncEnv seeds one concert of capacity seats and members 1..members, and
// serves the three synchronous strategies over a pool of dbPool connections.
func newSyncEnv(t *testing.T, capacity, members, dbPool int) *syncEnv {
	t.Helper()
	ctx := context.Background()
	db := servicetest.Store(t, dbPool, 1, capacity)
	if err := db.SeedMembers(ctx, members); err != nil {
		t.Fatal(err)
	}
	rdb, prefix := servicetest.Redis(t)
	// A lock wait far above the rush's length, so no request times out.
	locks, err := stock.New(rdb, prefix, 2*time.Second).NewLocker(ctx, stock.LockOptions{Lease: 5 * time.Second, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locks.Close() })
	e := &syncEnv{db: db, metrics: NewMetrics(nil)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(Options{
		Routes: []Route{
			{Name: "pessimistic", Strategy: &Pessimistic{DB: db}, Success: http.StatusCreated},
			{Name: "distlock", Strategy: &DistLock{Locks: locks, DB: db, Metrics: e.metrics, Log: log}, Success: http.StatusCreated},
			{Name: "unsafe", Strategy: &Unsafe{DB: db}, Success: http.StatusCreated},
		},
		Metrics: e.metrics, Log: log, MaxBody: 1024, RequestTimeout: 30 * time.Second,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	e.url = "http://" + ln.Addr().String()
	e.client = &http.Client{Timeout: 30 * time.Second, Transport: apitest.Transport(&http.Transport{MaxIdleConnsPerHost: 1000})}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

type answer struct {
	status   int
	code     string // error code, or the reservation's status on success
	id       string
	location string
}

func (e *syncEnv) reserve(t *testing.T, strategy string, concert, member int64) answer {
	t.Helper()
	body := fmt.Sprintf(`{"concertId":%d,"memberId":%d}`, concert, member)
	resp, err := e.client.Post(e.url+"/api/reservations/"+strategy, "application/json", strings.NewReader(body))
	if err != nil {
		t.Errorf("POST %s: %v", strategy, err)
		return answer{}
	}
	defer resp.Body.Close()
	var v struct {
		Error  string `json:"error"`
		ID     string `json:"reservationId"`
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Errorf("POST %s: body: %v", strategy, err)
	}
	a := answer{status: resp.StatusCode, code: v.Error, id: v.ID, location: resp.Header.Get("Location")}
	if a.code == "" {
		a.code = v.Status
	}
	return a
}

// rush sends one request per member 1..n at once and counts the answers by
// "status code".
func (e *syncEnv) rush(t *testing.T, strategy string, n int) (map[string]int, []string, time.Duration) {
	t.Helper()
	answers := make([]answer, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			answers[i] = e.reserve(t, strategy, 1, int64(i+1))
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := time.Since(start)
	counts := map[string]int{}
	var ids []string
	for _, a := range answers {
		counts[fmt.Sprintf("%d %s", a.status, a.code)]++
		if a.status == http.StatusCreated {
			ids = append(ids, a.id)
		}
	}
	return counts, ids, took
}

// rowsOf counts a strategy's CONFIRMED rows.
func (e *syncEnv) rowsOf(t *testing.T, strategy string) int {
	t.Helper()
	var n int
	if err := e.db.DB().Get(&n, `SELECT COUNT(*) FROM reservations WHERE concert_id = 1 AND strategy = ? AND status = 'CONFIRMED'`, strategy); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *syncEnv) counts(t *testing.T) store.Counts {
	t.Helper()
	c, err := e.db.ConcertCounts(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	rushRequests = 500
	rushSeats    = 50
	created      = "201 CONFIRMED"
	soldOut      = "409 sold_out"
	lockTimeout  = "503 lock_timeout"
)

func TestPessimisticRush(t *testing.T) {
	e := newSyncEnv(t, rushSeats, rushRequests, 10)
	got, ids, took := e.rush(t, "pessimistic", rushRequests)
	t.Logf("pessimistic: %v in %s (%.0f req/s, db-pool 10)", got, took, rushRequests/took.Seconds())
	if got[created] != rushSeats || got[soldOut] != rushRequests-rushSeats {
		t.Fatalf("answers %v, want %d × %q and %d × %q", got, rushSeats, created, rushRequests-rushSeats, soldOut)
	}
	c := e.counts(t)
	if rows := e.rowsOf(t, "pessimistic"); rows != rushSeats || c.Active != rushSeats || c.Remaining != 0 || c.Duplicates != 0 {
		t.Fatalf("rows %d, counts %+v; want %d rows, none remaining, no duplicates", rows, c, rushSeats)
	}
	checkRows(t, e, ids, "pessimistic")
}

func TestDistLockRush(t *testing.T) {
	e := newSyncEnv(t, rushSeats, rushRequests, 10)
	got, ids, took := e.rush(t, "distlock", rushRequests)
	t.Logf("distlock: %v in %s (%.0f req/s)", got, took, rushRequests/took.Seconds())
	if got[created]+got[soldOut]+got[lockTimeout] != rushRequests {
		t.Fatalf("answers %v: want only %q, %q and %q", got, created, soldOut, lockTimeout)
	}
	if got[lockTimeout] == 0 && got[created] != rushSeats {
		t.Fatalf("answers %v: every request got the lock, want %d seats taken", got, rushSeats)
	}
	c := e.counts(t)
	rows := e.rowsOf(t, "distlock")
	if rows != got[created] || rows > rushSeats || c.Active != int64(rows) || c.Remaining != int64(rushSeats-rows) || c.Duplicates != 0 {
		t.Fatalf("rows %d, counts %+v for %d × 201; want one row per 201, at most %d, remaining = capacity - rows", rows, c, got[created], rushSeats)
	}
	checkRows(t, e, ids, "distlock")
	acquired := counterValue(t, e.metrics.lockResults.WithLabelValues("acquired"))
	timeouts := counterValue(t, e.metrics.lockResults.WithLabelValues("timeout"))
	if int(acquired) != got[created]+got[soldOut] || int(timeouts) != got[lockTimeout] {
		t.Fatalf("lock metrics: %v acquired, %v timeouts; want %d and %d", acquired, timeouts, got[created]+got[soldOut], got[lockTimeout])
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// Unsafe is allowed to be wrong; the test records how wrong.
func TestUnsafeRush(t *testing.T) {
	e := newSyncEnv(t, rushSeats, rushRequests, 10)
	got, ids, took := e.rush(t, "unsafe", rushRequests)
	c := e.counts(t)
	rows := e.rowsOf(t, "unsafe")
	t.Logf("unsafe: %v in %s (%.0f req/s); %d rows for %d seats (oversold by %d), remaining %d (lost updates: %d)",
		got, took, rushRequests/took.Seconds(), rows, rushSeats, max(0, rows-rushSeats), c.Remaining, rows-(rushSeats-int(c.Remaining)))
	if rows != got[created] {
		t.Fatalf("%d rows for %d × 201: every 201 must have its row", rows, got[created])
	}
	if c.Duplicates != 0 {
		t.Fatalf("%d duplicate members: the UNIQUE key must refuse them", c.Duplicates)
	}
	checkRows(t, e, ids, "unsafe")
}

// checkRows reads a sample of the answered reservation ids back.
func checkRows(t *testing.T, e *syncEnv, ids []string, strategy string) {
	t.Helper()
	for i, id := range ids {
		if i >= 5 {
			break
		}
		row, err := e.db.Reservation(context.Background(), id)
		if err != nil {
			t.Fatalf("reservation %s answered 201: %v", id, err)
		}
		if row.Strategy != strategy || row.Status != boxoffice.StatusConfirmed {
			t.Fatalf("row %+v, want CONFIRMED by %s", row, strategy)
		}
	}
}

func TestSyncSameMemberTwice(t *testing.T) {
	e := newSyncEnv(t, 10, 10, 4)
	for i, strategy := range []string{"pessimistic", "distlock", "unsafe"} {
		member := int64(i + 1)
		first := e.reserve(t, strategy, 1, member)
		if first.status != http.StatusCreated || first.code != string(boxoffice.StatusConfirmed) || first.location != "/api/reservations/"+first.id {
			t.Fatalf("%s first: %+v, want 201 CONFIRMED with its Location", strategy, first)
		}
		if again := e.reserve(t, strategy, 1, member); again.status != http.StatusConflict || again.code != "already_reserved" {
			t.Fatalf("%s same member again: %+v, want 409 already_reserved", strategy, again)
		}
		if other := e.reserve(t, strategy, 2, member); other.status != http.StatusNotFound || other.code != "concert_not_found" {
			t.Fatalf("%s unknown concert: %+v, want 404 concert_not_found", strategy, other)
		}
	}
}

func TestUnsupportedStrategy(t *testing.T) {
	srv := NewServer(Options{
		Routes:  []Route{{Name: "pessimistic", Strategy: Unsupported{Name: "pessimistic", Reason: "no row locks here"}, Success: http.StatusCreated}},
		Metrics: NewMetrics(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	defer srv.Shutdown(context.Background())
	resp, err := http.Post("http://"+ln.Addr().String()+"/api/reservations/pessimistic", "application/json", strings.NewReader(`{"concertId":1,"memberId":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Error, Message string }
	json.NewDecoder(resp.Body).Decode(&v)
	if resp.StatusCode != http.StatusNotImplemented || v.Error != "not_supported" || !strings.Contains(v.Message, "no row locks here") {
		t.Fatalf("%d %+v, want 501 not_supported with the reason", resp.StatusCode, v)
	}
}
