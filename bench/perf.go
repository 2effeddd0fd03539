package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/boxoffice/boxoffice/config"
)

// scenarioPerf is `boxoffice bench perf`: issue 14's measurements in one
// sitting, against a gateway and a writer it starts itself.
const scenarioPerf = "perf"

// perfOptions are perf's own flags: it runs the other scenarios with
// arguments it builds, so it shares none of their flag set.
type perfOptions struct {
	Bin          string
	JSON         string
	Report       string
	Steps        []string
	Duration     time.Duration // step 2: the async load
	Step         time.Duration // each short step: ceiling, latency, sold out
	Warmup       time.Duration
	Timeout      time.Duration
	DrainTimeout time.Duration
	AsyncShare   float64
	AsyncRate    float64
	MaxInFlight  int
	Concerts     int
	Clients      intList
	Wrk          string
	Conns        int
	RampVUs      int
	Ramp         time.Duration
	Hold         time.Duration
	RampMembers  int
	GatewayFlags string
	WriterFlags  string
	Quiet        bool
	// FrontNice lowers the CPU priority of the gateway and the load
	// generator (this process) to model a gateway on machines of its own:
	// co-located at equal priority, a flood of requests starves the
	// single-threaded Redis (at 10,000/s offered, 1,900 accepted/s against
	// 9,100 with the front at nice 5 and 10).
	FrontNice int
	// WriterEvents and WriterBatchSizes size step 5 (bench writer).
	WriterEvents     int
	WriterBatchSizes string
}

// The steps, in the order they run.
const (
	stepCeiling = "ceiling"
	stepAsync   = "async"
	stepLatency = "latency"
	stepSoldOut = "soldout"
	stepWriter  = "writer"
	stepRSS     = "rss"
	stepRamp    = "ramp"
)

var perfSteps = []string{stepCeiling, stepAsync, stepLatency, stepSoldOut, stepWriter, stepRSS, stepRamp}

func perfDefaults() perfOptions {
	return perfOptions{
		Steps:    slices.Clone(perfSteps),
		Duration: 30 * time.Second,
		// 5 s gives a stable figure per step and keeps the whole run near
		// ten minutes on two cores.
		Step:         5 * time.Second,
		Warmup:       3 * time.Second,
		Timeout:      5 * time.Second,
		DrainTimeout: 60 * time.Second,
		AsyncShare:   0.4,
		// Enough that the client does not drop at 0.4 × C while the gateway
		// queues (rate × latency); more would only open more sockets, and
		// the gateway sheds past --max-admissions anyway.
		MaxInFlight: 5_000,
		Concerts:    10,
		// About four seconds of draining per batch size at ~50,000 rows/s.
		WriterEvents:     200_000,
		WriterBatchSizes: "1000,250,4000",
		Clients:          intList{16, 64, 256},
		Wrk:              "wrk",
		Conns:            10_000,
		// The public reference's k6 shape (bench ramp's defaults).
		RampVUs:     2_000,
		Ramp:        10 * time.Second,
		Hold:        30 * time.Second,
		RampMembers: 1_000_000,
	}
}

func registerPerf(fs *flag.FlagSet, o *perfOptions) {
	fs.StringVar(&o.Bin, "bin", o.Bin, "the boxoffice binary whose gateways and writer perf starts (empty: this one)")
	fs.StringVar(&o.JSON, "json", o.JSON, "write the results to this file (bench/SCHEMA.md: perf)")
	fs.StringVar(&o.Report, "report", o.Report, "write report.md, index.html, charts and the processes' logs into this directory")
	fs.Var((*stringList)(&o.Steps), "steps", "steps to run, comma-separated: "+strings.Join(perfSteps, ", ")+" (async needs C or --async-rate; latency the async figure or --async-rate)")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "async: how long the sustained load runs")
	fs.DurationVar(&o.Step, "step", o.Step, "each short step: a ceiling step, the half-rate and 64-client latency loads, the sold-out load")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "async: an unmeasured load this long first (then drained and reset)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of one request")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "longest wait for the writer after a load")
	fs.Float64Var(&o.AsyncShare, "async-share", o.AsyncShare, "async: offered rate as a share of C (the target is 0.4)")
	fs.Float64Var(&o.AsyncRate, "async-rate", o.AsyncRate, "async: offered requests/s, instead of --async-share × C (0: the share)")
	fs.IntVar(&o.MaxInFlight, "max-inflight", o.MaxInFlight, "async and half rate: most requests outstanding (open model)")
	fs.IntVar(&o.Concerts, "concerts", o.Concerts, "concerts the async loads spread over")
	fs.Var(&o.Clients, "clients", "ceiling: closed-loop steps (comma-separated numbers of clients)")
	fs.StringVar(&o.Wrk, "wrk", o.Wrk, "ceiling: wrk binary beside the closed steps where found (empty: none)")
	fs.IntVar(&o.Conns, "conns", o.Conns, "rss: keep-alive connections held open")
	fs.IntVar(&o.RampVUs, "ramp-vus", o.RampVUs, "ramp: virtual users at full load")
	fs.DurationVar(&o.Ramp, "ramp", o.Ramp, "ramp: ramp-up (and ramp-down) time")
	fs.DurationVar(&o.Hold, "hold", o.Hold, "ramp: time at full load")
	fs.IntVar(&o.RampMembers, "ramp-members", o.RampMembers, "ramp: the pool members are drawn from")
	fs.StringVar(&o.GatewayFlags, "gateway-flags", o.GatewayFlags, "more flags for every gateway perf starts, space-separated (e.g. --soldout-ttl 0)")
	fs.StringVar(&o.WriterFlags, "writer-flags", o.WriterFlags, "more flags for the writer, space-separated (e.g. --batch-size 2000)")
	fs.BoolVar(&o.Quiet, "quiet", o.Quiet, "no progress line of the loads on stderr (the step lines stay)")
	fs.IntVar(&o.WriterEvents, "writer-events", o.WriterEvents, "writer: events in the pre-filled topic the writer drains alone")
	fs.StringVar(&o.WriterBatchSizes, "writer-batch-sizes", o.WriterBatchSizes, "writer: the batch sizes of its curve, comma-separated (the first is the figure; 1000 is the writer's default)")
	fs.IntVar(&o.FrontNice, "front-nice", o.FrontNice, "run the gateways and the load generator at this nice value (1–19), the writer and the services at theirs: the back end keeps its CPU as on machines of its own (0: all equal)")
}

