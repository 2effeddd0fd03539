package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/servicetest"
)

// perfFields are the figures issue 14 asks perf.json for by name.
var perfFields = []string{"machine", "ceiling_rps", "async_accepted_per_s", "async_persisted_per_s", "lag_drain_s",
	"p99_ms_at_half_rate", "p999_ms_at_half_rate", "p50_ms_at_64_clients", "soldout_rps", "writer_rows_per_s",
	"gateway_rss_mb_10k_conns", "targets"}

// perfEnv is this process's environment with the BOX_* variables replaced
// by those of the test's slice of the services.
func perfEnv(redisAddr, prefix, brokers, topic, group, notifications, dsn string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BOX_") {
			env = append(env, kv)
		}
	}
	return append(env, "BOX_REDIS_ADDR="+redisAddr, "BOX_REDIS_PREFIX="+prefix, "BOX_KAFKA_BROKERS="+brokers,
		"BOX_TOPIC="+topic, "BOX_GROUP="+group, "BOX_NOTIFICATIONS_TOPIC="+notifications, "BOX_MYSQL_DSN="+dsn)
}

// Every step of `boxoffice bench perf` at a small size, against the real
// services (a database, prefix, topic and group of the test's own) and the
// real binary's gateway and writer: each step ran (the writer step says
// why not), the JSON has issue 14's fields and parses into the schema, the
// report was written, and the processes perf started are gone.
func TestPerf(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and a writer and runs every step")
	}
	cfg := servicetest.Config(t)
	bin := servicetest.Binary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "perf.json")
	report := filepath.Join(dir, "perf")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "perf", "--json", file, "--report", report, "--quiet",
		"--duration", "2s", "--step", "1s", "--warmup", "0s", "--clients", "8", "--wrk", "",
		"--conns", "300", "--ramp-vus", "20", "--ramp", "500ms", "--hold", "1s", "--ramp-members", "5000",
		"--writer-events", "3000", "--writer-batch-sizes", "1000")
	cmd.Env = perfEnv(cfg.RedisAddr, cfg.RedisPrefix, strings.Join(cfg.KafkaBrokers, ","), cfg.Topic, cfg.Group, cfg.NotificationsTopic, cfg.MySQLDSN)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s\nstdout:\n%s\nstderr:\n%s", time.Since(start).Round(time.Second), stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range perfFields {
		if _, ok := raw[f]; !ok {
			t.Errorf("perf.json has no %q", f)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r PerfResult
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("perf.json does not parse into the schema: %v", err)
	}
	for _, s := range r.Steps {
		want := stepOK
		if s.Status != want {
			t.Errorf("step %s: %s (%s), want %s", s.Name, s.Status, s.Note, want)
		}
	}
	if r.WriterRowsPerS == nil || *r.WriterRowsPerS <= 0 || len(r.WriterCurve) != 1 {
		t.Errorf("writer alone: %v rows/s, curve %+v", r.WriterRowsPerS, r.WriterCurve)
	}
	if len(r.Steps) != len(perfSteps) {
		t.Errorf("%d steps, want %d", len(r.Steps), len(perfSteps))
	}
	if r.CeilingRPS <= 0 || r.AsyncAcceptedPerS <= 0 || r.AsyncPersistedPerS <= 0 || r.SoldoutRPS <= 0 || r.P50MsAt64Clients <= 0 || r.P99MsAtHalfRate <= 0 {
		t.Errorf("a figure is missing: C %g, accepted %g, persisted %g, sold out %g, p50@64 %g, p99@half %g",
			r.CeilingRPS, r.AsyncAcceptedPerS, r.AsyncPersistedPerS, r.SoldoutRPS, r.P50MsAt64Clients, r.P99MsAtHalfRate)
	}
	if r.AsyncSustainablePerS <= 0 || r.HalfRate <= 0 || math.Abs(r.HalfRate-r.AsyncSustainablePerS/2) > 1 {
		t.Errorf("half rate %g for a sustainable %g/s", r.HalfRate, r.AsyncSustainablePerS)
	}
	if r.OverloadOfferedPerS != 2*r.AsyncSustainablePerS || r.OverloadAcceptedPerS <= 0 {
		t.Errorf("overload: %g/s offered, %g accepted, for a sustainable %g/s", r.OverloadOfferedPerS, r.OverloadAcceptedPerS, r.AsyncSustainablePerS)
	}
	if len(r.RSS) != 2 || r.RSS[0].Open != 300 || r.RSS[1].Open != 300 || r.GatewayRSSMB10kConns <= 0 || r.GatewayRSSMB10kConnsKeepBuffers <= 0 {
		t.Errorf("rss %+v", r.RSS)
	}
	for _, c := range []*PerfCPU{r.AsyncCPU, r.RampCPU} {
		if c == nil {
			t.Fatal("no CPU accounting")
		}
		for _, p := range []string{"gateway", "writer", "harness"} {
			if c.CPUS[p] <= 0 {
				t.Errorf("no CPU for %s: %+v", p, c.CPUS)
			}
		}
	}
	if r.AsyncCPU.UsPerReservation["gateway"] <= 0 {
		t.Errorf("no µs per reservation: %+v", r.AsyncCPU)
	}
	if len(r.Targets) != 11 {
		t.Errorf("%d targets, want 11", len(r.Targets))
	}
	for _, tg := range r.Targets {
		want := []string{targetPass, targetMissed}
		if tg.Field == "writer_rows_per_s" {
			want = []string{targetPass, targetMissed}
		}
		if !strings.Contains(strings.Join(want, ","), tg.Status) || tg.Status == "" {
			t.Errorf("target %q: %s, want one of %v", tg.Name, tg.Status, want)
		}
		if tg.RatioWant != nil && (tg.RatioToC == nil || *tg.RatioToC <= 0) {
			t.Errorf("target %q: no ratio to C", tg.Name)
		}
	}
	for _, f := range []string{"report.md", "index.html", "throughput_vs_offered.png", "latency_vs_offered.svg", "async/index.html", "ramp/index.html", "logs/gateway.log"} {
		if _, err := os.Stat(filepath.Join(report, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	if !strings.Contains(stdout.String(), "async sustained at ≥ 0.4 × C") {
		t.Errorf("no targets in the table:\n%s", stdout.String())
	}
	if r.Settings.Bin != bin {
		t.Errorf("settings bin %q, want %q", r.Settings.Bin, bin)
	}
	// Each process perf started was stopped: none of this binary is left.
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil && exe == bin {
			t.Errorf("pid %s (%s) still runs after perf", d.Name(), exe)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the name has
	// a space and a parenthesis.
	stat := "1234 (my (proc) x) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 8 0 100 1000000 200 18446744073709551615"
	d, err := parseStatCPU(stat)
	if err != nil || d != 3*time.Second {
		t.Fatalf("%v, %v; want 3s", d, err)
	}
	if _, err := parseStatCPU("1234 (x) S 1"); err == nil {
		t.Error("a short line parsed")
	}
}

func TestListenInodes(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:18EB 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4444 1 0000000000000000 100 0 0 10 0
`
	got := listenInodes(table, 6379)
	if len(got) != 1 || got[0] != "4242" {
		t.Fatalf("%v, want [4242] (the listener on 6379, not its connection)", got)
	}
	if pid, err := listenerPid(-1); err == nil {
		t.Errorf("port -1 has a listener: %d", pid)
	}
}

func TestMySQLPort(t *testing.T) {
	for dsn, want := range map[string]int{
		"u:p@tcp(127.0.0.1:3307)/db?parseTime=true": 3307,
		"u:p@tcp(localhost)/db":                     3306,
		"u:p@unix(/tmp/sock)/db":                    0,
	} {
		if got := mysqlPort(dsn); got != want {
			t.Errorf("%s: %d, want %d", dsn, got, want)
		}
	}
}

// The targets are judged against the same run's C, a step that did not run
// leaves its targets not run, and ≤ targets pass at or below.
func TestPerfTargets(t *testing.T) {
	r := &PerfResult{
		CeilingRPS: 10_000, AsyncAcceptedPerS: 4_100, AsyncPersistedPerS: 4_000, LagDrainS: 2.5,
		P99MsAtHalfRate: 5, P999MsAtHalfRate: 30, P50MsAt64Clients: 2, SoldoutRPS: 7_000,
		GatewayRSSMB10kConns: 120,
		Async:                &StrategyResult{Drained: true}, HalfRateLoad: &StrategyResult{}, Clients64: &StrategyResult{},
		SoldOut: &PerfSoldOut{},
		Steps: []PerfStep{{Name: stepCeiling, Status: stepOK}, {Name: stepAsync, Status: stepOK}, {Name: stepLatency, Status: stepOK},
			{Name: stepSoldOut, Status: stepOK}, {Name: stepWriter, Status: stepNotRun}, {Name: stepRSS, Status: stepOK}, {Name: stepRamp, Status: stepNotRun}},
	}
	got := map[string]PerfTarget{}
	for _, tg := range perfTargets(r) {
		got[tg.Field] = tg
	}
	for field, want := range map[string]string{
		"async_accepted_per_s": targetPass, "async_persisted_per_s": targetPass, "lag_drain_s": targetMissed,
		"p99_ms_at_half_rate": targetPass, "p999_ms_at_half_rate": targetMissed, "p50_ms_at_64_clients": targetPass,
		"soldout_rps": targetMissed, "writer_rows_per_s": targetNotRun, "gateway_rss_mb_10k_conns": targetPass,
		"ramp_cpu.share_of_machine.gateway": targetNotRun,
	} {
		if got[field].Status != want {
			t.Errorf("%s: %s, want %s (%+v)", field, got[field].Status, want, got[field])
		}
	}
	if tg := got["soldout_rps"]; tg.Want != 8_000 || tg.RatioToC == nil || *tg.RatioToC != 0.7 {
		t.Errorf("sold out: want %g, ratio %v; want 8000 and 0.7", tg.Want, tg.RatioToC)
	}
	r.CeilingRPS = 0
	for _, tg := range perfTargets(r) {
		if tg.RatioWant != nil && tg.Status != targetNotRun {
			t.Errorf("%s judged without C: %s", tg.Field, tg.Status)
		}
	}
}

// SCHEMA.md's perf section documents every field of perf.json.
func TestSchemaDocumentsPerf(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	_, perf, ok := bytes.Cut(doc, []byte("\n## `perf`"))
	if !ok {
		t.Fatal("SCHEMA.md has no perf section")
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		// The types shared with Result are documented above the section
		// (TestSchemaDocumentsEveryField).
		if ty.Kind() != reflect.Struct || seen[ty] || !strings.HasPrefix(ty.Name(), "Perf") {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !bytes.Contains(perf, []byte("`"+name+"`")) {
				t.Errorf("SCHEMA.md's perf section does not document %s.%s (`%s`)", ty.Name(), f.Name, name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[PerfResult]())
}

// The writer's batch-size curve is drawn once it has two sizes, and a load
// without answers does not break the latency chart.
func TestPerfWriterCurveChart(t *testing.T) {
	dir := t.TempDir()
	r := &PerfResult{WriterCurve: []WriterStep{{BatchSize: 1000, RowsPerS: 47_000}, {BatchSize: 250, RowsPerS: 30_000}, {BatchSize: 4000, RowsPerS: 49_000}},
		// A rung with no answer has no latency: the log axis must skip it,
		// not panic (gonum does on a zero).
		SustainableLadder: []PerfRung{{OfferedPerS: 4000, AcceptedPerS: 3900, P50Ms: 3, P99Ms: 40}, {OfferedPerS: 5000}}}
	files, err := writePerfCharts(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range files {
		found = found || f.PNG == "writer_batch_size.png"
	}
	if _, err := os.Stat(filepath.Join(dir, "writer_batch_size.svg")); err != nil || !found {
		t.Fatalf("no writer chart: %v (%+v)", err, files)
	}
}
