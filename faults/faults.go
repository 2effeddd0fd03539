// Package faults is the fault suite, `boxoffice faults`: each scenario
// brings up a whole system on services of its own (Redis, MariaDB, Kafka on
// free loopback ports, in a temporary directory; gateways and writers as
// processes of the binary), runs a rush with the benchmark harness, injects
// one fault in the middle of the load (kill -9 a gateway or a writer, stop
// Kafka, restart MariaDB, lose Redis, kill Redis and replay its append-only
// file), lets the system recover, and audits: requests, 202s, rows,
// oversold, leaked, lost (a 202 whose id has no row), duplicated, and the
// recovery time. The shared services and the BOX_* variables naming them
// are never touched.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/config"
)

// Options size and place a run of the suite.
type Options struct {
	// Bin is the boxoffice binary whose processes the scenarios run.
	Bin string
	// Scripts is the repository's scripts/ folder (services.sh, kafka.sh).
	Scripts string
	// Requests per scenario, one member each, at Rate per second.
	Requests int
	Rate     float64
	// Capacity is the rushed concert's seats; fewer than Requests, so that
	// the last seats are fought over and an oversell would show.
	Capacity int
	// Grace is --inflight-grace of the gateways and writers: how long the
	// sweeper waits before it completes a dead gateway's reservations.
	Grace time.Duration
	// AppendFsync is redis-aof-kill's appendfsync: everysec (the default
	// here), or always to compare.
	AppendFsync string
	// KafkaDown is how long kafka-stop keeps the broker down.
	KafkaDown time.Duration
	// SeatsPerRow > 0 gives the rushed concert numbered seats in rows of
	// this many; each request, naming none, gets the best available seat.
	SeatsPerRow int
	// Recovery bounds the wait for the probes to get through after a fault.
	Recovery time.Duration
	// Settle bounds the wait, after the load and the recovery, for nothing
	// to be in flight.
	Settle time.Duration
	// Scenarios to run, by name; empty: all.
	Scenarios []string
	// Dir is where the scenarios' temporary directories go ("": the
	// system's temporary directory).
	Dir string
	// LogDir, when set, keeps each scenario's logs in LogDir/<scenario>.
	LogDir string
	// Log receives the progress lines.
	Log io.Writer
	// Cluster runs the cluster set (clusterScenarios) instead: one Redis
	// Cluster (3 masters, 3 replicas) and three brokers of scripts/cluster.sh
	// for all of them, 3 gateways, 2 writers in one group.
	Cluster bool
	// Concerts rushed at once (1 unless Cluster: enough for slots on every
	// master); Capacity is each one's seats and Requests are spread over
	// them.
	Concerts int
}

func (o Options) concerts() int { return max(1, o.Concerts) }

// scenarioSet is the scenarios Options run.
func (o Options) scenarioSet() []scenario {
	if o.Cluster {
		return clusterScenarios
	}
	return scenarios
}

// Full is the size of `make faults`: 20,000 requests at 2,000/s (10 s),
// the fault 5 s in.
func Full() Options {
	return Options{Requests: 20_000, Rate: 2_000, Capacity: 15_000, Grace: 2 * time.Second, KafkaDown: 10 * time.Second, AppendFsync: "everysec",
		Recovery: 2 * time.Minute, Settle: 2 * time.Minute}
}

// Small is the size `make test` runs: a few hundred requests, the same
// faults (Kafka down 3 s instead of 10).
func Small() Options {
	return Options{Requests: 400, Rate: 200, Capacity: 300, Grace: 2 * time.Second, KafkaDown: 3 * time.Second, AppendFsync: "everysec",
		Recovery: 90 * time.Second, Settle: 90 * time.Second}
}

// ClusterFull is the size of `make faults-cluster`: 20,000 requests at
// 2,000/s over 24 concerts of 600 seats (their slots on all three masters),
// the fault 5 s in.
func ClusterFull() Options {
	o := Full()
	o.Cluster, o.Concerts, o.Capacity = true, 24, 600
	return o
}

