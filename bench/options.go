package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice/config"
)

// Scenario names, in the order the usage lists them.
const (
	scenarioCompare   = "compare"
	scenarioRush      = "rush"
	scenarioRamp      = "ramp"
	scenarioIsolation = "isolation"
	scenarioCeiling   = "ceiling"
)

var scenarios = []string{scenarioCompare, scenarioRush, scenarioRamp, scenarioIsolation, scenarioCeiling, scenarioPerf, scenarioRoom}

var scenarioHelp = map[string]string{
	scenarioCompare:   "the same rush against each strategy in turn (reset, load, drain, audit)",
	scenarioRush:      "one strategy until sold out; reports the time to sell out",
	scenarioRamp:      "closed model ramp 0→2,000 VUs, hold, ramp down (the public k6 reference run)",
	scenarioIsolation: "reservers through one strategy while other users read members: the victims' latency",
	scenarioCeiling:   "C, the most the gateway answers with no work: POST /api/noop (gateway --noop-endpoint) closed-loop at --clients, open model at rising --rates, wrk beside it where installed",
	scenarioRoom:      "issue 17's waiting room: starts a gateway and a writer, puts a room in front of one concert, joins --arrivals (--pre-open of them before it opens) with --streams SSE clients, buys with each pass, audits order, fairness, rate, passes and sold-out reach, the gateway's RSS and CPU (boxoffice bench room -h)",
	scenarioPerf:      "issue 14's measurements in one sitting: starts a gateway and a writer, runs the ceiling, async sustained, latency, sold out, gateway RSS with 10,000 connections and ramp with each process's CPU, judges each target (boxoffice bench perf -h)",
}

// Strategy names: the last path element of POST /api/reservations/{strategy}.
const (
	strategyAsync       = "async"
	strategyPessimistic = "pessimistic"
	strategyDistlock    = "distlock"
	strategyUnsafe      = "unsafe"
)

var allStrategies = []string{strategyAsync, strategyPessimistic, strategyDistlock, strategyUnsafe}

// Load models.
const (
	modelOpen   = "open"
	modelClosed = "closed"
)

// Upper bounds on inputs. They catch typos (an extra zero) before they turn
// into a run that cannot finish or a slice that cannot be allocated.
const (
	maxRate     = 1_000_000
	maxVUs      = 100_000
	maxRunTime  = 24 * time.Hour
	maxRounds   = 25
	maxMembers  = 10_000_000 // the member order is a shuffled slice: 40 MB at most
	maxCapacity = 100_000_000
	maxConcerts = 100_000
)

// options is everything a run needs, after flags, environment and
// per-scenario defaults have been merged.
type options struct {
	Scenario   string
	Target     string
	Strategies []string
	Concerts   int
	Capacity   int
	Members    int
	// SeatsPerRow > 0 resets the concerts with numbered seats (rows of
	// this many); the requests name none, so each gets the best available.
	SeatsPerRow  int
	Model        string
	Rate         float64
	Duration     time.Duration
	VUs          int
	Ramp         time.Duration
	Hold         time.Duration
	Requests     int64
	Timeout      time.Duration
	DrainTimeout time.Duration
	MaxInFlight  int
	AuditEvery   time.Duration
	Victims      int
	VictimDelay  time.Duration
	Seed         uint64
	Rounds       int
	Warmup       time.Duration
	JSON         string
	Report       string
	IDs          string
	Quiet        bool
	// AuthSecret (or the file) signs a token per member, sent with each of
	// its requests, for a gateway that verifies them.
	AuthSecret     string
	AuthSecretFile string
	// Ceiling: closed-loop client counts, open-model rates ("auto": fractions
	// of the best closed-loop figure), and wrk to run beside the harness.
	Clients    intList
	Rates      string
	Wrk        string
	WrkThreads int
}

