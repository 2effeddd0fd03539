package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/boxoffice/boxoffice/gateway"
)

// adminServer is the gateway's admin listener (--admin-addr, loopback by
// default): what an operator needs and the public must not see — the
// metrics, each readiness check's detail with its error text, and pprof.
type adminServer struct {
	http *http.Server
	ln   net.Listener
}

// adminRoute is one route of the admin listener: an http.ServeMux pattern
// (a trailing slash serves the subtree) and its handler.
type adminRoute struct {
	pattern string
	handler http.HandlerFunc
}

// adminRoutes are the admin listener's routes, as api/openapi.yaml tags
// them admin (a test holds the two to the same list).
func adminRoutes(srv *gateway.Server, metrics *gateway.Metrics) []adminRoute {
	return []adminRoute{
		{"/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP},
		{"/healthz", func(rw http.ResponseWriter, _ *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(rw, `{"status":"ok"}`)
		}},
		{"/readyz", func(rw http.ResponseWriter, r *http.Request) {
			status, checks := srv.Ready(r.Context())
			rw.Header().Set("Content-Type", "application/json")
			rw.WriteHeader(status)
			json.NewEncoder(rw).Encode(checks)
		}},
		{"/debug/pprof/", pprof.Index},
		{"/debug/pprof/cmdline", pprof.Cmdline},
		{"/debug/pprof/profile", pprof.Profile},
		{"/debug/pprof/symbol", pprof.Symbol},
		{"/debug/pprof/trace", pprof.Trace},
	}
}

// listenAdmin listens on addr at once, so that a port in use fails the
// start-up rather than the first scrape.
func listenAdmin(addr string, srv *gateway.Server, metrics *gateway.Metrics) (*adminServer, error) {
	mux := http.NewServeMux()
	for _, r := range adminRoutes(srv, metrics) {
		mux.HandleFunc(r.pattern, r.handler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen admin %s: %w", addr, err)
	}
	// No WriteTimeout: a CPU profile streams for its ?seconds=.
	return &adminServer{http: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}, nil
}