func (o *perfOptions) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.FrontNice >= 0 && o.FrontNice <= 19, "front-nice must be 0–19, got %d", o.FrontNice)
	for _, s := range o.Steps {
		check(slices.Contains(perfSteps, s), "--steps: unknown step %q: want some of %s", s, strings.Join(perfSteps, ", "))
	}
	check(o.Duration > 0 && o.Duration <= time.Hour, "--duration must be in (0, 1h], got %s", o.Duration)
	check(o.Step > 0 && o.Step <= time.Hour, "--step must be in (0, 1h], got %s", o.Step)
	check(o.Warmup >= 0 && o.Warmup <= time.Hour, "--warmup must be in [0, 1h], got %s", o.Warmup)
	check(o.Timeout > 0 && o.Timeout <= time.Hour, "--timeout must be in (0, 1h], got %s", o.Timeout)
	check(o.DrainTimeout >= 0 && o.DrainTimeout <= time.Hour, "--drain-timeout must be in [0, 1h], got %s", o.DrainTimeout)
	check(o.AsyncShare > 0 && o.AsyncShare <= 10, "--async-share must be in (0, 10], got %g", o.AsyncShare)
	check(o.AsyncRate >= 0 && o.AsyncRate <= maxRate, "--async-rate must be in [0, %d], got %g", maxRate, o.AsyncRate)
	check(o.MaxInFlight >= 1 && o.MaxInFlight <= 15_000, "--max-inflight must be in 1..15000 (one connection each, below the gateway's --max-conns), got %d", o.MaxInFlight)
	check(o.Concerts >= 1 && o.Concerts <= 1000, "--concerts must be in 1..1000, got %d", o.Concerts)
	check(len(o.Clients) > 0, "--clients: empty")
	check(o.Conns >= 1 && o.Conns <= 60_000, "--conns must be in 1..60000, got %d", o.Conns)
	check(o.RampVUs >= 1 && o.RampVUs <= maxVUs, "--ramp-vus must be in 1..%d, got %d", maxVUs, o.RampVUs)
	check(o.Ramp >= 0 && o.Hold >= 0 && 2*o.Ramp+o.Hold > 0, "--ramp and --hold: nothing would run")
	check(o.RampMembers >= 1 && o.RampMembers <= maxMembers, "--ramp-members must be in 1..%d, got %d", maxMembers, o.RampMembers)
	return errors.Join(errs...)
}

func (o *perfOptions) runs(step string) bool { return slices.Contains(o.Steps, step) }

// parsePerf reads perf's flags (after "perf"); BOX_<FLAG> fills a flag not given.
func parsePerf(args []string, getenv func(string) string, stderr io.Writer) (perfOptions, error) {
	o := perfDefaults()
	if err := parseOwnFlags(scenarioPerf, args, getenv, stderr, func(fs *flag.FlagSet) { registerPerf(fs, &o) }); err != nil {
		return o, err
	}
	return o, o.validate()
}

// parseOwnFlags parses the flags of a scenario that has its own (perf,
// room): -h prints its help and flags, an unknown flag or argument is an
// error naming -h, and BOX_<FLAG> fills a flag not given.
func parseOwnFlags(scenario string, args []string, getenv func(string) string, stderr io.Writer, register func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet("boxoffice bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: boxoffice bench %s [flags]\n\n%s\n\nflags:\n", scenario, scenarioHelp[scenario])
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%w (boxoffice bench %s -h lists the flags)", err, scenario)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return config.ApplyEnv(fs, getenv)
}

// perfRun is one run of perf.
type perfRun struct {
	o      perfOptions
	env    Env
	stderr io.Writer
	getenv func(string) string
	res    *PerfResult
	logs   string

	gateway *perfProc
	gwURL   string
	writer  *perfProc
	started []*perfProc
	// pids are the processes whose CPU is counted, by name.
	pids map[string]int
}

func (pr *perfRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	pr.res.Notes = append(pr.res.Notes, msg)
	fmt.Fprintln(pr.stderr, "note: "+msg)
}