// ClusterSmall is the cluster set's size in `make test`: 600 requests at
// 200/s over 12 concerts of 35 seats, and not the plain master kill: on
// loopback its replica misses nothing, and cluster-replica-behind is the
// same kill with what it may miss made certain (the four took 2 min 50 s
// on a busy 2-core machine; TestFaultsCluster, with these three, 2 min 27 s).
func ClusterSmall() Options {
	o := Small()
	o.Cluster, o.Requests, o.Concerts, o.Capacity = true, 600, 12, 35
	o.Recovery, o.Settle = time.Minute, time.Minute
	o.Scenarios = []string{"cluster-writer-kill", "cluster-replica-behind", "cluster-broker-kill"}
	return o
}

// Names are the scenarios, in the order they run.
func Names() []string { return names(scenarios) }

// ClusterNames are the cluster set's scenarios, in the order they run.
func ClusterNames() []string { return names(clusterScenarios) }

func names(set []scenario) []string {
	var out []string
	for _, s := range set {
		out = append(out, s.name)
	}
	return out
}

// Status of a scenario.
const (
	StatusOK     = "ok"
	StatusFailed = "failed" // a count that must be 0 is not, or recovery never came
	StatusError  = "error"  // the scenario could not run (a service did not start)
	// StatusBounded: a count is not 0, but within what the scenario shows
	// to be unavoidable (Bounded says what and how far).
	StatusBounded = "bounded"
)

// Result is one scenario's audit.
type Result struct {
	Scenario string `json:"scenario"`
	Fault    string `json:"fault"`
	Status   string `json:"status"`
	// Requests were sent by the harness, Dropped not sent (too many
	// outstanding while the system stalled), Accepted answered 202.
	Requests int64 `json:"requests"`
	Dropped  int64 `json:"dropped"`
	Accepted int64 `json:"accepted"`
	// Rejected (409) and Errors (everything else) by code.
	Rejected map[string]int64 `json:"rejected"`
	Errors   map[string]int64 `json:"errors"`
	// Rows are the rushed concert's active rows after the settle.
	Rows int64 `json:"rows"`
	// Oversold: rows, or seats taken in Redis, beyond capacity.
	Oversold int64 `json:"oversold"`
	// Leaked: seats taken in Redis with no row and nothing in flight; null
	// when Redis holds no stock to compare (redis-wipe before reconcile).
	Leaked *int64 `json:"leaked"`
	// Lost: 202s (of the load and of the probes) whose id has no active
	// row; MissingRows of them have no row at all, FailedRows a FAILED one.
	Lost        int64 `json:"lost"`
	MissingRows int64 `json:"missing_rows"`
	FailedRows  int64 `json:"failed_rows"`
	// Duplicated: members with more than one active row.
	Duplicated int64 `json:"duplicated"`
	// UnackedRows are rows whose request got no 202: requests in doubt
	// (connection lost, timeout, 503 in_doubt) that the system completed.
	// They must not outnumber InDoubt, the answers that said neither yes
	// nor no.
	UnackedRows int64 `json:"unacked_rows"`
	InDoubt     int64 `json:"in_doubt"`
	// RedisBehind: seats the rows hold that Redis's stock does not count
	// (Redis forgot them: it could sell them again).
	RedisBehind int64 `json:"redis_behind"`
	// DBMismatch: concerts.remaining disagrees with the rows by this many.
	DBMismatch int64 `json:"db_mismatch"`
	// InFlight still after the settle.
	InFlight int64 `json:"in_flight"`
	// Capacity of the rushed concert.
	Capacity int64 `json:"capacity"`
	// FaultAtS is when the fault was injected, in seconds into the load;
	// FaultS how long it lasted (to the restart issued).
	FaultAtS float64 `json:"fault_at_s"`
	FaultS   float64 `json:"fault_s"`
	// RecoveryS: from the fault's end until a round of probe reservations
	// through the live gateways all got 202 and all their rows were in
	// MySQL (null: no recovery, or pending).
	RecoveryS *float64 `json:"recovery_s"`
	// SettleS: from the end of the load (and recovery) until nothing was in
	// flight and the rows stopped changing.
	SettleS float64 `json:"settle_s"`
	// Probes that got 202 (their ids are checked like the load's).
	Probes int `json:"probes"`
	// WallS is the scenario's whole time, start-up and clean-up included.
	WallS float64 `json:"wall_s"`
	// Bench is the harness's own audit of the load (counts, not ids).
	Bench *bench.Audit `json:"bench_audit"`
	// The cluster set's only (faults --cluster):
	// Concerts rushed; Killed names what the fault killed.
	Concerts int    `json:"concerts,omitempty"`
	Killed   string `json:"killed,omitempty"`
	// PromotedS: from a Redis master's kill until live masters served every
	// slot again (its replica promoted).
	PromotedS *float64 `json:"promoted_s,omitempty"`
	// ReplicaMissed: per concert (by id), the admissions a promoted replica
	// never got from its master (replication is asynchronous): Redis's free
	// seats + active rows − capacity, after the settle and before reconcile.
	// MissedSeats is their sum; the number of concerts is the figure that
	// reconcile must match.
	ReplicaMissed map[string]int64 `json:"replica_missed,omitempty"`
	MissedSeats   int64            `json:"missed_seats"`
	// Reconciled: the concerts `boxoffice reconcile` named after the
	// settle (with each difference's kind), and after --fix when it ran.
	Reconciled      map[string][]string `json:"reconciled,omitempty"`
	Fixed           []int64             `json:"fixed,omitempty"`
	ReconciledAfter map[string][]string `json:"reconciled_after_fix,omitempty"`
	// Problems make the status failed; Bounded are the non-zero counts the
	// scenario allows, each with its bound; Notes explain the rest.
	Problems []string `json:"problems"`
	Bounded  []string `json:"bounded"`
	Notes    []string `json:"notes"`
}