// defaults returns the options of a scenario before any flag is read.
func defaults(scenario string) options {
	o := options{
		Scenario:     scenario,
		Target:       "http://127.0.0.1:8080",
		Strategies:   slices.Clone(allStrategies),
		Concerts:     1,
		Capacity:     1_000,
		Members:      20_000,
		Model:        modelOpen,
		Rate:         2_000,
		Duration:     10 * time.Second,
		VUs:          200,
		Timeout:      5 * time.Second,
		DrainTimeout: 60 * time.Second,
		// 1,000 requests outstanding at 2,000/s is half a second of backlog:
		// past that the server is not keeping up and piling more sockets on it
		// only measures the client.
		MaxInFlight: 1_000,
		// The audit query is cheap (a few COUNTs); 100 ms is the resolution of
		// persisted_per_s and drain_ms.
		AuditEvery:  100 * time.Millisecond,
		Victims:     10,
		VictimDelay: 100 * time.Millisecond,
		Seed:        1,
		Rounds:      1,
	}
	switch scenario {
	case scenarioRush:
		o.Strategies = []string{strategyAsync}
	case scenarioRamp:
		// The public reference run: 10 concerts × 100,000 seats, members from
		// a pool of 1,000,000, 0→2,000 VUs over 10 s, hold 30 s, down over 10 s.
		o.Strategies = []string{strategyAsync}
		o.Model = modelClosed
		o.Concerts = 10
		o.Capacity = 100_000
		o.Members = 1_000_000
		o.VUs = 2_000
		o.Ramp = 10 * time.Second
		o.Hold = 30 * time.Second
	case scenarioIsolation:
		// 30 reservers and 10 victims, as in the reference; enough seats that
		// the reservers never sell out, so every reservation does the full work.
		o.Model = modelClosed
		o.VUs = 30
		o.Capacity = 100_000
		o.Members = 100_000
		o.Duration = 5 * time.Second
	case scenarioCeiling:
		// Each step is --duration long; 5 s is long enough for a stable
		// figure and keeps the whole run (3 closed, up to 6 open, 3 wrk
		// steps) near a minute.
		o.Duration = 5 * time.Second
		o.Warmup = time.Second
	}
	o.Clients = intList{16, 64, 256}
	o.Rates = ratesAuto
	o.Wrk = "wrk"
	// One wrk thread leaves the other core to the gateway (on two cores).
	o.WrkThreads = 1
	return o
}

// intList is a comma-separated flag value of positive integers; "none" is
// the empty list.
type intList []int

func (l *intList) String() string {
	if len(*l) == 0 {
		return listNone
	}
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(s string) error {
	if strings.TrimSpace(s) == listNone {
		*l = nil
		return nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > maxVUs {
			return fmt.Errorf("%q: want integers in 1..%d, or %s", p, maxVUs, listNone)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return fmt.Errorf("empty list (%s for no steps)", listNone)
	}
	*l = out
	return nil
}

const (
	listNone  = "none"
	ratesAuto = "auto"
)

// ceilingRates reads --rates: auto (fractions of the best closed-loop
// req/s), none, or a list of requests per second.
func (o *options) ceilingRates() (auto bool, rates []float64, err error) {
	switch strings.TrimSpace(o.Rates) {
	case ratesAuto:
		return true, nil, nil
	case listNone:
		return false, nil, nil
	}
	for _, p := range strings.Split(o.Rates, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		r, err := strconv.ParseFloat(p, 64)
		if err != nil || !(r > 0 && r <= maxRate) {
			return false, nil, fmt.Errorf("--rates: %q: want rates in (0, %d], %s or %s", p, maxRate, ratesAuto, listNone)
		}
		rates = append(rates, r)
	}
	if len(rates) == 0 {
		return false, nil, fmt.Errorf("--rates: empty (%s for no open-model steps)", listNone)
	}
	return false, rates, nil
}

// stringList is a comma-separated flag value.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return errors.New("empty list")
	}
	*l = out
	return nil
}

