// Package bench is boxoffice's load generator: it drives the gateway's
// reservation strategies with an open (constant arrival rate) or closed
// (virtual users) model, audits stock and rows through an Env after each
// strategy, and reports a table, JSON (bench/SCHEMA.md) and an HTML page with
// charts. Run is the `boxoffice bench` subcommand.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/boxoffice/boxoffice/config"
)

// ErrInvariant is returned (wrapped) by Run when a strategy other than unsafe
// oversold, leaked stock or created duplicates. The outputs are written first.
var ErrInvariant = errors.New("invariant violated")

// Run runs one scenario. args are what follows `boxoffice bench`: the
// scenario name first (or --scenario), then flags; each flag not given falls
// back to its BOX_* environment variable. The table goes to stdout, progress
// and notes to stderr. env resets and audits the system between strategies;
// with a nil env the stock is not reset and nothing is audited.
// -h prints the usage on stderr and returns flag.ErrHelp.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env) error {
	return run(ctx, args, stdout, stderr, env, os.Getenv)
}

// Hooks let a program that embeds the harness act during a run (the fault
// suite injects its fault in the middle of the load).
type Hooks struct {
	// LoadStarted, when set, is called as each measured load starts (after
	// the reset and the connection warm-up), with the load's time zero: the
	// instant its first request is due. It must not block.
	LoadStarted func(strategy string, start time.Time)
}