// say is a step's progress line.
func (pr *perfRun) say(format string, args ...any) {
	fmt.Fprintf(pr.stderr, "perf: "+format+"\n", args...)
}

// runPerf runs perf: args are what follows "perf".
func runPerf(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, getenv func(string) string) error {
	o, err := parsePerf(args, getenv, stderr)
	if err != nil {
		return err
	}
	if env == nil {
		return errors.New("perf seeds and audits through MySQL and Redis: set BOX_MYSQL_DSN and BOX_REDIS_ADDR (make bench-perf does)")
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("--bin: %w", err)
		}
	}
	pr := &perfRun{o: o, env: env, stderr: stderr, getenv: getenv, pids: map[string]int{}}
	pr.res = newPerfResult()
	if o.Report != "" {
		pr.logs = filepath.Join(o.Report, "logs")
	} else if pr.logs, err = os.MkdirTemp("", "boxoffice-perf-"); err != nil {
		return err
	} else {
		defer os.RemoveAll(pr.logs)
	}
	if err := os.MkdirAll(pr.logs, 0o755); err != nil {
		return err
	}
	if n, err := raiseNoFile(); err != nil || n < uint64(o.Conns)+uint64(o.MaxInFlight)+1000 {
		pr.note("open-file limit %d (%v): the rss step's %d connections may not all open (ulimit -n)", n, err, o.Conns)
	}

	runErr := pr.run(ctx)
	pr.stopAll()
	pr.res.FinishedAt = time.Now().UTC()
	pr.res.LoadAvgEnd = loadAvg()
	pr.res.Targets = perfTargets(pr.res)
	printPerf(stdout, pr.res)
	errs := []error{runErr}
	if o.JSON != "" {
		errs = append(errs, writePerfJSON(o.JSON, pr.res))
	}
	if o.Report != "" {
		if err := writePerfReport(o.Report, pr.res); err != nil {
			errs = append(errs, fmt.Errorf("--report: %w", err))
		} else {
			fmt.Fprintf(stderr, "report: %s\n", filepath.Join(o.Report, "report.md"))
		}
	}
	return errors.Join(errs...)
}

func newPerfResult() *PerfResult {
	return &PerfResult{
		SchemaVersion: SchemaVersion,
		Scenario:      scenarioPerf,
		StartedAt:     time.Now().UTC(),
		Machine:       readMachine(),
		LoadAvgStart:  loadAvg(),
		Steps:         []PerfStep{},
		Notes:         []string{},
	}
}

// run starts the system, then runs each step; a failed step is recorded
// and the next one still runs, unless the system itself is gone.
func (pr *perfRun) run(ctx context.Context) error {
	if err := pr.startSystem(ctx); err != nil {
		return err
	}
	steps := []struct {
		name, title string
		run         func(context.Context) error
	}{
		{stepCeiling, "1/7 ceiling C (POST /api/noop)", pr.ceiling},
		{stepAsync, "2/7 async sustained", pr.async},
		{stepLatency, "3/7 latency at half the sustained rate, and at 64 clients", pr.latency},
		{stepSoldOut, "4/7 sold-out answers", pr.soldOut},
		{stepWriter, "5/7 writer alone", pr.writerAlone},
		{stepRSS, "6/7 gateway RSS with open keep-alive connections", pr.rss},
		{stepRamp, "7/7 bench ramp and the CPU shares", pr.ramp},
	}
	var errs []error
	for _, s := range steps {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		st := PerfStep{Name: s.name, Status: stepNotRun}
		if !pr.o.runs(s.name) {
			st.Note = "not in --steps"
			pr.res.Steps = append(pr.res.Steps, st)
			continue
		}
		pr.say("step %s (load average %s)", s.title, loadAvg())
		start := time.Now()
		err := s.run(ctx)
		st.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
		switch {
		case errors.Is(err, errNotRun):
			st.Note = strings.TrimPrefix(err.Error(), errNotRun.Error()+": ")
		case err != nil:
			st.Status, st.Note = stepFailed, err.Error()
			errs = append(errs, fmt.Errorf("step %s: %w", s.name, err))
		default:
			st.Status = stepOK
		}
		pr.res.Steps = append(pr.res.Steps, st)
		pr.say("step %s: %s in %.1fs %s", s.name, st.Status, st.Seconds, st.Note)
		if !pr.gateway.alive() || !pr.writer.alive() {
			errs = append(errs, fmt.Errorf("the gateway or the writer exited during step %s (logs in %s)", s.name, pr.logs))
			break
		}
	}
	return errors.Join(errs...)
}

// errNotRun marks a step that could not run for a reason that is not a
// failure (nothing to start from, the command not there yet).
var errNotRun = errors.New("not run")

// Step statuses.
const (
	stepOK     = "ok"
	stepFailed = "failed"
	stepNotRun = "not run"
)

// gatewayArgs are the settings of every gateway perf starts: the run's
// (what a benchmark from one address needs: no per-address limits, the
// member from the body) with the no-op route, so that C is measured on the
// same binary and server settings as the reservations.
func (pr *perfRun) gatewayArgs(httpAddr, adminAddr string, extra ...string) []string {
	args := []string{"gateway", "--trust-body-member", "--address-rate", "0", "--max-conns-per-address", "0",
		"--noop-endpoint", "--http-addr", httpAddr, "--admin-addr", adminAddr}
	args = append(args, extra...)
	return append(args, strings.Fields(pr.o.GatewayFlags)...)
}