// register binds every flag to o; o's current values are the defaults shown.
func register(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.Scenario, "scenario", o.Scenario, "scenario to run (also the first argument): "+strings.Join(scenarios, ", "))
	fs.StringVar(&o.Target, "target", o.Target, "base URL of the gateway; several, comma-separated, take the requests in turn (gateways without a load balancer)")
	fs.Var((*stringList)(&o.Strategies), "strategies", "comma-separated strategies to drive: "+strings.Join(allStrategies, ", "))
	fs.IntVar(&o.Concerts, "concerts", o.Concerts, "concerts 1..N that Env.Reset creates and requests target")
	fs.IntVar(&o.Capacity, "capacity", o.Capacity, "seats per concert")
	fs.IntVar(&o.Members, "members", o.Members, "members 1..M that Env.Reset creates and requests use")
	fs.IntVar(&o.SeatsPerRow, "seats-per-row", o.SeatsPerRow, "reset the concerts with numbered seats in rows of this many (each request then gets the best available seat, chosen by hold.lua); 0: general admission")
	fs.StringVar(&o.Model, "model", o.Model, "load model: open (constant arrival rate) or closed (virtual users looping)")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "open model: requests per second")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "open model: how long to send; closed model (not ramp): hold time when --hold is not given")
	fs.IntVar(&o.VUs, "vus", o.VUs, "closed model: virtual users at full load")
	fs.DurationVar(&o.Ramp, "ramp", o.Ramp, "closed model: linear ramp-up time (and ramp-down time)")
	fs.DurationVar(&o.Hold, "hold", o.Hold, "closed model: time at full VUs (compare, rush, isolation: --duration unless given)")
	fs.Int64Var(&o.Requests, "requests", o.Requests, "cap on requests per strategy (0: no cap; compare and rush also stop at --members)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of one request")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "longest wait after the load for the writer to catch up before auditing")
	fs.IntVar(&o.MaxInFlight, "max-inflight", o.MaxInFlight, "open model: most requests outstanding; a request due when the cap is hit is counted as dropped, not sent late")
	fs.DurationVar(&o.AuditEvery, "audit-every", o.AuditEvery, "how often Env.Audit is sampled during the load and the drain (resolution of persisted/s)")
	fs.IntVar(&o.Victims, "victims", o.Victims, "isolation: users reading GET /api/members/{id} while the reservers run")
	fs.DurationVar(&o.VictimDelay, "victim-delay", o.VictimDelay, "isolation: how long after the reservers the victims start")
	fs.IntVar(&o.Rounds, "rounds", o.Rounds, "run the strategies this many times, interleaved (a, b, a, b…), and report each one's median round: on a noisy machine one run can land in a slow spell")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "before round 1, run each strategy's load this long, unmeasured (then drain and reset), so that no strategy pays for cold caches, JIT or connection set-up in its measured round; 0: none")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the member order and random picks (same seed, same requests)")
	fs.StringVar(&o.JSON, "json", o.JSON, "write the results as JSON to this file (schema: bench/SCHEMA.md)")
	fs.StringVar(&o.Report, "report", o.Report, "write index.html and charts (PNG and SVG) into this directory")
	fs.StringVar(&o.IDs, "ids", o.IDs, "write the reservation id of every 2xx answer of the measured loads to this file (strategy, round, id: one a line), to check each against the database; off by default because it costs a copy of every success body")
	fs.BoolVar(&o.Quiet, "quiet", o.Quiet, "no progress line on stderr")
	fs.StringVar(&o.AuthSecret, "auth-secret", o.AuthSecret, "the gateway's HS256 secret: each member's token is minted with it once, before the load, and sent with its requests (empty: no tokens, for a gateway started with --trust-body-member)")
	fs.StringVar(&o.AuthSecretFile, "auth-secret-file", o.AuthSecretFile, "file holding that secret")
	fs.Var(&o.Clients, "clients", "ceiling: closed-loop steps, one per number of clients (comma-separated; none: no closed steps)")
	fs.StringVar(&o.Rates, "rates", o.Rates, "ceiling: open-model steps in requests/s, rising (comma-separated); auto: 0.5, 0.75, 0.9, 1, 1.1 and 1.25 × the best closed-loop req/s; none: no open steps. The steps stop at the first rate not sustained")
	fs.StringVar(&o.Wrk, "wrk", o.Wrk, "ceiling: wrk binary run at each closed step's number of connections, beside the harness, when found on the PATH (empty: no wrk)")
	fs.IntVar(&o.WrkThreads, "wrk-threads", o.WrkThreads, "ceiling: wrk's threads (-t)")
}

// usage prints the command line help for scenario (compare when empty).
func usage(w io.Writer, scenario string) {
	shown := scenario
	if shown == "" {
		shown = scenarioCompare
	}
	o := defaults(shown)
	fs := flag.NewFlagSet("boxoffice bench", flag.ContinueOnError)
	fs.SetOutput(w)
	register(fs, &o)
	fmt.Fprintf(w, "usage: boxoffice bench <scenario> [flags]\n\nscenarios:\n")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-10s %s\n", s, scenarioHelp[s])
	}
	// writer runs on a rig of its own (IsWriter routes it before these options).
	fmt.Fprintf(w, "  %-10s %s\n", scenarioWriter, writerHelp)
	fmt.Fprintf(w, "\nEvery flag can also be set with BOX_<FLAG> (--drain-timeout ↔ BOX_DRAIN_TIMEOUT);\nthe command line wins. Defaults shown are those of %q.\n\nflags:\n", shown)
	fs.PrintDefaults()
}