// Report is the whole output of a run.
type Report struct {
	StartedAt time.Time     `json:"started_at"`
	Command   string        `json:"command"`
	Machine   bench.Machine `json:"machine"`
	Uname     string        `json:"uname"`
	Requests  int           `json:"requests"`
	Rate      float64       `json:"rate"`
	Capacity  int           `json:"capacity"`
	GraceS    float64       `json:"inflight_grace_s"`
	KafkaS    float64       `json:"kafka_down_s"`
	// The cluster set's: Concerts rushed (Capacity seats each), how many
	// had their slot on each master at the start, and how long the shared
	// services took to start (once for every scenario).
	Cluster           bool           `json:"cluster,omitempty"`
	Concerts          int            `json:"concerts,omitempty"`
	ConcertsPerMaster map[string]int `json:"concerts_per_master,omitempty"`
	ServicesS         float64        `json:"services_start_s,omitempty"`
	Scenarios         []Result       `json:"scenarios"`
}

// ErrFailed is returned (wrapped) by Run when a scenario failed.
var ErrFailed = errors.New("fault scenario failed")

// Run runs the scenarios one after the other and returns their results; the
// error names those that failed or could not run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	// The reaper and the scripts may run from another directory.
	scripts, err := filepath.Abs(o.Scripts)
	if err != nil {
		return nil, err
	}
	o.Scripts = scripts
	var set []scenario
	for _, name := range o.Scenarios {
		s, err := o.scenarioNamed(name)
		if err != nil {
			return nil, err
		}
		set = append(set, s)
	}
	if len(set) == 0 {
		set = o.scenarioSet()
	}
	rep := &Report{StartedAt: time.Now().UTC(), Requests: o.Requests, Rate: o.Rate, Capacity: o.Capacity,
		GraceS: o.Grace.Seconds(), KafkaS: o.KafkaDown.Seconds(), Uname: uname()}
	var bad []string
	add := func(s scenario, res Result, machine *bench.Machine) {
		if machine != nil {
			rep.Machine = *machine
		}
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintf(o.Log, "faults: %s: %s (%s)\n", s.name, res.Status, summary(res))
		if res.Status == StatusFailed || res.Status == StatusError {
			bad = append(bad, s.name+": "+strings.Join(res.Problems, "; "))
		}
	}
	if o.Cluster {
		if err := runCluster(ctx, o, set, rep, add); err != nil {
			return rep, err
		}
	} else {
		for _, s := range set {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			fmt.Fprintf(o.Log, "faults: %s: %s\n", s.name, s.fault)
			res, machine := runScenario(ctx, o, s, nil)
			add(s, res, machine)
		}
	}
	if len(bad) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrFailed, strings.Join(bad, " | "))
	}
	return rep, nil
}