// startSystem migrates, seeds (which creates the topics), and starts the
// writer and the gateway of the run on free loopback ports.
func (pr *perfRun) startSystem(ctx context.Context) error {
	pr.say("starting: migrate, seed, writer, gateway (logs in %s)", pr.logs)
	if err := runOnce(ctx, pr.logs, pr.o.Bin, "migrate"); err != nil {
		return err
	}
	// The harness resets the stock before each load; seed is here for the
	// topics (created with the configured partitions).
	if err := runOnce(ctx, pr.logs, pr.o.Bin, "seed", "--concerts", "1", "--capacity", "1", "--members", "1", "--reset"); err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	wargs := append([]string{"writer", "--metrics-addr", metrics}, strings.Fields(pr.o.WriterFlags)...)
	if pr.writer, err = pr.start("writer", wargs); err != nil {
		return err
	}
	if err := waitHTTP(ctx, pr.writer, "http://"+metrics+"/healthz", time.Minute); err != nil {
		return err
	}
	httpAddr, adminAddr, err := twoAddrs()
	if err != nil {
		return err
	}
	pr.res.Settings = PerfSettings{GatewayArgs: pr.gatewayArgs("<addr>", "<addr>"), WriterArgs: append([]string{"writer", "--metrics-addr", "<addr>"}, strings.Fields(pr.o.WriterFlags)...),
		Bin: pr.o.Bin, RedisPrefix: pr.getenv("BOX_REDIS_PREFIX"), Topic: pr.getenv("BOX_TOPIC"), Group: pr.getenv("BOX_GROUP")}
	if pr.gateway, err = pr.start("gateway", pr.gatewayArgs(httpAddr, adminAddr)); err != nil {
		return err
	}
	pr.gwURL = "http://" + httpAddr
	if err := waitHTTP(ctx, pr.gateway, pr.gwURL+"/readyz", time.Minute); err != nil {
		return err
	}
	pr.pids["gateway"], pr.pids["writer"], pr.pids["harness"] = pr.gateway.pid(), pr.writer.pid(), os.Getpid()
	if n := pr.o.FrontNice; n != 0 {
		// Nice is per thread on Linux; PRIO_PGRP reaches every thread of a
		// process group, and threads made later inherit their maker's.
		// The writer started first, at the harness's priority; the
		// gateways started later inherit this one.
		if err := syscall.Setpriority(syscall.PRIO_PGRP, pr.gateway.pid(), n); err != nil {
			return fmt.Errorf("--front-nice: the gateway: %w", err)
		}
		if err := syscall.Setpriority(syscall.PRIO_PGRP, 0, n); err != nil {
			return fmt.Errorf("--front-nice: the load generator: %w", err)
		}
		pr.note("--front-nice %d: the gateways and the load generator ran at nice %d, the writer and the services at theirs", n, n)
	}
	pr.findServices()
	return nil
}

func twoAddrs() (string, string, error) {
	a, err := freeAddr()
	if err != nil {
		return "", "", err
	}
	b, err := freeAddr()
	return a, b, err
}

func (pr *perfRun) start(name string, args []string) (*perfProc, error) {
	p, err := startProc(pr.logs, name, pr.o.Bin, args)
	if err == nil {
		pr.started = append(pr.started, p)
	}
	return p, err
}

// stopAll stops what perf started, the last started first.
func (pr *perfRun) stopAll() {
	for i := len(pr.started) - 1; i >= 0; i-- {
		pr.started[i].stop(15 * time.Second)
	}
}

// findServices finds the pids of Redis, MariaDB and Kafka by the ports of
// the BOX_* addresses, for the CPU accounting.
func (pr *perfRun) findServices() {
	env := func(k, def string) string {
		if v := pr.getenv(k); v != "" {
			return v
		}
		return def
	}
	ports := map[string]int{
		"redis":   portOf(env("BOX_REDIS_ADDR", "127.0.0.1:6379")),
		"mariadb": mysqlPort(env("BOX_MYSQL_DSN", "tcp(127.0.0.1:3306)/")),
		"kafka":   portOf(strings.Split(env("BOX_KAFKA_BROKERS", "127.0.0.1:9092"), ",")[0]),
	}
	for _, name := range []string{"redis", "mariadb", "kafka"} {
		pid, err := listenerPid(ports[name])
		if err != nil {
			pr.note("no CPU figure for %s: %v", name, err)
			continue
		}
		pr.pids[name] = pid
	}
}

// cpuNames is the order the processes are listed in.
var cpuNames = []string{"gateway", "writer", "redis", "mariadb", "kafka", "harness"}

// cpuSnap reads each counted process's CPU so far.
func (pr *perfRun) cpuSnap() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pr.pids {
		if d, err := cpuTime(pid); err == nil {
			out[name] = d
		}
	}
	return out
}

// cpuSince is the CPU each process used between two snapshots.
// cpuWindow measures each process's CPU from the start of a load (its
// LoadStarted hook: after the warm-up and reset) to end.
type cpuWindow struct {
	pr     *perfRun
	mu     sync.Mutex
	before map[string]time.Duration
	start  time.Time
}