// RunWith is Run for a program that embeds the harness: it also calls hooks
// and returns the results (nil when nothing ran), the accepted reservation
// ids included when args ask for --ids. Flags not given on the command line
// fall back to getenv (nil: none).
func RunWith(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, getenv func(string) string, hooks Hooks) (*Result, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return runWith(ctx, args, stdout, stderr, env, getenv, hooks)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, getenv func(string) string) error {
	_, err := runWith(ctx, args, stdout, stderr, env, getenv, Hooks{})
	return err
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, getenv func(string) string, hooks Hooks) (*Result, error) {
	// perf runs the other scenarios itself, with flags of its own.
	if s, rest := splitScenario(args, getenv); s == scenarioPerf {
		return nil, runPerf(ctx, rest, stdout, stderr, env, getenv)
	} else if s == scenarioRoom {
		return nil, runRoom(ctx, rest, stdout, stderr, env, getenv)
	}
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return nil, err
	}
	if o.Scenario == scenarioCeiling {
		return runCeiling(ctx, o, stdout, stderr)
	}
	c, err := newClient(o.targets(), o.maxConns(), o.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	secret, err := config.Secret(o.AuthSecret, o.AuthSecretFile)
	if err != nil {
		return nil, fmt.Errorf("auth secret: %w", err)
	}
	if secret != nil {
		start := time.Now()
		if c.tokens, err = mintTokens(secret, o.Members, start); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "minted %d member tokens in %s (not measured)\n", o.Members, time.Since(start).Round(time.Millisecond))
	}
	r := &runner{o: o, c: c, env: env, stderr: stderr, hooks: hooks}
	if !o.Quiet {
		r.status = stderr
	}
	res, runErr := r.run(ctx)
	if res == nil {
		return nil, runErr
	}
	printTable(stdout, res)
	var errs []error
	if runErr != nil {
		errs = append(errs, runErr)
	}
	if o.JSON != "" {
		if err := writeJSON(o.JSON, res); err != nil {
			errs = append(errs, err)
		}
	}
	if o.IDs != "" {
		if err := writeIDs(o.IDs, r.ids); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Report != "" {
		if err := writeReport(o.Report, res); err != nil {
			errs = append(errs, fmt.Errorf("--report: %w", err))
		} else {
			fmt.Fprintf(stderr, "report: %s\n", reportIndex(o.Report))
		}
	}
	if err := invariantErr(res); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// invariantErr names the strategies (unsafe excepted) whose audit failed.
func invariantErr(res *Result) error {
	var bad []string
	for _, s := range res.Strategies {
		if s.ExpectedUnsafe {
			continue
		}
		if len(s.Rounds) == 0 {
			if s.Audit != nil && !s.Audit.OK {
				bad = append(bad, s.Name+": "+strings.Join(s.Audit.Problems, "; "))
			}
			continue
		}
		for _, rb := range s.Rounds {
			if rb.Audit != nil && !rb.Audit.OK {
				bad = append(bad, fmt.Sprintf("%s (round %d): %s", s.Name, rb.Round, strings.Join(rb.Audit.Problems, "; ")))
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvariant, strings.Join(bad, " | "))
}

// runner runs the strategies of one scenario.
type runner struct {
	o      options
	c      *client
	env    Env
	stderr io.Writer
	status io.Writer // progress; nil with --quiet
	res    *Result
	// round is the round being run (1-based).
	round int
	// warming is true during the unmeasured warm-up before round 1.
	warming bool
	// members is the order in which members reserve (compare, rush): a
	// shuffle of 1..members, the same for every strategy so that each faces
	// the same requests.
	members []int32
	hooks   Hooks
	// ids are the accepted reservation ids of every measured load (--ids).
	ids []loadIDs
}

// loadIDs are the accepted reservation ids of one measured load.
type loadIDs struct {
	strategy string
	round    int
	ids      []string
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.res.Notes = append(r.res.Notes, msg)
	fmt.Fprintln(r.stderr, "note: "+msg)
}

// run returns the results so far even when it fails part-way (nil only if
// nothing ran).
func (r *runner) run(ctx context.Context) (*Result, error) {
	o := r.o
	r.res = &Result{
		SchemaVersion: SchemaVersion,
		Scenario:      o.Scenario,
		StartedAt:     time.Now().UTC(),
		Config:        o.configJSON(),
		Strategies:    []StrategyResult{},
		Machine:       readMachine(),
		Notes:         []string{},
	}
	for i := range r.c.hosts {
		h := &r.c.hosts[i]
		status, _, err := r.c.checkOn(h, request{method: fasthttp.MethodGet, path: "/healthz"})
		if err != nil {
			return nil, fmt.Errorf("target %s unreachable: %w", h.base, err)
		}
		if status < 200 || status > 299 {
			r.note("GET %s/healthz answered %d; running anyway", h.base, status)
		}
	}
	if r.c.tokens != nil {
		r.note("each request carried its member's HS256 token (--auth-secret), minted before the load")
	}
	if r.env == nil {
		r.note("no Env: stock is not reset between strategies and nothing is audited")
	}
	if o.Scenario == scenarioCompare || o.Scenario == scenarioRush {
		r.members = shuffledMembers(o.Members, o.Seed)
		if o.Model == modelOpen && int64(o.Rate*o.Duration.Seconds()) > int64(o.Members) && (o.Requests == 0 || o.Requests > int64(o.Members)) {
			r.note("capped at %d requests per strategy: each member reserves once (raise --members for more)", o.Members)
		}
	}
	defer func() { r.res.FinishedAt = time.Now().UTC() }()

	if o.Scenario == scenarioIsolation {
		if err := r.reset(ctx); err != nil {
			return r.res, err
		}
		r.res.Baseline = r.baseline(ctx)
	}
	// Rounds interleave (a, b, a, b…) so that a slow spell of the machine
	// falls on every strategy alike rather than on one of them.
	byName := map[string][]StrategyResult{}
	defer func() {
		r.res.Strategies = medians(o.Strategies, byName)
		r.res.AsyncVsLock = asyncVsLock(r.res.Strategies)
	}()
	if err := r.warmUp(ctx); err != nil {
		return r.res, err
	}
	for r.round = 1; r.round <= o.Rounds; r.round++ {
		for _, name := range o.Strategies {
			if ctx.Err() != nil {
				r.note("interrupted before %s", name)
				return r.res, ctx.Err()
			}
			sr, err := r.strategy(ctx, name)
			sr.Round = r.round
			byName[name] = append(byName[name], sr)
			if err != nil {
				return r.res, err
			}
		}
	}
	return r.res, ctx.Err()
}

// warmUp runs each strategy's load for --warmup and throws the results away.
// The first strategy measured would otherwise pay alone for what any first
// load pays: cold JIT in the broker, empty caches, pools being filled. Each
// warm-up still drains before the next reset, so no late write of it can
// land in a measured round's audit.
func (r *runner) warmUp(ctx context.Context) error {
	if r.o.Warmup <= 0 {
		return nil
	}
	r.warming = true
	defer func() { r.warming = false }()
	for _, name := range r.o.Strategies {
		if ctx.Err() != nil {
			r.note("interrupted during the warm-up, before %s", name)
			return ctx.Err()
		}
		sr, err := r.strategy(ctx, name)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if !sr.Skipped && sr.Audit != nil && !sr.Drained {
			r.note("the warm-up of %s did not drain within --drain-timeout; round 1 may start behind", name)
		}
	}
	r.note("each strategy ran %s unmeasured before round 1 (--warmup)", r.o.Warmup)
	return nil
}

func (r *runner) reset(ctx context.Context) error {
	if r.env == nil {
		return nil
	}
	if se, ok := r.env.(SeatedEnv); ok {
		se.Seated(r.o.SeatsPerRow)
	} else if r.o.SeatsPerRow > 0 {
		return fmt.Errorf("env reset: --seats-per-row needs an environment that seats concerts")
	}
	if err := r.env.Reset(ctx, r.o.Concerts, r.o.Capacity, r.o.Members); err != nil {
		return fmt.Errorf("env reset: %w", err)
	}
	return nil
}

// probe finds out whether the gateway serves a strategy, without reserving:
// concert 0 does not exist, so a served strategy answers 400 or 404
// concert_not_found, and one not served (not in the gateway's --strategies,
// or unsafe without --enable-unsafe) answers 404 not_found.
func (r *runner) probe(name string) (skipReason string) {
	probe := reservation(name, 0, 0)
	probe.member = 1 // a verifying gateway looks at the token first
	status, code, err := r.c.check(probe)
	switch {
	case err != nil:
		return fmt.Sprintf("probe failed: %v", err)
	case status == fasthttp.StatusUnauthorized && r.c.tokens == nil:
		return fmt.Sprintf("the gateway verifies member tokens (401 %s): give the bench its secret with --auth-secret-file (or BOX_AUTH_SECRET_FILE), or start the gateway with --trust-body-member", code)
	case status == fasthttp.StatusNotFound && code == "not_found":
		reason := fmt.Sprintf("the gateway does not serve POST /api/reservations/%s (404 not_found)", name)
		if name == strategyUnsafe {
			reason += "; start it with --enable-unsafe to include it"
		} else {
			reason += fmt.Sprintf("; start it with --strategies naming %s (e.g. --strategies async,pessimistic,distlock) to include it", name)
		}
		return reason
	}
	return ""
}

// closedDuration is how long the reservers of a closed-model run go on.
func (o *options) closedDuration() time.Duration { return 2*o.Ramp + o.Hold }

// strategy runs the scenario's load against one strategy: probe, reset, load,
// drain, audit.
func (r *runner) strategy(ctx context.Context, name string) (StrategyResult, error) {
	sr := StrategyResult{
		Name:           name,
		ExpectedUnsafe: name == strategyUnsafe,
		RejectedByCode: map[string]int64{},
		ErrorsByCode:   map[string]int64{},
		Series:         []Second{},
		Notes:          []string{},
	}
	if reason := r.probe(name); reason != "" {
		sr.Skipped, sr.SkipReason = true, reason
		if !r.warming { // said once, in round 1
			fmt.Fprintf(r.stderr, "skip %s: %s\n", name, reason)
		}
		return sr, nil
	}
	if err := r.reset(ctx); err != nil {
		return sr, fmt.Errorf("%s: %w", name, err)
	}

	capacity := int64(r.o.Concerts) * int64(r.o.Capacity)
	l := r.reservers(name, capacity)
	var smp *sampler
	if r.env != nil {
		smp = startSampler(ctx, r.env, r.o.Concerts, r.o.AuditEvery)
	}
	prog := startProgress(r.status, r.label(name), l.rec)
	victims := r.drive(ctx, l)
	loadEnd := time.Now()
	prog.end()

	st := l.rec.stats()
	fillLoad(&sr, st)
	if l.ids && !r.warming {
		sr.AcceptedIDs = st.ids
		r.ids = append(r.ids, loadIDs{strategy: name, round: r.round, ids: st.ids})
	}
	sr.Notes = append(sr.Notes, r.loadNotes(st, l.limit)...)
	if r.o.Scenario == scenarioRush {
		sr.SellOut = sellOut(st, capacity)
	}
	if victims != nil {
		sr.Victims = victimsOf(victims.stats())
	}
	if smp != nil {
		r.settle(ctx, &sr, smp, st, loadEnd)
	}
	if !r.warming {
		for _, n := range sr.Notes {
			fmt.Fprintf(r.stderr, "%s: %s\n", name, n)
		}
	}
	return sr, nil
}

// reservers is the scenario's load on one strategy: who reserves what, how
// many requests at most, and (rush) the stop when every concert is sold out.
func (r *runner) reservers(name string, capacity int64) *load {
	o := r.o
	l := &load{c: r.c, rec: newRecorder(capacity), seed: o.Seed, limit: o.Requests, ids: o.IDs != ""}
	if r.hooks.LoadStarted != nil && !r.warming {
		l.started = func(start time.Time) { r.hooks.LoadStarted(name, start) }
	}
	switch o.Scenario {
	case scenarioCompare, scenarioRush:
		l.next = orderedPicker(name, o.Concerts, r.members)
		l.limit = capAt(o.Requests, int64(o.Members))
	case scenarioRamp:
		l.next = randomPicker(name, o.Concerts, o.Members)
	case scenarioIsolation:
		l.next = sequentialPicker(name, o.Concerts)
		l.limit = capAt(o.Requests, int64(o.Members))
	}
	if o.Scenario == scenarioRush {
		stop := make(chan struct{})
		l.stop = stop
		l.rec.onResult = soldOutWatcher(o.Concerts, stop)
	}
	return l
}

// label names the run in the progress line.
func (r *runner) label(name string) string {
	label := r.o.Scenario + " " + name
	switch {
	case r.warming:
		label += " (warm-up, not measured)"
	case r.o.Rounds > 1:
		label += fmt.Sprintf(" (round %d/%d)", r.round, r.o.Rounds)
	}
	return label
}

// drive runs the reservers' load to its end and, in a measured isolation
// run, the victims beside it. It returns the victims' recorder, nil when
// there were none.
func (r *runner) drive(ctx context.Context, l *load) *recorder {
	o := r.o
	var victims *recorder
	var wg sync.WaitGroup
	reserversDone := make(chan struct{})
	if o.Scenario == scenarioIsolation && !r.warming {
		// The victims start victim-delay after the reservers and stop with
		// them (the reservers stop early when they run out of members).
		victims = newRecorder(0)
		vl := &load{c: r.c, rec: victims, seed: o.Seed + 1, next: victimPicker(o.Members), stop: reserversDone}
		wg.Go(func() {
			runClosed(ctx, vl, []stage{{o.VictimDelay, 0}, {0, o.Victims}, {o.closedDuration() - o.VictimDelay, o.Victims}})
		})
	}
	r.runModel(ctx, l)
	close(reserversDone)
	wg.Wait()
	return victims
}

// runModel runs l in the chosen model: open at --rate, or closed with the
// ramp (the warm-up holds the full VUs instead).
func (r *runner) runModel(ctx context.Context, l *load) {
	o := r.o
	switch {
	case o.Model == modelOpen:
		d := o.Duration
		if r.warming {
			d = o.Warmup
		}
		r.c.warm(o.MaxInFlight)
		runOpen(ctx, l, o.Rate, d, o.MaxInFlight)
	case r.warming:
		runClosed(ctx, l, []stage{{0, o.VUs}, {o.Warmup, o.VUs}})
	default:
		runClosed(ctx, l, rampStages(o.VUs, o.Ramp, o.Hold))
	}
}

// loadNotes says what cut the load short: the request cap (closed model) or
// requests dropped at --max-inflight.
func (r *runner) loadNotes(st loadStats, limit int64) []string {
	var notes []string
	if limit > 0 && st.sent >= limit && r.o.Model == modelClosed {
		notes = append(notes, fmt.Sprintf("stopped at the cap of %d requests (--requests, or --members: one reservation per member)", limit))
	}
	if st.dropped > 0 {
		notes = append(notes, fmt.Sprintf("%d requests dropped: --max-inflight %d outstanding was reached (the server fell behind the arrival rate)", st.dropped, r.o.MaxInFlight))
	}
	// The bench sends from one address: the gateway's per-address limit
	// measures itself, not the gateway.
	if n := st.errorsBy["429/rate_limited"]; n > 0 {
		notes = append(notes, fmt.Sprintf("%d requests answered 429 rate_limited: start the gateway with --address-rate 0 --max-conns-per-address 0 for a benchmark (everything comes from one address)", n))
	}
	if n := st.errorsBy["503/overloaded"]; n > 0 {
		notes = append(notes, fmt.Sprintf("%d requests answered 503 overloaded: more than the gateway's --max-admissions were in flight (load shed, no seat taken)", n))
	}
	return notes
}

// settle waits for the writer to catch up and audits.
func (r *runner) settle(ctx context.Context, sr *StrategyResult, smp *sampler, st loadStats, loadEnd time.Time) {
	d := smp.drain(ctx, loadEnd, r.o.DrainTimeout)
	if d.errs > 0 {
		sr.Notes = append(sr.Notes, fmt.Sprintf("%d of %d audits failed, last: %v", d.errs, d.errs+len(d.samples), d.lastErr))
	}
	if len(d.samples) == 0 {
		sr.Notes = append(sr.Notes, "no audit: every Env.Audit call failed")
		return
	}
	sr.Drained = d.drained
	if !d.drained {
		sr.Notes = append(sr.Notes, fmt.Sprintf("not drained after --drain-timeout %s: %d still in flight, rows %d", r.o.DrainTimeout, d.final.InFlight, d.final.Rows))
	}
	sr.DrainMs = max(0, ms(d.settledAt.Sub(loadEnd)))
	if el := d.settledAt.Sub(st.start).Seconds(); el > 0 {
		sr.PersistedPerS = float64(d.final.Rows) / el
	}
	a := audit(d.final, st.accepted)
	sr.Audit = &a

	// Extend the series over the drain and spread the rows over it.
	last := d.samples[len(d.samples)-1].at
	n := min(max(len(sr.Series), int(last.Sub(st.start)/time.Second)+1), maxSeconds)
	for len(sr.Series) < n {
		sr.Series = append(sr.Series, Second{T: len(sr.Series)})
	}
	for i, p := range persistedSeries(d.samples, st.start, n) {
		sr.Series[i].Persisted = p
	}
}

// fillLoad copies a load's counters into sr.
func fillLoad(sr *StrategyResult, st loadStats) {
	sr.Sent, sr.Requests, sr.Accepted = st.sent, st.requests, st.accepted
	sr.Rejected, sr.Errors, sr.Dropped = st.rejected, st.errors, st.dropped
	sr.RejectedByCode, sr.ErrorsByCode = st.rejectedBy, st.errorsBy
	sr.LatencyMs = st.latency
	sr.Series = st.series
	if st.requests == 0 {
		return
	}
	el := st.lastDone.Sub(st.start)
	sr.DurationMs = ms(el)
	if el > 0 {
		sr.RequestsPerS = float64(st.requests) / el.Seconds()
	}
	if ok := st.lastOK.Sub(st.start); st.accepted > 0 && ok > 0 {
		sr.AcceptedPerS = float64(st.accepted) / ok.Seconds()
	}
}

func sellOut(st loadStats, capacity int64) *SellOut {
	so := &SellOut{Capacity: capacity}
	at := func(t time.Time) *float64 {
		if t.IsZero() {
			return nil
		}
		v := ms(t.Sub(st.start))
		return &v
	}
	so.LastSeatMs = at(st.capacityAt)
	so.FirstSoldOutMs = at(st.firstSoldOut)
	so.SoldOutMs = so.LastSeatMs
	if so.SoldOutMs == nil {
		so.SoldOutMs = so.FirstSoldOutMs
	}
	so.SoldOut = so.SoldOutMs != nil
	return so
}

func victimsOf(st loadStats) *Victims {
	return &Victims{
		Requests:     st.requests,
		OK:           st.accepted,
		Errors:       st.rejected + st.errors,
		ErrorsByCode: st.errorsBy,
		LatencyMs:    st.latency,
		Series:       st.series,
	}
}

// baseline measures the victims alone, for comparison with each strategy.
func (r *runner) baseline(ctx context.Context) *Victims {
	o := r.o
	rec := newRecorder(0)
	l := &load{c: r.c, rec: rec, seed: o.Seed + 1, next: victimPicker(o.Members)}
	prog := startProgress(r.status, "isolation baseline", rec)
	runClosed(ctx, l, []stage{{0, o.Victims}, {o.closedDuration() - o.VictimDelay, o.Victims}})
	prog.end()
	return victimsOf(rec.stats())
}

// capAt is the smaller positive cap (0 means none).
func capAt(requests, limit int64) int64 {
	if requests > 0 && requests < limit {
		return requests
	}
	return limit
}

// shuffledMembers is 1..n in a random order fixed by seed.
func shuffledMembers(n int, seed uint64) []int32 {
	m := make([]int32, n)
	for i := range m {
		m[i] = int32(i + 1)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(n, func(i, j int) { m[i], m[j] = m[j], m[i] })
	return m
}

// orderedPicker: request i is member order[i] (each member once) on
// concert 1 + i mod concerts.
func orderedPicker(strategy string, concerts int, order []int32) func(int64, *rand.Rand) request {
	return func(i int64, _ *rand.Rand) request {
		return reservation(strategy, 1+int(i%int64(concerts)), int(order[i%int64(len(order))]))
	}
}

// sequentialPicker: request i is member i+1 on concert 1 + i mod concerts.
func sequentialPicker(strategy string, concerts int) func(int64, *rand.Rand) request {
	return func(i int64, _ *rand.Rand) request {
		return reservation(strategy, 1+int(i%int64(concerts)), int(i+1))
	}
}

// randomPicker: a random concert and a random member of the pool per request
// (the ramp reference); a member drawn twice for a concert gets 409
// already_reserved.
func randomPicker(strategy string, concerts, members int) func(int64, *rand.Rand) request {
	return func(_ int64, rng *rand.Rand) request {
		return reservation(strategy, 1+rng.IntN(concerts), 1+rng.IntN(members))
	}
}

func victimPicker(members int) func(int64, *rand.Rand) request {
	return func(_ int64, rng *rand.Rand) request { return memberRead(1 + rng.IntN(members)) }
}

// soldOutWatcher closes stop once every concert 1..concerts has answered
// sold_out.
func soldOutWatcher(concerts int, stop chan struct{}) func(result) {
	var (
		mu   sync.Mutex
		seen = make([]bool, concerts+1)
		left = concerts
		once sync.Once
	)
	return func(res result) {
		if res.kind != rejected || res.code != "sold_out" || res.concert < 1 || res.concert > concerts {
			return
		}
		mu.Lock()
		if !seen[res.concert] {
			seen[res.concert] = true
			left--
		}
		done := left == 0
		mu.Unlock()
		if done {
			once.Do(func() { close(stop) })
		}
	}
}