func (o *Options) check() error {
	var errs []error
	if o.Bin == "" {
		errs = append(errs, errors.New("no boxoffice binary"))
	}
	for _, s := range []string{"services.sh", "kafka.sh"} {
		if _, err := os.Stat(filepath.Join(o.Scripts, s)); err != nil {
			errs = append(errs, fmt.Errorf("scripts: %w", err))
		}
	}
	if o.Requests < 10 || o.Rate <= 0 || o.Capacity < 1 || o.Capacity*o.concerts() > o.Requests {
		errs = append(errs, fmt.Errorf("want requests ≥ 10, rate > 0 and 1 ≤ capacity × concerts ≤ requests, got %d, %g, %d × %d", o.Requests, o.Rate, o.Capacity, o.concerts()))
	}
	if o.Cluster {
		if _, err := os.Stat(filepath.Join(o.Scripts, "cluster.sh")); err != nil {
			errs = append(errs, fmt.Errorf("scripts: %w", err))
		}
		if o.concerts() < 3 {
			errs = append(errs, fmt.Errorf("--cluster: want at least 3 concerts (slots on every master), got %d", o.concerts()))
		}
	}
	if o.SeatsPerRow < 0 || o.SeatsPerRow > 9999 {
		errs = append(errs, fmt.Errorf("seats-per-row %d: want 0 (general admission) to 9999", o.SeatsPerRow))
	}
	if o.AppendFsync != "everysec" && o.AppendFsync != "always" {
		errs = append(errs, fmt.Errorf("appendfsync %q: want everysec or always", o.AppendFsync))
	}
	if o.Grace <= 0 || o.KafkaDown <= 0 || o.Recovery <= 0 || o.Settle <= 0 {
		errs = append(errs, errors.New("grace, kafka-down, recovery and settle must be positive"))
	}
	for _, n := range o.Scenarios {
		if _, err := o.scenarioNamed(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Binaries are the programs the suite runs, besides the boxoffice binary.
var Binaries = []string{"bash", "redis-server", "mariadbd", "mariadb-install-db", "mariadb", "mariadb-admin", "java"}

// ClusterBinaries are those the cluster set runs: scripts/cluster.sh forms
// the Redis Cluster with redis-cli.
var ClusterBinaries = append(slices.Clone(Binaries), "redis-cli")

// MissingBinaries lists those of Binaries that are not installed (mariadbd
// is also looked for in /usr/sbin, where Debian puts it).
func MissingBinaries() []string { return missing(Binaries) }

// MissingClusterBinaries lists those of ClusterBinaries that are not installed.
func MissingClusterBinaries() []string { return missing(ClusterBinaries) }

func missing(bins []string) []string {
	var out []string
	for _, b := range bins {
		if _, err := lookPath(b); err != nil {
			out = append(out, b)
		}
	}
	return out
}

// run is one scenario under way.
type run struct {
	o   Options
	s   scenario
	c   *cluster
	env *app.BenchEnv
	p   *prober
	res *Result

	endOnce  sync.Once
	faultAt  time.Time
	faultEnd time.Time
	recovery chan struct{} // closed when the prober is done
	recErr   error
	recDur   time.Duration
	// probeCtx ends the prober when the scenario ends, recovered or not.
	probeCtx context.Context
	// The cluster set's: the concerts of the Redis master killed, and
	// whether what its promoted replica missed stayed within the bound
	// (auditConcerts).
	victimConcerts map[int]bool
	replicaOK      bool
}

// faultEnded marks the end of the fault and starts measuring recovery
// (unless the scenario must reconcile first).
func (r *run) faultEnded() {
	r.endOnce.Do(func() {
		r.faultEnd = time.Now()
		if r.s.reconcile == nil {
			r.startProber(r.faultEnd)
		}
	})
}

func (r *run) startProber(from time.Time) {
	go func() {
		defer close(r.recovery)
		r.recDur, r.recErr = r.p.recover(r.probeCtx, from, r.o.Recovery)
	}()
}

// runScenario runs one scenario start to end, on services of its own, or
// on shared's (the cluster set: its gateways and writers are stopped at the
// end, the services kept); it never panics on a scenario's failure, it
// reports it.
func runScenario(ctx context.Context, o Options, s scenario, shared *cluster) (Result, *bench.Machine) {
	start := time.Now()
	res := newResult(o, s)
	probeCtx, stopProbes := context.WithCancel(ctx)
	r := &run{o: o, s: s, res: &res, recovery: make(chan struct{}), probeCtx: probeCtx, c: shared}
	machine, err := r.execute(ctx)
	stopProbes()
	switch {
	case shared != nil:
		shared.stopProcs()
	case r.c != nil:
		r.c.close()
	}
	if r.env != nil {
		r.env.Close()
	}
	res.WallS = round2(time.Since(start).Seconds())
	res.finish(err)
	return res, machine
}

func newResult(o Options, s scenario) Result {
	res := Result{Scenario: s.name, Fault: s.fault, Rejected: map[string]int64{}, Errors: map[string]int64{},
		Problems: []string{}, Bounded: []string{}, Notes: []string{}, Capacity: int64(o.Capacity) * int64(o.concerts())}
	if s.aof {
		res.Fault = strings.Replace(s.fault, "appendonly yes", "appendonly yes, appendfsync "+o.AppendFsync, 1)
	}
	if o.Cluster {
		res.Concerts = o.concerts()
	}
	return res
}

// finish sets the status: err is why the scenario could not run.
func (res *Result) finish(err error) {
	switch {
	case err != nil:
		res.Status = StatusError
		res.Problems = append(res.Problems, err.Error())
	case len(res.Problems) > 0:
		res.Status = StatusFailed
	case len(res.Bounded) > 0:
		res.Status = StatusBounded
	default:
		res.Status = StatusOK
	}
}

func (r *run) execute(ctx context.Context) (*bench.Machine, error) {
	o, s := r.o, r.s
	if r.c == nil {
		c, err := newCluster(o, s.name, s.aof)
		if err != nil {
			return nil, err
		}
		r.c = c
		if err := c.start(ctx, probeCapacity); err != nil {
			return nil, err
		}
	}
	c := r.c
	var err error
	if r.env, err = openEnv(ctx, c, o.SeatsPerRow); err != nil {
		return nil, err
	}
	// All at once: each waits for its readiness (a second or two on a busy
	// machine), and the cluster set starts five per scenario.
	errs := make(chan error, s.gateways+s.writers)
	for range s.gateways {
		go func() { _, err := c.startGateway(ctx); errs <- err }()
	}
	for range s.writers {
		go func() { _, err := c.startWriter(ctx); errs <- err }()
	}
	var startErr error
	for range s.gateways + s.writers {
		startErr = errors.Join(startErr, <-errs)
	}
	if startErr != nil {
		return nil, startErr
	}
	if s.writers > 1 {
		if err := c.groupBalanced(ctx, s.writers); err != nil {
			return nil, err
		}
	}
	r.p = newProber(c, r.env)
	// The whole path works (the writers have their partitions) before the
	// load starts, so that the recovery measured later is the fault's.
	if ok, err := r.p.round(ctx, 90*time.Second); !ok {
		return nil, fmt.Errorf("the system does not work before the fault: %w", err)
	}

	benchRes, injected, benchErr := r.load(ctx)
	// The fault is over before anything else, also when the load failed:
	// a restart still under way must not outlive the clean-up.
	injectErr := <-injected
	if benchRes == nil {
		return nil, fmt.Errorf("bench: %w", benchErr)
	}
	if benchErr != nil && !errors.Is(benchErr, bench.ErrInvariant) {
		r.note("bench: %v", benchErr)
	}
	if injectErr != nil {
		return &benchRes.Machine, fmt.Errorf("injecting the fault: %w", injectErr)
	}
	if s.reconcile != nil {
		if err := s.reconcile(ctx, r); err != nil {
			r.recErr = err
			close(r.recovery)
		} else {
			r.startProber(time.Now())
		}
	}
	<-r.recovery
	return &benchRes.Machine, r.audit(ctx, benchRes)
}

// load runs the rush with the fault injected half-way through it. injected
// yields the fault's error once it is over.
func (r *run) load(ctx context.Context) (*bench.Result, <-chan error, error) {
	o := r.o
	var targets []string
	for _, g := range r.c.liveGateways() {
		targets = append(targets, "http://"+g.addr)
	}
	dur := time.Duration(float64(o.Requests) / o.Rate * float64(time.Second))
	benchDrain := "30s"
	if r.s.reconcile != nil {
		benchDrain = "3s" // Redis has no stock for the harness's audit until reconcile
	}
	args := []string{"rush", "--target", strings.Join(targets, ","), "--strategies", "async", "--concerts", strconv.Itoa(o.concerts()),
		"--capacity", strconv.Itoa(o.Capacity), "--members", strconv.Itoa(o.Requests), "--rate", strconv.FormatFloat(o.Rate, 'f', -1, 64),
		"--duration", dur.String(), "--max-inflight", "1000", "--timeout", "5s", "--drain-timeout", benchDrain,
		"--audit-every", "200ms", "--quiet", "--seats-per-row", strconv.Itoa(o.SeatsPerRow),
		"--ids", filepath.Join(r.c.logs, "ids.tsv"), "--json", filepath.Join(r.c.logs, "bench.json")}
	injected := make(chan error, 1)
	var once sync.Once
	hooks := bench.Hooks{LoadStarted: func(_ string, start time.Time) {
		once.Do(func() {
			go func() {
				at := start.Add(dur / 2)
				if err := sleep(ctx, time.Until(at)); err != nil {
					injected <- err
					return
				}
				r.faultAt = time.Now()
				r.res.FaultAtS = round2(r.faultAt.Sub(start).Seconds())
				err := r.s.inject(ctx, r)
				r.faultEnded() // in case inject failed before it said so
				r.res.FaultS = round2(r.faultEnd.Sub(r.faultAt).Seconds())
				injected <- err
			}()
		})
	}}
	out, err := os.Create(filepath.Join(r.c.logs, "bench.txt"))
	if err != nil {
		return nil, nil, err
	}
	defer out.Close()
	res, err := bench.RunWith(ctx, args, out, out, r.env, nil, hooks)
	once.Do(func() { injected <- errors.New("the load never started") })
	return res, injected, err
}

// openEnv connects the harness's seeding and audit to the cluster.
func openEnv(ctx context.Context, c *cluster, seatsPerRow int) (*app.BenchEnv, error) {
	cfg, err := config.Parse("faults", config.Redis|config.MySQL, nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, err
	}
	cfg.RedisAddr, cfg.MySQLDSN = c.redisAddr(), c.mysqlDSN()
	env, err := app.OpenBenchEnv(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		env.Seated(seatsPerRow)
	}
	return env, err
}

func (r *run) note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

func (r *run) problem(format string, args ...any) {
	r.res.Problems = append(r.res.Problems, fmt.Sprintf(format, args...))
}

func (r *run) bounded(format string, args ...any) {
	r.res.Bounded = append(r.res.Bounded, fmt.Sprintf(format, args...))
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// summary is one line of a result for the progress log.
func summary(r Result) string {
	leaked := "-"
	if r.Leaked != nil {
		leaked = strconv.FormatInt(*r.Leaked, 10)
	}
	return fmt.Sprintf("requests %d, 202 %d, rows %d, oversold %d, leaked %s, lost %d, duplicated %d, recovery %s s, %.0f s",
		r.Requests, r.Accepted, r.Rows, r.Oversold, leaked, r.Lost, r.Duplicated, recoveryText(r), r.WallS)
}

func recoveryText(r Result) string {
	switch {
	case r.RecoveryS == nil:
		return "-"
	default:
		return strconv.FormatFloat(*r.RecoveryS, 'f', 1, 64)
	}
}

// sortedCodes is "code × n" for each code of m, most frequent first.
func sortedCodes(m map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var kvs []kv
	for k, v := range m {
		kvs = append(kvs, kv{k, v})
	}
	slices.SortFunc(kvs, func(a, b kv) int {
		if a.v != b.v {
			return int(b.v - a.v)
		}
		return strings.Compare(a.k, b.k)
	})
	var parts []string
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%d × %s", e.v, e.k))
	}
	return strings.Join(parts, ", ")
}