func (w *cpuWindow) hooks() Hooks {
	return Hooks{LoadStarted: func(string, time.Time) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.before, w.start = w.pr.cpuSnap(), time.Now()
	}}
}

// end is each process's CPU since the load started; nil when it never did.
func (w *cpuWindow) end() *PerfCPU {
	after := w.pr.cpuSnap()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.before == nil {
		return nil
	}
	return cpuSince(w.before, after, time.Since(w.start))
}

func cpuSince(before, after map[string]time.Duration, wall time.Duration) *PerfCPU {
	c := &PerfCPU{WallS: wall.Seconds(), CPUS: map[string]float64{}, ShareOfMachine: map[string]float64{}}
	cores := float64(readMachine().Cores)
	for name, a := range after {
		b, ok := before[name]
		if !ok {
			continue
		}
		s := (a - b).Seconds()
		c.CPUS[name] = s
		c.TotalS += s
		if wall > 0 && cores > 0 {
			c.ShareOfMachine[name] = s / (wall.Seconds() * cores)
		}
	}
	return c
}

// inner runs another scenario with args, quietly on stdout; its progress
// and notes go to stderr. The environment is not read: perf names every
// flag it means.
func (pr *perfRun) inner(ctx context.Context, hooks Hooks, args ...string) (*Result, error) {
	args = append(args, "--target", pr.gwURL, "--timeout", pr.o.Timeout.String())
	if pr.o.Quiet {
		args = append(args, "--quiet")
	}
	return runWith(ctx, args, io.Discard, pr.stderr, pr.env, func(string) string { return "" }, hooks)
}

// step 1.
func (pr *perfRun) ceiling(ctx context.Context) error {
	res, err := pr.inner(ctx, Hooks{}, "ceiling", "--clients", pr.o.Clients.String(), "--duration", pr.o.Step.String(),
		"--warmup", "1s", "--wrk", pr.o.Wrk)
	if res == nil || res.Ceiling == nil {
		return fmt.Errorf("ceiling: %w", err)
	}
	ce := res.Ceiling
	pr.res.Ceiling = ce
	pr.res.CeilingRPS = ce.RPS
	pr.res.CeilingWrkRPS = ce.WrkMaxRPS
	if ce.Step < 0 {
		return errors.Join(err, errors.New("ceiling: no step was sustained"))
	}
	pr.say("C = %s req/s (%s)", rate(ce.RPS), stepName(ce.Steps[ce.Step]))
	return err
}

// reservationSizes are members and seats per concert for a load of n
// requests over the run's concerts: a distinct member per request and
// never sold out, so that every reservation does the full work.
func (pr *perfRun) reservationSizes(n float64) (members, capacity int) {
	members = int(math.Ceil(n)) + 1_000
	members = min(members, maxMembers)
	return members, members/pr.o.Concerts + 1
}

// asyncLoad is the compare scenario's open model on async alone at rate.
func (pr *perfRun) asyncLoad(ctx context.Context, hooks Hooks, rateV float64, d, warmup time.Duration) (*StrategyResult, *Result, error) {
	members, capacity := pr.reservationSizes(rateV * max(d, warmup).Seconds())
	res, err := pr.inner(ctx, hooks, "compare", "--strategies", strategyAsync, "--model", modelOpen,
		"--rate", strconv.FormatFloat(rateV, 'f', 0, 64), "--duration", d.String(), "--warmup", warmup.String(),
		"--max-inflight", strconv.Itoa(pr.o.MaxInFlight), "--concerts", strconv.Itoa(pr.o.Concerts),
		"--capacity", strconv.Itoa(capacity), "--members", strconv.Itoa(members),
		"--drain-timeout", pr.o.DrainTimeout.String())
	if res == nil || len(res.Strategies) == 0 {
		return nil, res, fmt.Errorf("async load: %w", err)
	}
	sr := res.Strategies[0]
	if sr.Skipped {
		return nil, res, errors.Join(err, fmt.Errorf("async skipped: %s", sr.SkipReason))
	}
	return &sr, res, err
}

// step 2: async at --async-share × C for --duration, the CPU of each
// process over the load and its drain.
func (pr *perfRun) async(ctx context.Context) error {
	r := pr.o.AsyncRate
	if r == 0 {
		if pr.res.CeilingRPS <= 0 {
			return fmt.Errorf("%w: no C to take %g of (run the ceiling step, or give --async-rate)", errNotRun, pr.o.AsyncShare)
		}
		r = math.Round(pr.o.AsyncShare * pr.res.CeilingRPS)
	}
	pr.res.AsyncOfferedPerS = r
	w := &cpuWindow{pr: pr}
	sr, res, err := pr.asyncLoad(ctx, w.hooks(), r, pr.o.Duration, pr.o.Warmup)
	cpu := w.end()
	if sr == nil {
		return err
	}
	pr.res.Async, pr.res.asyncResult = sr, res
	pr.res.AsyncAcceptedPerS, pr.res.AsyncPersistedPerS = sr.AcceptedPerS, sr.PersistedPerS
	pr.res.LagDrainS = sr.DrainMs / 1000
	if !sr.Drained {
		pr.note("async: the writer had not caught up after --drain-timeout %s; lag_drain_s is at least that", pr.o.DrainTimeout)
	}
	if cpu != nil {
		if sr.Accepted > 0 {
			cpu.UsPerReservation = map[string]float64{}
			for name, s := range cpu.CPUS {
				cpu.UsPerReservation[name] = s * 1e6 / float64(sr.Accepted)
			}
			cpu.UsPerReservationTotal = cpu.TotalS * 1e6 / float64(sr.Accepted)
		}
		pr.res.AsyncCPU = cpu
	}
	pr.say("async at %s/s offered: accepted %s/s, persisted %s/s, drained %.2fs after the load", rate(r), rate(sr.AcceptedPerS), rate(sr.PersistedPerS), pr.res.LagDrainS)
	return errors.Join(err, pr.sustainable(ctx, r, sr), pr.overload(ctx))
}

