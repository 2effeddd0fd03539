package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/boxoffice/boxoffice/api"
	"github.com/boxoffice/boxoffice/api/apitest"
)

// Every exchange of this package's tests with a gateway is validated
// against api/openapi.yaml.
func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

// allRoutesServer serves every endpoint there is: each strategy (none can
// take a seat), the lifecycle, the no-op route.
func allRoutesServer(t *testing.T) string {
	t.Helper()
	var routes []Route
	for _, name := range Strategies {
		routes = append(routes, Route{Name: name, Strategy: Unsupported{Name: name, Reason: "test"}, Success: http.StatusCreated})
	}
	srv := NewServer(Options{
		Routes: routes, Lifecycle: &Lifecycle{}, Rankings: &Rankings{}, Noop: true,
		Metrics: NewMetrics(nil), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	apitest.Serves(t, apitest.Public, ln.Addr().String())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

// The routes the public listener serves (Endpoints, the table dispatch
// answers from) are the paths and methods api/openapi.yaml tags public, and
// a server with everything on answers each: another method gets 405 with
// the entry's method in Allow, not the 404 of an unknown path.
func TestRoutesAreTheSpec(t *testing.T) {
	doc, err := apitest.Spec()
	if err != nil {
		t.Fatal(err)
	}
	spec := apitest.Operations(doc, apitest.Public)
	var table []string
	for _, e := range Endpoints() {
		table = append(table, e.Method+" "+e.Path)
	}
	slices.Sort(table)
	for _, r := range table {
		if !slices.Contains(spec, r) {
			t.Errorf("%s is served but not in api/openapi.yaml (tagged public)", r)
		}
	}
	for _, r := range spec {
		if !slices.Contains(table, r) {
			t.Errorf("api/openapi.yaml has %s (tagged public), which gateway.Endpoints does not serve", r)
		}
	}

	base := allRoutesServer(t)
	methods := map[string][]string{}
	for _, e := range Endpoints() {
		methods[e.Path] = append(methods[e.Path], e.Method)
	}
	for _, e := range Endpoints() {
		// A method the path does not take: 405, and Allow names what it takes.
		taken := methods[e.Path]
		slices.Sort(taken)
		other := http.MethodPost
		if slices.Contains(taken, other) {
			other = http.MethodGet
		}
		if slices.Contains(taken, other) {
			other = http.MethodDelete
		}
		path := strings.ReplaceAll(e.Path, "{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
		req, _ := http.NewRequest(other, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := strings.Join(taken, ", "); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != want {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %s", other, path, resp.StatusCode, resp.Header.Get("Allow"), want)
		}
	}
}

// GET /healthz answers as the spec says (the exchange is validated).
func TestHealthz(t *testing.T) {
	base := allRoutesServer(t)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %d", resp.StatusCode)
	}
}

// GET /api/openapi.yaml serves the embedded file.
func TestServesTheSpec(t *testing.T) {
	base := allRoutesServer(t)
	resp, err := http.Get(base + "/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != api.ContentType || !bytes.Equal(body, api.OpenAPI) {
		t.Fatalf("%d %s, %d bytes; want 200 %s with api/openapi.yaml's %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body), api.ContentType, len(api.OpenAPI))
	}
}
