package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/servicetest"
)

// publicServer serves a gateway whose readiness checks fail with an
// internal-looking error while failing is set, and counts the check rounds.
func publicServer(t *testing.T, failing *atomic.Bool, rounds *atomic.Int64) (base string, watch func(context.Context)) {
	t.Helper()
	srv := NewServer(Options{
		Routes:  []Route{{Name: "async", Strategy: Unsupported{Name: "async", Reason: "test"}, Success: http.StatusAccepted}},
		Metrics: NewMetrics(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024,
		Ready: func(context.Context) map[string]error {
			rounds.Add(1)
			if failing.Load() {
				return map[string]error{"redis": errors.New("dial tcp 10.0.0.7:6379: connection refused")}
			}
			return map[string]error{"redis": nil}
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), func(ctx context.Context) { srv.WatchReady(ctx, 20*time.Millisecond) }
}

// The public listener has no /metrics and no pprof: they are on the admin
// listener.
func TestPublicHasNoMetrics(t *testing.T) {
	var failing atomic.Bool
	var rounds atomic.Int64
	base, _ := publicServer(t, &failing, &rounds)
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if status, body := servicetest.Get(t, base+path); status != http.StatusNotFound || !strings.Contains(body, "not_found") {
			t.Errorf("GET %s: %d %s, want 404 not_found", path, status, body)
		}
	}
}

// An unnamed strategy answers 404 not_found like an unserved route.
func TestUnnamedStrategyIsNotFound(t *testing.T) {
	var failing atomic.Bool
	var rounds atomic.Int64
	base, _ := publicServer(t, &failing, &rounds)
	for _, name := range []string{"pessimistic", "distlock", "unsafe"} {
		resp, err := http.Post(base+"/api/reservations/"+name, "application/json", strings.NewReader(`{"concertId":1,"memberId":1}`))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), `"not_found"`) {
			t.Errorf("POST %s: %d %s, want 404 not_found", name, resp.StatusCode, b)
		}
	}
}

// The public /readyz answers from the background rounds: probes cost no
// check, and say 200/503 without the checks' error text.
func TestPublicReadyzIsCached(t *testing.T) {
	var failing atomic.Bool
	var rounds atomic.Int64
	base, watch := publicServer(t, &failing, &rounds)
	if status, body := servicetest.Get(t, base+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("before the first round: %d %s, want 503 starting", status, body)
	}
	if rounds.Load() != 0 {
		t.Fatalf("a probe ran the checks itself (%d rounds)", rounds.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watch(ctx)
	waitStatus := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, body := servicetest.Get(t, base+"/readyz")
			if status == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %s, want %d", status, body, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStatus(http.StatusOK)
	failing.Store(true)
	body := waitStatus(http.StatusServiceUnavailable)
	if strings.Contains(body, "10.0.0.7") || strings.Contains(body, "refused") || strings.Contains(body, "redis") {
		t.Errorf("public /readyz shows the checks' detail: %s", body)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	before := rounds.Load()
	for range 50 {
		servicetest.Get(t, base+"/readyz")
	}
	if n := rounds.Load() - before; n != 0 {
		t.Errorf("50 probes ran %d check rounds, want 0", n)
	}
}

// The admin side's Ready runs the checks and keeps their detail.
func TestReadyDetail(t *testing.T) {
	srv := NewServer(Options{Metrics: NewMetrics(nil), Log: slog.New(slog.DiscardHandler),
		Ready: func(context.Context) map[string]error {
			return map[string]error{"redis": errors.New("connection refused"), "kafka": nil}
		}})
	status, checks := srv.Ready(context.Background())
	if status != http.StatusServiceUnavailable || checks["redis"] != "connection refused" || checks["kafka"] != "ok" {
		t.Fatalf("Ready: %d %v", status, checks)
	}
}