// sustainable finds the rate the system keeps up with: when 0.4 × C was
// not sustained, a ladder of shorter loads from what it accepted upward,
// the highest rate with ≥ 95% accepted and ≤ 1% errors besides.
func (pr *perfRun) sustainable(ctx context.Context, offered float64, sr *StrategyResult) error {
	ok := func(sr *StrategyResult, r float64) bool {
		return sr.AcceptedPerS >= 0.95*r && float64(sr.Errors) <= 0.01*float64(max(sr.Sent, 1))
	}
	if ok(sr, offered) {
		pr.res.AsyncSustainablePerS = offered
		return nil
	}
	base := sr.AcceptedPerS
	// Up from 0.8 × what it accepted while the rungs hold; when the first
	// does not, down until one does. Each rung warms up for a second: a
	// cold start opens its connections all at once.
	factors := []float64{0.8, 1.0, 1.25, 1.5}
	for i := 0; i < len(factors); i++ {
		f := factors[i]
		r := math.Round(base * f)
		lsr, _, err := pr.asyncLoad(ctx, Hooks{}, r, pr.o.Step, time.Second)
		if lsr == nil {
			return err
		}
		rung := PerfRung{OfferedPerS: r, AcceptedPerS: lsr.AcceptedPerS, Errors: lsr.Errors, P50Ms: lsr.LatencyMs.P50, P99Ms: lsr.LatencyMs.P99, Sustained: ok(lsr, r)}
		pr.res.SustainableLadder = append(pr.res.SustainableLadder, rung)
		pr.say("sustainable? %s/s offered: accepted %s/s, %d errors, p99 %.1f ms: %v", rate(r), rate(lsr.AcceptedPerS), lsr.Errors, lsr.LatencyMs.P99, rung.Sustained)
		if rung.Sustained {
			pr.res.AsyncSustainablePerS = r
			continue
		}
		if pr.res.AsyncSustainablePerS > 0 || f <= 0.4 {
			break
		}
		if i == 0 || f < 0.8 {
			// Not even the first: go down instead.
			factors = append(factors[:i+1], f-0.2)
		}
	}
	if pr.res.AsyncSustainablePerS == 0 {
		pr.res.AsyncSustainablePerS = math.Round(base * 0.5)
		pr.note("async: no rung of the ladder was sustained; sustainable taken as half of what 0.4 × C got (%s/s)", rate(pr.res.AsyncSustainablePerS))
	}
	return nil
}

// overload offers twice the sustainable rate: what load shedding keeps.
func (pr *perfRun) overload(ctx context.Context) error {
	s := pr.res.AsyncSustainablePerS
	if s <= 0 {
		return nil
	}
	r := 2 * s
	sr, _, err := pr.asyncLoad(ctx, Hooks{}, r, 2*pr.o.Step, 0)
	if sr == nil {
		return err
	}
	pr.res.OverloadOfferedPerS, pr.res.OverloadAcceptedPerS, pr.res.OverloadP50Ms, pr.res.OverloadP99Ms = r, sr.AcceptedPerS, sr.LatencyMs.P50, sr.LatencyMs.P99
	pr.res.OverloadShed = sr.ErrorsByCode["503/overloaded"]
	pr.say("overload, %s/s offered (2 × sustainable %s/s): accepted %s/s (%.2f × sustainable), p99 %.1f ms, %d shed", rate(r), rate(s), rate(sr.AcceptedPerS), sr.AcceptedPerS/s, sr.LatencyMs.P99, pr.res.OverloadShed)
	return err
}

