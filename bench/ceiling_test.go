package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/gateway"
)

// realGateway serves the gateway's own server (the router, handler and
// metrics of the binary) in-process, with the no-op route when noop is set.
func realGateway(t *testing.T, noop bool) string {
	t.Helper()
	srv := gateway.NewServer(gateway.Options{Noop: noop, Metrics: gateway.NewMetrics(nil),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxBody: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

func TestNoopPathIsTheGateways(t *testing.T) {
	if noopPath != gateway.NoopPath {
		t.Fatalf("bench's noopPath %q, the gateway's %q", noopPath, gateway.NoopPath)
	}
}

// The ceiling at tiny size against the real server: closed steps (with wrk
// beside them where it is installed), open steps at fractions of the
// closed figure, C picked from a sustained step, the JSON in the schema.
func TestCeilingAgainstTheGateway(t *testing.T) {
	target := realGateway(t, true)
	file := filepath.Join(t.TempDir(), "ceiling.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunWith(ctx, []string{"ceiling", "--target", target, "--clients", "2,4", "--duration", "300ms", "--warmup", "100ms",
		"--max-inflight", "100", "--json", file, "--quiet"}, &stdout, &stderr, nil, nil, Hooks{})
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var got Result
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("JSON does not parse into the schema: %v", err)
	}
	ce := got.Ceiling
	if got.Scenario != "ceiling" || ce == nil || ce.Path != "/api/noop" {
		t.Fatalf("scenario %q, ceiling %+v", got.Scenario, ce)
	}
	if len(ce.Steps) < 3 || ce.Steps[0].Clients != 2 || ce.Steps[1].Clients != 4 || ce.Steps[2].Model != "open" {
		t.Fatalf("steps %+v: want closed 2, closed 4, then open", ce.Steps)
	}
	best := max(ce.Steps[0].RequestsPerS, ce.Steps[1].RequestsPerS)
	if want := math.Round(autoFractions[0] * best); ce.Steps[2].Rate != want {
		t.Errorf("first open rate %g, want %g (half the best closed figure)", ce.Steps[2].Rate, want)
	}
	for _, s := range ce.Steps {
		if s.Requests == 0 || s.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors %v", stepName(s), s.Requests, s.Errors, s.ErrorsByCode)
		}
	}
	if ce.Step < 0 || ce.RPS <= 0 || ce.RPS != ce.Steps[ce.Step].RequestsPerS || !ce.Steps[ce.Step].Sustained || ce.ClosedMaxRPS != best {
		t.Errorf("C %g from step %d, closed best %g (want %g)", ce.RPS, ce.Step, ce.ClosedMaxRPS, best)
	}
	if !strings.Contains(stdout.String(), "C = ") {
		t.Errorf("no C line in the table:\n%s", stdout.String())
	}
	if res == nil || res.Ceiling == nil {
		t.Error("RunWith returned no ceiling")
	}
	if _, err := exec.LookPath("wrk"); err == nil {
		for _, s := range ce.Steps[:2] {
			if s.Wrk == nil || s.Wrk.Requests == 0 || s.Wrk.Connections != s.Clients || s.Wrk.Errors != 0 {
				t.Errorf("%s: wrk %+v, want its figures at %d connections", stepName(s), s.Wrk, s.Clients)
			}
		}
		if ce.WrkMaxRPS == nil || *ce.WrkMaxRPS <= 0 {
			t.Errorf("wrk_max_rps %v", ce.WrkMaxRPS)
		}
	} else if ce.WrkMaxRPS != nil || !strings.Contains(ce.WrkNote, "not found") {
		t.Errorf("without wrk: wrk_max_rps %v, note %q", ce.WrkMaxRPS, ce.WrkNote)
	}
}

// A gateway without --noop-endpoint is refused with the flag that serves it.
func TestCeilingWantsTheNoopEndpoint(t *testing.T) {
	target := realGateway(t, false)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"ceiling", "--target", target, "--clients", "1", "--duration", "100ms", "--quiet"}, &stdout, &stderr, nil, noEnv)
	if err == nil || !strings.Contains(err.Error(), "--noop-endpoint") {
		t.Fatalf("err %v, want one naming --noop-endpoint", err)
	}
}

func TestCeilingOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "none"}, "no steps"},
		{[]string{"--rates", "10,x"}, "--rates"},
		{[]string{"--clients", "0"}, "clients"},
		{[]string{"--report", "dir"}, "--report"},
		{[]string{"--target", "http://127.0.0.1:1,http://127.0.0.1:2"}, "one gateway"},
		{[]string{"--wrk-threads", "0"}, "--wrk-threads"},
	} {
		_, err := parseOptions(append([]string{"ceiling"}, c.args...), noEnv, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v, want one naming %s", c.args, err, c.want)
		}
	}
	o, err := parseOptions([]string{"ceiling", "--clients", "none", "--rates", "100,200"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if auto, rates, _ := o.ceilingRates(); auto || len(rates) != 2 || len(o.Clients) != 0 {
		t.Errorf("clients %v, rates %v (auto %v)", o.Clients, rates, auto)
	}
	if NeedsEnv([]string{"ceiling"}) || !NeedsEnv([]string{"compare"}) {
		t.Error("NeedsEnv: the ceiling needs no Env, compare does")
	}
}

// C is the best sustained step; a faster step that was not sustained does
// not count, and wrk's best is kept apart.
func TestCeilingSummarise(t *testing.T) {
	ce := &Ceiling{Step: -1, Steps: []CeilingStep{
		{Model: modelClosed, Clients: 16, RequestsPerS: 900, Sustained: true, LatencyMs: Latency{P50: 1, P99: 2}, Wrk: &WrkResult{RequestsPerS: 1500}},
		{Model: modelClosed, Clients: 64, RequestsPerS: 1000, Sustained: true, LatencyMs: Latency{P50: 3, P99: 4}, Wrk: &WrkResult{RequestsPerS: 1200}},
		{Model: modelOpen, Rate: 950, RequestsPerS: 949, Sustained: true},
		{Model: modelOpen, Rate: 1100, RequestsPerS: 1020, Sustained: false},
	}}
	ce.summarise()
	if ce.RPS != 1000 || ce.Step != 1 || ce.P50Ms != 3 || ce.P99Ms != 4 || ce.ClosedMaxRPS != 1000 || ce.OpenMaxSustainedRPS != 949 {
		t.Errorf("summary %+v", ce)
	}
	if ce.WrkMaxRPS == nil || *ce.WrkMaxRPS != 1500 {
		t.Errorf("wrk best %v, want 1500", ce.WrkMaxRPS)
	}
}

// The open model's rate test: answers at under 95% of the offered rate, or
// more than 1% dropped, is not sustained.
func TestCeilingSustained(t *testing.T) {
	start := time.Now()
	st := loadStats{start: start, lastDone: start.Add(time.Second), sent: 1000, requests: 1000}
	if s := stepOf(modelOpen, st); !s.Sustained || s.RequestsPerS != 1000 {
		t.Errorf("1000 answered in 1 s: %+v", s)
	}
	st.dropped = 20
	if s := stepOf(modelOpen, st); s.Sustained {
		t.Errorf("2%% dropped counted as sustained: %+v", s)
	}
}

func TestParseWrk(t *testing.T) {
	out := "Running 1s test @ http://127.0.0.1:1/api/noop\n  1 threads and 4 connections\n" +
		wrkMarker + ` {"requests":12000,"duration_us":1000500,"errors":1,"status_errors":2,"p50_us":250,"p95_us":600,"p99_us":900,"p999_us":1500,"max_us":3000,"mean_us":280.5}` + "\n"
	r, err := parseWrk([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 12000 || r.Errors != 3 || r.LatencyMs.P50 != 0.25 || r.LatencyMs.P99 != 0.9 || math.Abs(r.RequestsPerS-11994) > 1 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseWrk([]byte("Running 1s test\n")); err == nil {
		t.Error("no marker line parsed")
	}
}