// parseOptions turns the arguments after "boxoffice bench" into options.
// getenv supplies BOX_* variables for flags not given on the command line.
// -h/--help prints the usage to stderr and returns flag.ErrHelp.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	scenario, rest := splitScenario(args, getenv)
	if scenario == "" || scenario == "help" {
		if scenario == "help" || slices.ContainsFunc(args, isHelp) {
			usage(stderr, "")
			return options{}, flag.ErrHelp
		}
		return options{}, fmt.Errorf("missing scenario: usage: boxoffice bench <%s> [flags]", strings.Join(scenarios, "|"))
	}
	if !slices.Contains(scenarios, scenario) {
		return options{}, fmt.Errorf("unknown scenario %q: want one of %s", scenario, strings.Join(scenarios, ", "))
	}

	o := defaults(scenario)
	fs := flag.NewFlagSet("boxoffice bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage printed only on -h
	register(fs, &o)
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stderr, scenario)
			return o, err
		}
		return o, fmt.Errorf("%w (boxoffice bench %s -h lists the flags)", err, scenario)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags go after the scenario: boxoffice bench %s --rate 100)", fs.Arg(0), scenario)
	}
	if err := config.ApplyEnv(fs, getenv); err != nil {
		return o, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.Scenario != scenario {
		// The positional scenario and --scenario (or BOX_SCENARIO) disagree;
		// the positional one was read first and wins only if the other came
		// from the environment.
		if flagGiven(rest, "scenario") {
			return o, fmt.Errorf("scenario given twice: %q and --scenario %q", scenario, o.Scenario)
		}
		o.Scenario = scenario
	}
	if o.Scenario != scenarioRamp && !given["hold"] {
		o.Hold = o.Duration
	}
	return o, o.validate()
}

// splitScenario finds the scenario: the first argument unless it is a flag,
// else --scenario anywhere, else BOX_SCENARIO. rest is what the flag set parses.
func splitScenario(args []string, getenv func(string) string) (scenario string, rest []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "scenario" {
			continue
		}
		if hasValue {
			return value, args
		}
		if i+1 < len(args) {
			return args[i+1], args
		}
	}
	return getenv(config.EnvName("scenario")), args
}

func flagGiven(args []string, name string) bool {
	for _, a := range args {
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && n == name {
			return true
		}
	}
	return false
}

func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// validate rejects options no run could use, with the flag's name in the message.
func (o *options) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	targets := o.targets()
	check(len(targets) > 0, "--target: empty")
	for _, target := range targets {
		u, err := url.Parse(target)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--target %q: %w", target, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("--target %q: want an http:// or https:// URL", target))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("--target %q: no host", target))
		case u.Path != "" && u.Path != "/", u.RawQuery != "":
			errs = append(errs, fmt.Errorf("--target %q: want the gateway's base URL, without path or query", target))
		}
	}
	seen := map[string]bool{}
	for _, s := range o.Strategies {
		check(slices.Contains(allStrategies, s), "--strategies: unknown strategy %q: want some of %s", s, strings.Join(allStrategies, ", "))
		check(!seen[s], "--strategies: %q given twice", s)
		seen[s] = true
	}
	check(len(o.Strategies) > 0, "--strategies: empty")
	check(o.Concerts >= 1 && o.Concerts <= maxConcerts, "--concerts must be in 1..%d, got %d", maxConcerts, o.Concerts)
	check(o.Capacity >= 1 && o.Capacity <= maxCapacity, "--capacity must be in 1..%d, got %d", maxCapacity, o.Capacity)
	check(o.SeatsPerRow >= 0 && o.SeatsPerRow <= 9999, "--seats-per-row must be in 0..9999, got %d", o.SeatsPerRow)
	check(o.SeatsPerRow == 0 || o.Capacity <= 200_000, "--seats-per-row: a seat map holds at most 200,000 seats, --capacity is %d", o.Capacity)
	check(o.Members >= 1 && o.Members <= maxMembers, "--members must be in 1..%d, got %d", maxMembers, o.Members)
	check(o.Model == modelOpen || o.Model == modelClosed, "--model must be %q or %q, got %q", modelOpen, modelClosed, o.Model)
	if (o.Scenario == scenarioRamp || o.Scenario == scenarioIsolation) && o.Model != modelClosed {
		errs = append(errs, fmt.Errorf("--model %s: scenario %s uses the closed model only", o.Model, o.Scenario))
	}
	if o.Model == modelOpen {
		check(o.Rate > 0 && o.Rate <= maxRate, "--rate must be in (0, %d] requests/s, got %g", maxRate, o.Rate)
		check(o.Duration > 0 && o.Duration <= maxRunTime, "--duration must be in (0, %s], got %s", maxRunTime, o.Duration)
		check(o.MaxInFlight >= 1 && o.MaxInFlight <= maxVUs, "--max-inflight must be in 1..%d, got %d", maxVUs, o.MaxInFlight)
	} else {
		check(o.Rate >= 0, "--rate must not be negative, got %g", o.Rate)
		check(o.VUs >= 1 && o.VUs <= maxVUs, "--vus must be in 1..%d, got %d", maxVUs, o.VUs)
		check(o.Ramp >= 0, "--ramp must not be negative, got %s", o.Ramp)
		check(o.Hold >= 0, "--hold must not be negative, got %s", o.Hold)
		check(o.Ramp >= 0 && o.Hold >= 0 && 2*o.Ramp+o.Hold > 0, "closed model: --ramp and --hold are both zero, nothing would run")
		check(2*o.Ramp+o.Hold <= maxRunTime, "closed model: 2×--ramp + --hold must be at most %s, got %s", maxRunTime, 2*o.Ramp+o.Hold)
	}
	if o.Scenario == scenarioIsolation {
		check(o.Victims >= 1 && o.Victims <= maxVUs, "--victims must be in 1..%d, got %d", maxVUs, o.Victims)
		check(o.VictimDelay >= 0 && o.VictimDelay < o.Hold, "--victim-delay must be in [0, %s) (the reservers' run), got %s", o.Hold, o.VictimDelay)
	}
	check(o.Requests >= 0, "--requests must not be negative, got %d", o.Requests)
	check(o.Timeout > 0 && o.Timeout <= time.Hour, "--timeout must be in (0, 1h], got %s", o.Timeout)
	check(o.Rounds >= 1 && o.Rounds <= maxRounds, "--rounds must be in [1, %d], got %d", maxRounds, o.Rounds)
	check(o.Warmup >= 0 && o.Warmup <= maxRunTime, "--warmup must be in [0, %s], got %s", maxRunTime, o.Warmup)
	check(o.DrainTimeout >= 0 && o.DrainTimeout <= maxRunTime, "--drain-timeout must be in [0, %s], got %s", maxRunTime, o.DrainTimeout)
	check(o.AuditEvery >= time.Millisecond && o.AuditEvery <= time.Minute, "--audit-every must be in [1ms, 1m], got %s", o.AuditEvery)
	if o.Scenario == scenarioCeiling {
		errs = append(errs, o.validateCeiling(targets)...)
	}
	return errors.Join(errs...)
}