// step 3: the open model at half the rate step 2 sustained (what it
// accepted per second, at most what it was offered), then 64 clients in a
// closed loop.
func (pr *perfRun) latency(ctx context.Context) error {
	sustained := min(pr.res.AsyncAcceptedPerS, pr.res.AsyncOfferedPerS)
	if pr.res.AsyncSustainablePerS > 0 {
		sustained = pr.res.AsyncSustainablePerS
	}
	if pr.o.AsyncRate > 0 && !pr.o.runs(stepAsync) {
		sustained = pr.o.AsyncRate
	}
	if sustained <= 0 {
		return fmt.Errorf("%w: no sustained async rate to halve (run the async step, or give --async-rate)", errNotRun)
	}
	half := math.Max(1, math.Round(sustained/2))
	pr.res.HalfRate = half
	// Twice the short step: p99.9 wants a few thousand answers past it.
	sr, res, err := pr.asyncLoad(ctx, Hooks{}, half, 2*pr.o.Step, 0)
	if sr == nil {
		return err
	}
	pr.res.HalfRateLoad, pr.res.halfResult = sr, res
	pr.res.P99MsAtHalfRate, pr.res.P999MsAtHalfRate = sr.LatencyMs.P99, sr.LatencyMs.P999
	pr.say("at %s/s: p99 %s ms, p99.9 %s ms", rate(half), num(sr.LatencyMs.P99), num(sr.LatencyMs.P999))

	members, capacity := pr.reservationSizes(math.Max(pr.res.CeilingRPS, 20_000) * pr.o.Step.Seconds())
	res64, err64 := pr.inner(ctx, Hooks{}, "compare", "--strategies", strategyAsync, "--model", modelClosed, "--vus", "64",
		"--duration", pr.o.Step.String(), "--concerts", strconv.Itoa(pr.o.Concerts),
		"--capacity", strconv.Itoa(capacity), "--members", strconv.Itoa(members), "--drain-timeout", pr.o.DrainTimeout.String())
	if res64 == nil || len(res64.Strategies) == 0 || res64.Strategies[0].Skipped {
		return errors.Join(err, fmt.Errorf("64 clients: no result: %w", err64))
	}
	s64 := res64.Strategies[0]
	pr.res.Clients64, pr.res.clients64Result = &s64, res64
	pr.res.P50MsAt64Clients = s64.LatencyMs.P50
	pr.say("64 clients: %s req/s, p50 %s ms", rate(s64.RequestsPerS), num(s64.LatencyMs.P50))
	return errors.Join(err, err64)
}

// step 4: one concert with its only seat taken, then the closed loop of
// C's step (or 64 clients) asking it for a seat: the rate of 409 sold_out.
func (pr *perfRun) soldOut(ctx context.Context) error {
	clients := 64
	if ce := pr.res.Ceiling; ce != nil && ce.Step >= 0 && ce.Steps[ce.Step].Model == modelClosed {
		clients = ce.Steps[ce.Step].Clients
	}
	// Members for every request, so that no member is asked often enough
	// for the gateway's per-member limit.
	members := int(math.Min(maxMembers, math.Max(pr.res.CeilingRPS, 20_000)*pr.o.Step.Seconds()/4)) + 2
	if err := pr.env.Reset(ctx, 1, 1, members); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	c, err := newClient([]string{pr.gwURL}, clients, pr.o.Timeout)
	if err != nil {
		return err
	}
	defer c.close()
	status, code, err := c.check(reservation(strategyAsync, 1, 1))
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return fmt.Errorf("the last seat: %d %s, want 202", status, code)
	}
	c.warm(clients)
	l := &load{c: c, rec: newRecorder(0), seed: 1, next: func(i int64, _ *rand.Rand) request {
		return reservation(strategyAsync, 1, 2+int(i%int64(members-1)))
	}}
	var status2 io.Writer
	if !pr.o.Quiet {
		status2 = pr.stderr
	}
	prog := startProgress(status2, fmt.Sprintf("sold out, %d clients", clients), l.rec)
	runClosed(ctx, l, []stage{{0, clients}, {pr.o.Step, clients}})
	prog.end()
	st := l.rec.stats()
	so := &PerfSoldOut{Clients: clients, Requests: st.requests, SoldOut: st.rejectedBy["sold_out"],
		OtherByCode: map[string]int64{}, LatencyMs: st.latency}
	for k, v := range st.rejectedBy {
		if k != "sold_out" {
			so.OtherByCode["409/"+k] = v
		}
	}
	for k, v := range st.errorsBy {
		so.OtherByCode[k] = v
	}
	so.OtherByCode["2xx"] = st.accepted
	if so.OtherByCode["2xx"] == 0 {
		delete(so.OtherByCode, "2xx")
	}
	if el := st.lastDone.Sub(st.start); el > 0 {
		so.DurationMs = ms(el)
		so.RPS = float64(so.SoldOut) / el.Seconds()
	}
	pr.res.SoldOut = so
	pr.res.SoldoutRPS = so.RPS
	pr.say("sold out: %s answers/s (%d of %d requests), p50 %s ms", rate(so.RPS), so.SoldOut, so.Requests, num(so.LatencyMs.P50))
	if st.accepted > 0 {
		return fmt.Errorf("%d reservations accepted for a concert with no seat left", st.accepted)
	}
	return nil
}

// step 5: the writer alone is `boxoffice bench writer`'s measurement (a
// pre-filled topic into MariaDB); perf takes its figure once it is in the
// tree.
// step 5: `boxoffice bench writer` as a process of the binary: a topic of
// its own filled with --writer-events, drained by a writer alone. Its Redis
// prefix is its own too: its in-flight records would otherwise be orphans to
// the run's writer, whose sweeper would publish them again.
func (pr *perfRun) writerAlone(ctx context.Context) error {
	file := filepath.Join(pr.logs, "writer.json")
	args := []string{"bench", "writer", "--events", strconv.Itoa(pr.o.WriterEvents), "--batch-sizes", pr.o.WriterBatchSizes, "--quiet", "--json", file}
	if err := runLogged(ctx, pr.logs, "bench-writer", 10*time.Minute, []string{"BOX_REDIS_PREFIX=" + pr.getenv("BOX_REDIS_PREFIX") + "-writer"}, pr.o.Bin, args...); err != nil {
		return err
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var w WriterResult
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("bench writer's JSON: %w", err)
	}
	pr.res.WriterRowsPerS = &w.WriterRowsPerS
	pr.res.WriterCurve = w.Curve
	pr.say("writer alone: %.0f rows/s at batch size %d (best %.0f at %d)", w.WriterRowsPerS, w.BatchSize, w.BestRowsPerS, w.BestBatchSize)
	return nil
}

