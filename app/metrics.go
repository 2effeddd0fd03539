package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsServer serves a process's /metrics and /healthz on an address of
// its own: the writer's and the notifier's --metrics-addr.
type metricsServer struct {
	http *http.Server
	ln   net.Listener
}

// listenMetrics listens on addr at once, so that a port in use fails the
// start-up rather than the first scrape; start serves reg.
func listenMetrics(addr string, reg *prometheus.Registry) (*metricsServer, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(rw, `{"status":"ok"}`)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &metricsServer{http: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}

// addr is where it listens (the real port when addr asked for :0).
func (m *metricsServer) addr() string { return m.ln.Addr().String() }

// start serves in the background until stop.
func (m *metricsServer) start() { go m.http.Serve(m.ln) }

// stop lets a scrape in progress finish, for at most 5 s.
func (m *metricsServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.http.Shutdown(ctx)
}

// close releases the listener of a server that was never started (Shutdown
// has closed it otherwise; closing again is harmless).
func (m *metricsServer) close() { m.ln.Close() }
