package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valyala/fasthttp"
)

// noopPath is gateway.NoopPath (bench does not import gateway; the test
// checks that the two agree).
const noopPath = "/api/noop"

// A step is sustained when no more than lossShare of the requests due
// failed or were dropped and, in the open model, the answers kept up with
// at least sustainShare of the offered rate.
const (
	sustainShare = 0.95
	lossShare    = 0.01
)

// autoFractions are the open-model rates of --rates auto, as fractions of
// the best closed-loop req/s: from comfortably below it to past it, so that
// the last sustained rate brackets what the open model can do.
var autoFractions = []float64{0.5, 0.75, 0.9, 1, 1.1, 1.25}

// NeedsEnv reports whether the scenario that args name seeds and audits
// through an Env; the ceiling never touches stock, so a caller need not
// connect to MySQL and Redis for it.
func NeedsEnv(args []string) bool {
	s, _ := splitScenario(args, os.Getenv)
	return s != scenarioCeiling
}

// noopPicker: the body of a reservation (concert 1, member i mod members +
// 1), so that the request is the size of one; no token, the route reads none.
func noopPicker(members int) func(int64, *rand.Rand) request {
	return func(i int64, _ *rand.Rand) request {
		r := reservation("", 1, 1+int(i%int64(members)))
		r.path, r.concert, r.member = noopPath, 0, 0
		return r
	}
}

// ceilingRun is one run of the ceiling scenario.
type ceilingRun struct {
	o      options
	c      *client
	stderr io.Writer
	status io.Writer // progress; nil with --quiet
	res    *Result
	wrk    string // wrk's path; "" when it does not run
}

func (cr *ceilingRun) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	cr.res.Notes = append(cr.res.Notes, msg)
	fmt.Fprintln(cr.stderr, "note: "+msg)
}

// runCeiling runs the ceiling scenario, prints its table and writes --json.
func runCeiling(ctx context.Context, o options, stdout, stderr io.Writer) (*Result, error) {
	auto, rates, err := o.ceilingRates()
	if err != nil {
		return nil, err
	}
	c, err := newClient(o.targets(), conns(o), o.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	cr := &ceilingRun{o: o, c: c, stderr: stderr}
	if !o.Quiet {
		cr.status = stderr
	}
	if err := cr.probe(); err != nil {
		return nil, err
	}
	ce := &Ceiling{Path: noopPath, Step: -1, Steps: []CeilingStep{}}
	cr.res = &Result{
		SchemaVersion: SchemaVersion,
		Scenario:      scenarioCeiling,
		StartedAt:     time.Now().UTC(),
		Config:        o.configJSON(),
		Strategies:    []StrategyResult{},
		Ceiling:       ce,
		Machine:       readMachine(),
		Notes:         []string{},
	}
	cr.res.Config.Strategies = []string{}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		// On a shared machine C moves with everything else running.
		cr.note("load average at the start (1, 5, 15 min): %s", strings.Join(strings.Fields(string(b))[:3], ", "))
	}
	if o.AuthSecret != "" || o.AuthSecretFile != "" {
		cr.note("no tokens sent: %s reads none (--auth-secret is for the strategies)", noopPath)
	}
	cr.findWrk(ce)

	runErr := cr.steps(ctx, ce, auto, rates)
	ce.summarise()
	cr.res.FinishedAt = time.Now().UTC()
	printCeiling(stdout, cr.res)
	errs := []error{runErr}
	if o.JSON != "" {
		errs = append(errs, writeJSON(o.JSON, cr.res))
	}
	return cr.res, errors.Join(errs...)
}

// probe checks that the target answers and serves the no-op route.
func (cr *ceilingRun) probe() error {
	h := &cr.c.hosts[0]
	status, code, err := cr.c.checkOn(h, noopPicker(1)(0, nil))
	switch {
	case err != nil:
		return fmt.Errorf("target %s unreachable: %w", h.base, err)
	case status == fasthttp.StatusNotFound:
		return fmt.Errorf("the gateway at %s does not serve POST %s (404 %s): start it with --noop-endpoint (BOX_NOOP_ENDPOINT=true), and otherwise the flags of the run to compare with", h.base, noopPath, code)
	case status != fasthttp.StatusOK:
		return fmt.Errorf("POST %s%s answered %d %s, want 200", h.base, noopPath, status, code)
	}
	return nil
}