// step 6: a fresh gateway with the run's settings (--reduce-idle-memory on,
// the default), then the same with --reduce-idle-memory=false, each holding
// --conns keep-alive connections.
func (pr *perfRun) rss(ctx context.Context) error {
	var errs []error
	for _, reduce := range []bool{true, false} {
		r, err := pr.rssOnce(ctx, reduce)
		if r != nil {
			pr.res.RSS = append(pr.res.RSS, *r)
			if reduce {
				pr.res.GatewayRSSMB10kConns = r.RSSMB
			} else {
				pr.res.GatewayRSSMB10kConnsKeepBuffers = r.RSSMB
			}
			pr.say("rss (reduce-idle-memory %t): %d connections open, %.1f MiB (%.1f MiB before them)", reduce, r.Open, r.RSSMB, r.RSSMBBefore)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (pr *perfRun) rssOnce(ctx context.Context, reduce bool) (*PerfRSS, error) {
	httpAddr, adminAddr, err := twoAddrs()
	if err != nil {
		return nil, err
	}
	var extra []string
	name := "gateway-rss"
	if !reduce {
		extra, name = []string{"--reduce-idle-memory=false"}, "gateway-rss-keep-buffers"
	}
	p, err := pr.start(name, pr.gatewayArgs(httpAddr, adminAddr, extra...))
	if err != nil {
		return nil, err
	}
	defer p.stop(15 * time.Second)
	if err := waitHTTP(ctx, p, "http://"+httpAddr+"/readyz", time.Minute); err != nil {
		return nil, err
	}
	r := &PerfRSS{ReduceIdleMemory: reduce, Wanted: pr.o.Conns}
	if kb, err := rssKB(p.pid()); err == nil {
		r.RSSMBBefore = float64(kb) / 1024
	}
	conns, failures, lastErr := openConns(ctx, httpAddr, pr.o.Conns, pr.o.Timeout)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	r.Open, r.Failed = len(conns), failures
	// Let the gateway's goroutines park and its buffers settle.
	time.Sleep(500 * time.Millisecond)
	kb, err := rssKB(p.pid())
	if err != nil {
		return nil, err
	}
	r.RSSMB = float64(kb) / 1024
	if r.Open > 0 {
		r.KBPerConn = (r.RSSMB - r.RSSMBBefore) * 1024 / float64(r.Open)
	}
	if failures > 0 {
		return r, fmt.Errorf("%d of %d connections failed, last: %v", failures, pr.o.Conns, lastErr)
	}
	return r, nil
}

// openConns opens n connections to addr from source addresses spread over
// 127.0.0.2–127.0.0.200 (the gateway's per-address limit would otherwise
// count them as one client), sends one request on each (the no-op POST,
// keep-alive) and reads its answer, and returns the connections still open.
func openConns(ctx context.Context, addr string, n int, timeout time.Duration) ([]net.Conn, int, error) {
	body := `{"concertId":1,"memberId":1}`
	req := "POST " + noopPath + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body
	var (
		mu       sync.Mutex
		conns    = make([]net.Conn, 0, n)
		failures int
		lastErr  error
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	one := func(i int) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%199))}}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := io.WriteString(c, req); err != nil {
			c.Close()
			return nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			c.Close()
			return nil, fmt.Errorf("answered %d (close %t)", resp.StatusCode, resp.Close)
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	}
	for range 64 {
		wg.Go(func() {
			for i := range next {
				c, err := one(i)
				mu.Lock()
				if err != nil {
					failures++
					lastErr = err
				} else {
					conns = append(conns, c)
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, failures, lastErr
}

// step 7: bench ramp, the reference's shape, with each process's CPU.
func (pr *perfRun) ramp(ctx context.Context) error {
	w := &cpuWindow{pr: pr}
	res, err := pr.inner(ctx, w.hooks(), "ramp", "--vus", strconv.Itoa(pr.o.RampVUs), "--ramp", pr.o.Ramp.String(),
		"--hold", pr.o.Hold.String(), "--members", strconv.Itoa(pr.o.RampMembers), "--drain-timeout", pr.o.DrainTimeout.String())
	cpu := w.end()
	if res == nil || len(res.Strategies) == 0 || res.Strategies[0].Skipped {
		return fmt.Errorf("ramp: no result: %w", err)
	}
	sr := res.Strategies[0]
	pr.res.Ramp, pr.res.rampResult = &sr, res
	if cpu != nil {
		pr.res.RampCPU = cpu
		pr.say("ramp: %s req/s, p95 %s ms; CPU share of the machine: harness %.0f%%, gateway %.0f%%", rate(sr.RequestsPerS), num(sr.LatencyMs.P95),
			100*pr.res.RampCPU.ShareOfMachine["harness"], 100*pr.res.RampCPU.ShareOfMachine["gateway"])
	}
	return err
}
