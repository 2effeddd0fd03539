package gateway

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/boxoffice/boxoffice/api/apitest"
)

func noopServer(t *testing.T, noop bool) (string, *Metrics) {
	t.Helper()
	m := NewMetrics(nil)
	srv := NewServer(Options{Noop: noop, Metrics: m, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String(), m
}

func postRaw(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// With Noop, POST /api/noop answers 200 with a body as long as a reserve
// answer, and is counted like any route; only POST is allowed.
func TestNoopEndpoint(t *testing.T) {
	base, m := noopServer(t, true)
	status, body, h := postRaw(t, base+NoopPath, `{"concertId":1,"memberId":1}`)
	reserve := `{"reservationId":"01M83SBA092Y5TCEAAZVVFVWA0","status":"PENDING"}`
	if status != http.StatusOK || len(body) != len(reserve) || !strings.Contains(body, `"status":"PENDING"`) {
		t.Errorf("POST %s: %d %s, want 200 and a reserve-sized body", NoopPath, status, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	resp, err := http.Get(base + NoopPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET %s: %d, Allow %q; want 405, POST", NoopPath, resp.StatusCode, resp.Header.Get("Allow"))
	}
	if n := requestsCounted(t, m, "noop", "200"); n != 1 {
		t.Errorf("requests_total{route=noop,code=200} = %g, want 1", n)
	}
}

// Without Noop the path is not served, like any unknown path.
func TestNoopEndpointOffByDefault(t *testing.T) {
	base, _ := noopServer(t, false)
	if status, body, _ := postRaw(t, base+NoopPath, `{}`); status != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("POST %s without Noop: %d %s, want 404 not_found", NoopPath, status, body)
	}
}

// requestsCounted is boxoffice_gateway_requests_total of route and code.
func requestsCounted(t *testing.T, m *Metrics, route, code string) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "boxoffice_gateway_requests_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}