// validateCeiling checks what only the ceiling uses.
func (o *options) validateCeiling(targets []string) []error {
	var errs []error
	auto, rates, err := o.ceilingRates()
	if err != nil {
		errs = append(errs, err)
	}
	if len(o.Clients) == 0 && (auto || len(rates) == 0) {
		errs = append(errs, fmt.Errorf("ceiling: no steps: --clients %s leaves --rates auto nothing to start from; give --clients or a list of --rates", listNone))
	}
	if len(targets) > 1 {
		errs = append(errs, errors.New("--target: ceiling measures one gateway, give one"))
	}
	if o.Model != modelOpen && (o.Duration <= 0 || o.Duration > maxRunTime) { // the open model's checks have it
		errs = append(errs, fmt.Errorf("--duration (each step) must be in (0, %s], got %s", maxRunTime, o.Duration))
	}
	if o.WrkThreads < 1 || o.WrkThreads > 1024 {
		errs = append(errs, fmt.Errorf("--wrk-threads must be in 1..1024, got %d", o.WrkThreads))
	}
	if o.Report != "" {
		errs = append(errs, errors.New("--report: ceiling writes its table and --json, no HTML report"))
	}
	return errs
}

// targets are the base URLs of --target.
func (o *options) targets() []string {
	var out []string
	for _, t := range strings.Split(o.Target, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, strings.TrimSuffix(t, "/"))
		}
	}
	return out
}

// maxConns is how many connections the client may open: one per request
// that can be outstanding at once.
func (o *options) maxConns() int {
	if o.Model == modelOpen {
		return o.MaxInFlight
	}
	return o.VUs + o.Victims
}

// configJSON is the part of the options recorded in the results.
func (o *options) configJSON() Config {
	return Config{
		Target:        o.Target,
		Strategies:    slices.Clone(o.Strategies),
		Concerts:      o.Concerts,
		Capacity:      o.Capacity,
		Members:       o.Members,
		Model:         o.Model,
		Rate:          o.Rate,
		DurationMs:    ms(o.Duration),
		VUs:           o.VUs,
		RampMs:        ms(o.Ramp),
		HoldMs:        ms(o.Hold),
		Requests:      o.Requests,
		TimeoutMs:     ms(o.Timeout),
		DrainTimeout:  ms(o.DrainTimeout),
		MaxInFlight:   o.MaxInFlight,
		AuditEveryMs:  ms(o.AuditEvery),
		Victims:       o.Victims,
		VictimDelayMs: ms(o.VictimDelay),
		Seed:          o.Seed,
		Rounds:        o.Rounds,
		WarmupMs:      ms(o.Warmup),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