// findWrk decides whether wrk runs beside the closed steps.
func (cr *ceilingRun) findWrk(ce *Ceiling) {
	switch {
	case cr.o.Wrk == "":
		ce.WrkNote = "wrk not run (--wrk empty)"
	case len(cr.o.Clients) == 0:
		ce.WrkNote = "wrk not run: it runs beside the closed-loop steps, and --clients is none"
	default:
		path, err := lookWrk(cr.o.Wrk)
		if err != nil {
			ce.WrkNote = fmt.Sprintf("wrk not run: %v (apt-get install wrk, or --wrk PATH)", err)
			break
		}
		cr.wrk = path
		ce.WrkNote = fmt.Sprintf("%s -t%d -c<clients> -d%s, POST with the same body (Lua script), after each closed step", path, cr.o.WrkThreads, wrkDuration(cr.o.Duration))
	}
	fmt.Fprintln(cr.stderr, ce.WrkNote)
}

// steps runs the warm-up, the closed steps (each followed by wrk) and the
// open steps, until ctx ends.
func (cr *ceilingRun) steps(ctx context.Context, ce *Ceiling, auto bool, rates []float64) error {
	o := cr.o
	cr.c.warm(conns(o))
	if o.Warmup > 0 {
		n := o.MaxInFlight
		if len(o.Clients) > 0 {
			n = slices.Max(o.Clients)
		}
		l := &load{c: cr.c, rec: newRecorder(0), seed: o.Seed, next: noopPicker(o.Members)}
		prog := startProgress(cr.status, "ceiling warm-up (not measured)", l.rec)
		runClosed(ctx, l, []stage{{0, n}, {o.Warmup, n}})
		prog.end()
	}
	for _, n := range o.Clients {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		step := cr.closed(ctx, n)
		if cr.wrk != "" {
			w, err := runWrk(ctx, cr.wrk, cr.c.hosts[0].base+noopPath, o.WrkThreads, n, o.Duration, o.Timeout)
			if err != nil {
				cr.note("wrk at %d connections: %v", n, err)
			} else {
				step.Wrk = w
			}
		}
		ce.Steps = append(ce.Steps, step)
	}
	if auto {
		best := 0.0
		for _, s := range ce.Steps {
			best = max(best, s.RequestsPerS)
		}
		for _, f := range autoFractions {
			rates = append(rates, math.Round(f*best))
		}
	}
	for _, rate := range rates {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if rate < 1 {
			continue
		}
		step := cr.open(ctx, rate)
		ce.Steps = append(ce.Steps, step)
		if !step.Sustained {
			break // a higher rate would not be either
		}
	}
	if last := lastOpen(ce.Steps); last != nil && last.Sustained && len(rates) > 0 && last.Rate == rates[len(rates)-1] {
		cr.note("the highest open-model rate (%g/s) was sustained: the open model may go higher (give --rates)", last.Rate)
	}
	return ctx.Err()
}

// conns is how many connections the ceiling may open: the most clients of
// a closed step or requests outstanding in an open one.
func conns(o options) int {
	n := o.MaxInFlight
	if len(o.Clients) > 0 {
		n = max(n, slices.Max(o.Clients))
	}
	return n
}

func lastOpen(steps []CeilingStep) *CeilingStep {
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i].Model == modelOpen {
			return &steps[i]
		}
	}
	return nil
}

// closed runs n clients in a loop for --duration.
func (cr *ceilingRun) closed(ctx context.Context, n int) CeilingStep {
	l := &load{c: cr.c, rec: newRecorder(0), seed: cr.o.Seed, next: noopPicker(cr.o.Members)}
	prog := startProgress(cr.status, fmt.Sprintf("ceiling closed %d clients", n), l.rec)
	runClosed(ctx, l, []stage{{0, n}, {cr.o.Duration, n}})
	prog.end()
	step := stepOf(modelClosed, l.rec.stats())
	step.Clients = n
	return step
}

// open sends at rate for --duration.
func (cr *ceilingRun) open(ctx context.Context, rate float64) CeilingStep {
	l := &load{c: cr.c, rec: newRecorder(0), seed: cr.o.Seed, next: noopPicker(cr.o.Members)}
	prog := startProgress(cr.status, fmt.Sprintf("ceiling open %g/s", rate), l.rec)
	runOpen(ctx, l, rate, cr.o.Duration, cr.o.MaxInFlight)
	prog.end()
	step := stepOf(modelOpen, l.rec.stats())
	step.Rate = rate
	step.Sustained = step.Sustained && step.RequestsPerS >= sustainShare*rate
	return step
}

