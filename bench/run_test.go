package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func noEnv(string) string { return "" }

// runBench runs the harness against a fake system and returns its parsed JSON.
func runBench(t *testing.T, f *fakeSystem, args ...string) (*Result, string, error) {
	t.Helper()
	target := serve(t, f.handle)
	file := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	args = append(args, "--target", target, "--json", file, "--audit-every", "20ms", "--drain-timeout", "3s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, &stdout, &stderr, f, noEnv)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	b, rerr := os.ReadFile(file)
	if rerr != nil {
		t.Fatalf("no JSON written (run error %v): %v", err, rerr)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var res Result
	if derr := dec.Decode(&res); derr != nil {
		t.Fatalf("JSON does not parse into the schema: %v", derr)
	}
	return &res, stdout.String() + stderr.String(), err
}

func strategyOf(t *testing.T, res *Result, name string) StrategyResult {
	t.Helper()
	for _, s := range res.Strategies {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("strategy %s missing from the results", name)
	return StrategyResult{}
}

// compare end to end: JSON round trip, report files, unsafe skipped when the
// gateway does not serve it, the audit clean for correct strategies.
func TestCompareJSONAndReport(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	f.writerLag = 30 * time.Millisecond
	report := filepath.Join(t.TempDir(), "report")
	res, out, err := runBench(t, f, "compare", "--strategies", "async,pessimistic,unsafe",
		"--capacity", "50", "--members", "300", "--rate", "1000", "--duration", "300ms", "--report", report)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.SchemaVersion != SchemaVersion || res.Scenario != "compare" || res.StartedAt.IsZero() {
		t.Errorf("header: schema %d scenario %q started %v", res.SchemaVersion, res.Scenario, res.StartedAt)
	}
	if res.Machine.Cores < 1 || res.Machine.Go == "" {
		t.Errorf("machine not filled: %+v", res.Machine)
	}
	if res.Config.Capacity != 50 || res.Config.Rate != 1000 || res.Config.DurationMs != 300 {
		t.Errorf("config not recorded: %+v", res.Config)
	}
	if len(res.Strategies) != 3 {
		t.Fatalf("%d strategies, want 3", len(res.Strategies))
	}
	for _, name := range []string{"async", "pessimistic"} {
		s := strategyOf(t, res, name)
		if s.Requests != 300 || s.Accepted != 50 || s.Rejected != 250 || s.Errors != 0 {
			t.Errorf("%s: requests %d accepted %d rejected %d errors %d; want 300 50 250 0", name, s.Requests, s.Accepted, s.Rejected, s.Errors)
		}
		if s.RejectedByCode["sold_out"] != 250 {
			t.Errorf("%s: rejected by code %v", name, s.RejectedByCode)
		}
		if s.Audit == nil || !s.Audit.OK || s.Audit.Rows != 50 || s.Audit.Oversold != 0 || s.Audit.Leaked != 0 {
			t.Errorf("%s: audit %+v, want 50 rows and nothing wrong", name, s.Audit)
		}
		if !s.Drained || s.AcceptedPerS <= 0 || s.PersistedPerS <= 0 || len(s.Series) == 0 {
			t.Errorf("%s: drained %v accepted/s %.0f persisted/s %.0f series %d", name, s.Drained, s.AcceptedPerS, s.PersistedPerS, len(s.Series))
		}
		if s.LatencyMs.P50 <= 0 || s.LatencyMs.Max < s.LatencyMs.P99 {
			t.Errorf("%s: latency %+v", name, s.LatencyMs)
		}
		var persisted int64
		for _, sec := range s.Series {
			persisted += sec.Persisted
		}
		if persisted != 50 {
			t.Errorf("%s: series persisted %d rows, want 50", name, persisted)
		}
	}
	if u := strategyOf(t, res, "unsafe"); !u.Skipped || !u.ExpectedUnsafe || !strings.Contains(u.SkipReason, "--enable-unsafe") {
		t.Errorf("unsafe: skipped %v expected_unsafe %v reason %q", u.Skipped, u.ExpectedUnsafe, u.SkipReason)
	}
	if !strings.Contains(out, "persisted") && !strings.Contains(out, "pers/s") {
		t.Errorf("no table on stdout")
	}
	if !strings.Contains(out, "compare async") {
		t.Errorf("no progress line on stderr")
	}

	index, err := os.ReadFile(filepath.Join(report, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<table", "throughput.svg", "latency.png", "pessimistic", res.Machine.Go} {
		if !bytes.Contains(index, []byte(want)) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, chart := range []string{"throughput", "latency", "latency_over_time", "throughput_over_time"} {
		png, err := os.ReadFile(filepath.Join(report, chart+".png"))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
			t.Errorf("%s.png: %d bytes, err %v", chart, len(png), err)
		}
		svg, err := os.ReadFile(filepath.Join(report, chart+".svg"))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s.svg: %d bytes, err %v", chart, len(svg), err)
		}
	}
	if _, err := os.Stat(filepath.Join(report, "result.json")); err != nil {
		t.Error(err)
	}
}

// A planted leak in async fails the run; the unsafe strategy's oversell is
// reported and marked expected, and does not.
func TestInvariantViolations(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	f.unsafe = true
	f.leakEvery = 5
	res, _, err := runBench(t, f, "compare", "--strategies", "unsafe,async",
		"--capacity", "20", "--members", "200", "--rate", "1000", "--duration", "200ms", "--quiet")
	if !errors.Is(err, ErrInvariant) {
		t.Fatalf("run error %v, want ErrInvariant", err)
	}
	if strings.Contains(err.Error(), "unsafe:") || !strings.Contains(err.Error(), "async:") {
		t.Errorf("error %q should name async only", err)
	}
	u := strategyOf(t, res, "unsafe")
	if !u.ExpectedUnsafe || u.Audit == nil || u.Audit.Oversold == 0 || u.Audit.OK {
		t.Errorf("unsafe: expected_unsafe %v audit %+v; want an oversell reported", u.ExpectedUnsafe, u.Audit)
	}
	a := strategyOf(t, res, "async")
	if a.Audit == nil || a.Audit.Leaked != 4 || a.Audit.OK {
		t.Errorf("async audit %+v, want 4 leaked (every 5th of 20)", a.Audit)
	}
}

// rush stops at the sell-out and says when it happened.
func TestRushStopsAtSellOut(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	// 2,000 requests planned over 10 s; the 30 seats go in the first 150 ms.
	res, _, err := runBench(t, f, "rush", "--capacity", "30", "--members", "10000", "--rate", "200", "--duration", "10s", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	s := strategyOf(t, res, "async")
	if s.Accepted != 30 {
		t.Errorf("accepted %d, want 30", s.Accepted)
	}
	if s.Requests >= 1000 || s.DurationMs > 5000 {
		t.Errorf("%d requests over %.0f ms: the rush went on after the sell-out", s.Requests, s.DurationMs)
	}
	so := s.SellOut
	if so == nil || !so.SoldOut || so.LastSeatMs == nil || so.FirstSoldOutMs == nil || *so.SoldOutMs != *so.LastSeatMs {
		t.Fatalf("sell_out %+v", so)
	}
	// 30 requests at 200/s take 145 ms to send.
	if *so.LastSeatMs < 140 {
		t.Errorf("last seat at %.1f ms, before the 30th request was due", *so.LastSeatMs)
	}
}

// ramp, short: closed model over random concerts and members.
func TestRampShort(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	res, _, err := runBench(t, f, "ramp", "--vus", "6", "--ramp", "100ms", "--hold", "200ms",
		"--concerts", "3", "--capacity", "1000", "--members", "40", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	s := strategyOf(t, res, "async")
	if s.Requests < 50 || s.Accepted+s.Rejected != s.Requests || s.Accepted > 120 {
		t.Errorf("requests %d accepted %d rejected %d; want many requests, at most 3×40 accepted", s.Requests, s.Accepted, s.Rejected)
	}
	if s.RejectedByCode["already_reserved"] == 0 {
		t.Errorf("no already_reserved among %v: members are not drawn from the pool", s.RejectedByCode)
	}
	if s.Audit == nil || s.Audit.Rows != s.Accepted || !s.Audit.OK {
		t.Errorf("audit %+v, want rows == accepted %d", s.Audit, s.Accepted)
	}
}

// isolation: the victims' latency is measured alone and beside each strategy.
func TestIsolation(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	f.pool = make(chan struct{}, 4)
	f.hold = 2 * time.Millisecond
	res, _, err := runBench(t, f, "isolation", "--strategies", "async,pessimistic", "--vus", "10", "--victims", "3",
		"--duration", "400ms", "--victim-delay", "50ms", "--capacity", "10000", "--members", "10000", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if res.Baseline == nil || res.Baseline.Requests == 0 || res.Baseline.Errors != 0 {
		t.Fatalf("baseline %+v", res.Baseline)
	}
	for _, name := range []string{"async", "pessimistic"} {
		s := strategyOf(t, res, name)
		if s.Victims == nil || s.Victims.Requests == 0 || s.Victims.Errors != 0 || s.Accepted == 0 {
			t.Errorf("%s: accepted %d victims %+v", name, s.Accepted, s.Victims)
		}
	}
	// Pessimistic reservers hold every pool connection while they queue for
	// the concert lock, so the victims wait behind them.
	if a, p := strategyOf(t, res, "async").Victims.LatencyMs.P99, strategyOf(t, res, "pessimistic").Victims.LatencyMs.P99; p < 2*a {
		t.Logf("victims' p99: async %.2f ms, pessimistic %.2f ms (expected the latter to be much higher)", a, p)
	}
	// The victims' charts (SVG only: PNG is slow under the race detector
	// and TestCompareJSONAndReport covers it).
	dir := t.TempDir()
	charts, err := writeCharts(dir, res, []string{"svg"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts[:2] {
		if svg, err := os.ReadFile(filepath.Join(dir, c.SVG)); err != nil || !bytes.Contains(svg, []byte("<svg")) || !strings.HasPrefix(c.SVG, "victim_") {
			t.Errorf("%s: %d bytes, err %v", c.SVG, len(svg), err)
		}
	}
}

func TestNilEnvRunsWithoutAudit(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	_ = f.Reset(context.Background(), 1, 5, 100)
	target := serve(t, f.handle)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"compare", "--strategies", "pessimistic", "--rate", "500", "--duration", "100ms",
		"--members", "100", "--target", target, "--quiet"}, &stdout, &stderr, nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "no Env") {
		t.Errorf("stderr lacks the no-Env note: %s", stderr.String())
	}
}

func TestUnreachableTarget(t *testing.T) {
	err := run(context.Background(), []string{"compare", "--target", "http://127.0.0.1:1", "--quiet"}, &bytes.Buffer{}, &bytes.Buffer{}, nil, noEnv)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("err %v, want unreachable", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, "missing scenario"},
		{[]string{"nope"}, nil, `unknown scenario "nope"`},
		{[]string{"--scenario", "nope"}, nil, `unknown scenario "nope"`},
		{[]string{"compare", "--rate", "-5"}, nil, "--rate must be in"},
		{[]string{"compare", "--rate", "0"}, nil, "--rate must be in"},
		{[]string{"compare", "--duration", "-1s"}, nil, "--duration must be in"},
		{[]string{"compare", "--requests", "-1"}, nil, "--requests must not be negative"},
		{[]string{"compare", "--strategies", "async,foo"}, nil, `unknown strategy "foo"`},
		{[]string{"compare", "--strategies", "async,async"}, nil, `"async" given twice`},
		{[]string{"compare", "--model", "mixed"}, nil, "--model must be"},
		{[]string{"compare", "--target", "ftp://127.0.0.1"}, nil, "http:// or https://"},
		{[]string{"compare", "--target", "http://127.0.0.1:8080/api"}, nil, "without path"},
		{[]string{"compare", "--capacity", "0"}, nil, "--capacity must be in"},
		{[]string{"compare", "--timeout", "0s"}, nil, "--timeout must be in"},
		{[]string{"compare", "--rounds", "0"}, nil, "--rounds must be in"},
		{[]string{"compare", "--warmup", "-1s"}, nil, "--warmup must be in"},
		{[]string{"compare", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"compare", "--bogus"}, nil, "flag provided but not defined: -bogus"},
		{[]string{"compare", "--rate", "fast"}, nil, `invalid value "fast" for flag -rate`},
		{[]string{"ramp", "--vus", "0"}, nil, "--vus must be in"},
		{[]string{"ramp", "--model", "open"}, nil, "closed model only"},
		{[]string{"ramp", "--ramp", "0s", "--hold", "0s"}, nil, "nothing would run"},
		{[]string{"isolation", "--duration", "1s", "--victim-delay", "2s"}, nil, "--victim-delay must be in"},
		{[]string{"compare", "--scenario", "rush"}, nil, "scenario given twice"},
		{[]string{"compare"}, map[string]string{"BOX_RATE": "abc"}, `BOX_RATE="abc"`},
	} {
		getenv := func(k string) string { return tc.env[k] }
		err := run(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{}, nil, getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"rush", "-h"}} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, &bytes.Buffer{}, &stderr, nil, noEnv)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "scenarios:") || !strings.Contains(stderr.String(), "-drain-timeout") {
			t.Errorf("%q: err %v, usage %q", args, err, stderr.String())
		}
		// Every scenario is listed, writer too, though its own rig parses its flags.
		for _, s := range append(slices.Clone(scenarios), scenarioWriter) {
			if !strings.Contains(stderr.String(), "\n  "+s+" ") {
				t.Errorf("%q: usage does not list %s", args, s)
			}
		}
	}
}

func TestOptionsFromEnvAndDefaults(t *testing.T) {
	env := map[string]string{"BOX_RATE": "123", "BOX_CAPACITY": "77", "BOX_SCENARIO": "rush", "BOX_TARGET": "http://127.0.0.1:9"}
	o, err := parseOptions([]string{"--capacity", "88"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Scenario != "rush" || o.Rate != 123 || o.Capacity != 88 || o.Target != "http://127.0.0.1:9" {
		t.Errorf("options %+v: want scenario rush, rate 123 from env, capacity 88 from the flag", o)
	}
	if len(o.Strategies) != 1 || o.Strategies[0] != "async" {
		t.Errorf("rush strategies %v, want [async]", o.Strategies)
	}
	r, err := parseOptions([]string{"ramp"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if r.VUs != 2000 || r.Ramp != 10*time.Second || r.Hold != 30*time.Second || r.Concerts != 10 || r.Capacity != 100_000 || r.Members != 1_000_000 || r.Model != "closed" {
		t.Errorf("ramp defaults %+v, want the reference run", r)
	}
	c, err := parseOptions([]string{"compare", "--model", "closed", "--duration", "3s"}, noEnv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hold != 3*time.Second {
		t.Errorf("closed compare hold %v, want --duration", c.Hold)
	}
}

// SCHEMA.md documents every field the JSON has.
func TestSchemaDocumentsEveryField(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty == reflect.TypeFor[time.Time]() {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !bytes.Contains(doc, []byte("`"+name+"`")) {
				t.Errorf("SCHEMA.md does not document %s.%s (`%s`)", ty.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Result]())
	if !bytes.Contains(doc, []byte("schema_version")) {
		t.Error("SCHEMA.md lacks schema_version")
	}
}

func TestMachineParsing(t *testing.T) {
	cpu := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n"
	if got := parseCPUModel(strings.NewReader(cpu)); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("cpu %q", got)
	}
	mem := "MemTotal:       24576000 kB\nMemFree:        1000 kB\n"
	if got := parseMemTotal(strings.NewReader(mem)); got != 24576000*1024 {
		t.Errorf("memory %d", got)
	}
	if got := parseMemTotal(strings.NewReader("nothing")); got != 0 {
		t.Errorf("memory of nothing %d", got)
	}
}

// Several targets take the requests in turn; --ids keeps the reservation id
// of every 2xx answer (in the results and in its file), and LoadStarted is
// told the load's time zero once, before any request of it is answered.
func TestTargetsIDsAndLoadStarted(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	var hits [2]atomic.Int64
	targets := make([]string, 2)
	for i := range targets {
		targets[i] = serve(t, func(ctx *fasthttp.RequestCtx) {
			if ctx.IsPost() {
				hits[i].Add(1)
			}
			f.handle(ctx)
		})
	}
	idsFile := filepath.Join(t.TempDir(), "ids.tsv")
	var started []time.Time
	hooks := Hooks{LoadStarted: func(strategy string, start time.Time) {
		if strategy != "async" {
			t.Errorf("LoadStarted(%q)", strategy)
		}
		started = append(started, start)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := time.Now()
	var stdout, stderr bytes.Buffer
	res, err := RunWith(ctx, []string{"rush", "--target", strings.Join(targets, ","), "--capacity", "40", "--members", "60",
		"--rate", "400", "--duration", "1s", "--quiet", "--ids", idsFile, "--audit-every", "20ms", "--drain-timeout", "3s"},
		&stdout, &stderr, f, nil, hooks)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	s := strategyOf(t, res, "async")
	if s.Accepted != 40 || len(s.AcceptedIDs) != 40 {
		t.Fatalf("accepted %d, ids %d, want 40 each", s.Accepted, len(s.AcceptedIDs))
	}
	seen := map[string]bool{}
	for _, id := range s.AcceptedIDs {
		if id == "" || seen[id] {
			t.Fatalf("id %q empty or twice in %v", id, s.AcceptedIDs)
		}
		seen[id] = true
	}
	b, err := os.ReadFile(idsFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 41 || lines[1] != "async\t1\t"+s.AcceptedIDs[0] {
		t.Errorf("ids file: %d lines, first %q", len(lines), lines[min(1, len(lines)-1)])
	}
	// The load alternates; the strategy probe before it goes to the first
	// target only, hence a difference of up to 2.
	if h0, h1 := hits[0].Load(), hits[1].Load(); h0 == 0 || h1 == 0 || h0-h1 > 2 || h1-h0 > 2 {
		t.Errorf("requests per target %d and %d, want them taken in turn", h0, h1)
	}
	if len(started) != 1 || started[0].Before(before) {
		t.Errorf("LoadStarted called %d times (%v)", len(started), started)
	}
}

// Without --ids no success body is read and no id kept.
func TestNoIDsByDefault(t *testing.T) {
	t.Parallel()
	res, _, err := runBench(t, newFakeSystem(), "rush", "--capacity", "10", "--members", "20", "--rate", "200", "--duration", "1s", "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if s := strategyOf(t, res, "async"); s.Accepted != 10 || s.AcceptedIDs != nil {
		t.Errorf("accepted %d, ids %v", s.Accepted, s.AcceptedIDs)
	}
}

// A strategy the gateway does not serve (not in its --strategies) is
// skipped with the flag that turns it on; the others run.
func TestCompareSkipsUnservedStrategy(t *testing.T) {
	t.Parallel()
	f := newFakeSystem()
	f.unserved = map[string]bool{strategyPessimistic: true}
	res, _, err := runBench(t, f, "compare", "--strategies", "async,pessimistic",
		"--capacity", "20", "--members", "50", "--rate", "500", "--duration", "100ms")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if p := strategyOf(t, res, "pessimistic"); !p.Skipped || !strings.Contains(p.SkipReason, "--strategies") {
		t.Errorf("pessimistic: skipped %v reason %q, want skipped naming --strategies", p.Skipped, p.SkipReason)
	}
	if a := strategyOf(t, res, "async"); a.Skipped || a.Accepted != 20 {
		t.Errorf("async: skipped %v accepted %d, want it run (20)", a.Skipped, a.Accepted)
	}
}