// stepOf summarises one load; Sustained says only that errors and drops
// stayed within lossShare (open adds the rate test).
func stepOf(model string, st loadStats) CeilingStep {
	s := CeilingStep{
		Model: model, Sent: st.sent, Requests: st.requests, Errors: st.errors + st.rejected, Dropped: st.dropped,
		ErrorsByCode: st.errorsBy, LatencyMs: st.latency,
	}
	if el := st.lastDone.Sub(st.start); st.requests > 0 && el > 0 {
		s.DurationMs = ms(el)
		s.RequestsPerS = float64(st.requests) / el.Seconds()
	}
	due := st.sent + st.dropped
	s.Sustained = due > 0 && float64(s.Errors+s.Dropped) <= lossShare*float64(due)
	return s
}

// summarise picks C and the best of each model.
func (ce *Ceiling) summarise() {
	for i, s := range ce.Steps {
		if s.Wrk != nil && (ce.WrkMaxRPS == nil || s.Wrk.RequestsPerS > *ce.WrkMaxRPS) {
			v := s.Wrk.RequestsPerS
			ce.WrkMaxRPS = &v
		}
		if !s.Sustained {
			continue
		}
		if s.Model == modelClosed {
			ce.ClosedMaxRPS = max(ce.ClosedMaxRPS, s.RequestsPerS)
		} else {
			ce.OpenMaxSustainedRPS = max(ce.OpenMaxSustainedRPS, s.RequestsPerS)
		}
		if s.RequestsPerS > ce.RPS {
			ce.RPS, ce.P50Ms, ce.P99Ms, ce.Step = s.RequestsPerS, s.LatencyMs.P50, s.LatencyMs.P99, i
		}
	}
}

// stepName is how a step is named in the table and the summary.
func stepName(s CeilingStep) string {
	if s.Model == modelClosed {
		return fmt.Sprintf("closed %d clients", s.Clients)
	}
	return fmt.Sprintf("open %s/s", rate(s.Rate))
}

// printCeiling writes the ceiling's table, C, wrk's figure and the notes.
func printCeiling(w io.Writer, res *Result) {
	ce := res.Ceiling
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step             \trequests\treq/s\terrors\tdropped\tp50 ms\tp95 ms\tp99 ms\tmax ms\tsustained\twrk req/s\twrk p50\twrk p99\tharness/wrk\t")
	for _, s := range ce.Steps {
		sustained := "no"
		if s.Sustained {
			sustained = "yes"
		}
		wrkCells := "-\t-\t-\t-"
		if s.Wrk != nil {
			ratio := "-"
			if s.Wrk.RequestsPerS > 0 {
				ratio = fmt.Sprintf("%.2f", s.RequestsPerS/s.Wrk.RequestsPerS)
			}
			wrkCells = strings.Join([]string{rate(s.Wrk.RequestsPerS), num(s.Wrk.LatencyMs.P50), num(s.Wrk.LatencyMs.P99), ratio}, "\t")
		}
		fmt.Fprintf(tw, "%-17s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", stepName(s), s.Requests, rate(s.RequestsPerS), s.Errors, s.Dropped,
			num(s.LatencyMs.P50), num(s.LatencyMs.P95), num(s.LatencyMs.P99), num(s.LatencyMs.Max), sustained, wrkCells)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if ce.Step >= 0 {
		fmt.Fprintf(w, "C = %s req/s (%s): p50 %s ms, p99 %s ms; closed-loop best %s, open model best sustained %s\n",
			rate(ce.RPS), stepName(ce.Steps[ce.Step]), num(ce.P50Ms), num(ce.P99Ms), rate(ce.ClosedMaxRPS), rate(ce.OpenMaxSustainedRPS))
	} else {
		fmt.Fprintln(w, "C: no step was sustained")
	}
	if ce.WrkMaxRPS != nil {
		l := fmt.Sprintf("wrk best %s req/s", rate(*ce.WrkMaxRPS))
		if ce.ClosedMaxRPS > 0 && *ce.WrkMaxRPS > 0 {
			l += fmt.Sprintf("; the harness's closed loop reached %.2f× of it (the rest is the harness's own cost)", ce.ClosedMaxRPS / *ce.WrkMaxRPS)
		}
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "wrk: %s\n", ce.WrkNote)
	for _, s := range ce.Steps {
		if len(s.ErrorsByCode) > 0 {
			fmt.Fprintf(w, "%s errors: %s\n", stepName(s), codes(s.ErrorsByCode))
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range res.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
	fmt.Fprintf(w, "\nmachine: %s\n", machineLine(res.Machine))
}
