// Package hostile is the hostile-client suite, `boxoffice hostile`: one
// gateway with authentication on and its default edge limits, and a writer,
// as processes of the binary on services of their own (the fault suite's
// System), a well-behaved client reserving at a modest open-model rate for
// the whole run, and, one after the other, the attacks: slow and idle
// connections, malformed input, forged and misused tokens, forged and
// replayed payment callbacks, abuse of the rate and connection limits, and
// an admission overload. Each attack is judged by the answers it got, what
// it cost in stock (nothing beyond what it was admitted) and what it did to
// the well-behaved client's latency; at the end every reservation is
// audited by id. All traffic goes to 127.0.0.1, from source addresses in
// 127.0.0.0/24 so that the per-address limits see distinct clients.
package hostile

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/faults"
)

// Edge are the gateway's edge limits, given to it as BOX_* variables; the
// attacks' expectations are computed from them.
type Edge struct {
	MemberRate         float64
	MemberBurst        int
	AddressRate        float64
	AddressBurst       int
	MaxConns           int
	MaxConnsPerAddress int
	HeaderTimeout      time.Duration
	IdleTimeout        time.Duration
	ReduceIdleMemory   bool
	MaxAdmissions      int
}

// DefaultEdge are the gateway's defaults (config.Default).
func DefaultEdge() Edge {
	d := config.Default()
	return Edge{MemberRate: d.MemberRate, MemberBurst: d.MemberBurst, AddressRate: d.AddressRate, AddressBurst: d.AddressBurst,
		MaxConns: d.MaxConns, MaxConnsPerAddress: d.MaxConnsPerAddress, HeaderTimeout: d.HeaderTimeout, IdleTimeout: d.IdleTimeout,
		ReduceIdleMemory: d.ReduceIdleMemory, MaxAdmissions: d.MaxAdmissions}
}

// env is the edge as the gateway's environment.
func (e Edge) env() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{
		"BOX_MEMBER_RATE=" + f(e.MemberRate), "BOX_MEMBER_BURST=" + strconv.Itoa(e.MemberBurst),
		"BOX_ADDRESS_RATE=" + f(e.AddressRate), "BOX_ADDRESS_BURST=" + strconv.Itoa(e.AddressBurst),
		"BOX_MAX_CONNS=" + strconv.Itoa(e.MaxConns), "BOX_MAX_CONNS_PER_ADDRESS=" + strconv.Itoa(e.MaxConnsPerAddress),
		"BOX_HEADER_TIMEOUT=" + e.HeaderTimeout.String(), "BOX_IDLE_TIMEOUT=" + e.IdleTimeout.String(),
		"BOX_MAX_ADMISSIONS=" + strconv.Itoa(e.MaxAdmissions), "BOX_REDUCE_IDLE_MEMORY=" + strconv.FormatBool(e.ReduceIdleMemory),
	}
}

// Options size and place a run.
type Options struct {
	// Bin is the boxoffice binary; Scripts the repository's scripts/.
	Bin, Scripts string
	// Rate is the well-behaved client's requests per second, each a new
	// member with a valid token.
	Rate float64
	// Capacity of each of the two concerts: 1 is the attacks', 2 the
	// well-behaved client's (so an attack's stock cost is read off concert
	// 1 alone).
	Capacity int
	// Slowloris and Idle are the connections of those attacks; both are
	// capped by this process's open-file limit.
	Slowloris, Idle int
	// Overload is the burst of concurrent reservations of the overload
	// attack.
	Overload int
	// PhaseMin is the shortest a phase lasts, so that the well-behaved
	// client's p99 in it rests on enough requests.
	PhaseMin time.Duration
	// Edge is the gateway's edge configuration.
	Edge Edge
	// Phases to run, by name (empty: all); the baseline always runs.
	Phases []string
	// Dir is where the temporary directory goes; LogDir keeps the logs.
	Dir, LogDir string
	// Log receives the progress lines.
	Log io.Writer
}

// Full is the size of `make hostile`.
func Full() Options {
	return Options{Rate: 200, Capacity: 100_000, Slowloris: 10_000, Idle: 10_000, Overload: 5_000,
		PhaseMin: 5 * time.Second, Edge: DefaultEdge()}
}

// Small is the size `make test` runs (TestHostile): the same attacks with
// fewer connections, a shorter idle timeout and fewer admissions in flight
// so that a smaller burst overloads the gateway.
func Small() Options {
	o := Options{Rate: 100, Capacity: 20_000, Slowloris: 300, Idle: 300, Overload: 600,
		PhaseMin: time.Second, Edge: DefaultEdge()}
	o.Edge.IdleTimeout = 3 * time.Second
	o.Edge.HeaderTimeout = 3 * time.Second
	o.Edge.MaxAdmissions = 32
	return o
}

// Report is the whole output of a run.
type Report struct {
	StartedAt   time.Time `json:"started_at"`
	Command     string    `json:"command"`
	Uname       string    `json:"uname"`
	Cores       int       `json:"cores"`
	Go          string    `json:"go"`
	Rate        float64   `json:"rate"`
	Capacity    int       `json:"capacity"`
	Edge        EdgeJSON  `json:"edge"`
	Phases      []*Phase  `json:"phases"`
	WellBehaved Latency   `json:"well_behaved"`
	Audit       Audit     `json:"audit"`
	Pass        bool      `json:"pass"`
	Problems    []string  `json:"problems"`
	WallS       float64   `json:"wall_s"`
}

// EdgeJSON is Edge with durations in seconds.
type EdgeJSON struct {
	MemberRate         float64 `json:"member_rate"`
	MemberBurst        int     `json:"member_burst"`
	AddressRate        float64 `json:"address_rate"`
	AddressBurst       int     `json:"address_burst"`
	MaxConns           int     `json:"max_conns"`
	MaxConnsPerAddress int     `json:"max_conns_per_address"`
	HeaderTimeoutS     float64 `json:"header_timeout_s"`
	IdleTimeoutS       float64 `json:"idle_timeout_s"`
	ReduceIdleMemory   bool    `json:"reduce_idle_memory"`
	MaxAdmissions      int     `json:"max_admissions"`
}

func (e Edge) json() EdgeJSON {
	return EdgeJSON{e.MemberRate, e.MemberBurst, e.AddressRate, e.AddressBurst, e.MaxConns, e.MaxConnsPerAddress,
		e.HeaderTimeout.Seconds(), e.IdleTimeout.Seconds(), e.ReduceIdleMemory, e.MaxAdmissions}
}

// Phase is one attack's verdict.
type Phase struct {
	Name     string `json:"name"`
	Attack   string `json:"attack"`
	Expected string `json:"expected"`
	// Sent counts the attack's requests (or connections).
	Sent int64 `json:"sent"`
	// Statuses are its answers: "401/unauthorized", "429/text" (a body
	// that is not our JSON error), "conn/closed" …
	Statuses map[string]int64 `json:"statuses"`
	Pass     bool             `json:"pass"`
	Problems []string         `json:"problems"`
	Notes    []string         `json:"notes"`
	// Cases are the single requests of the input, token and payment
	// attacks, each with what it should get.
	Cases []Case `json:"cases,omitempty"`
	// Admitted are the attack's 202s (on concert 1): the seats it was
	// given. StockCost is the seats concert 1 lost beyond those (want 0).
	Admitted  int64 `json:"admitted"`
	StockCost int64 `json:"stock_cost"`
	// RSS of the gateway (the connection attacks).
	RSS *RSS `json:"rss,omitempty"`
	// OpenAfter counts the attack's connections still open at its
	// timeout + 2 s (the connection attacks; want 0).
	OpenAfter *int64 `json:"open_after_timeout,omitempty"`
	// WellBehaved is the well-behaved client while the phase ran.
	WellBehaved Latency `json:"well_behaved"`
	DurationS   float64 `json:"duration_s"`

	ids []string // the admitted reservations
}

// Case is one request and its verdict.
type Case struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Pass     bool   `json:"pass"`
	// Message is what the answer said (its JSON message, or the start of
	// its body; a transport error's text).
	Message string `json:"message,omitempty"`
}

// RSS is the gateway's resident memory in MiB.
type RSS struct {
	BeforeMiB float64 `json:"before_mib"`
	PeakMiB   float64 `json:"peak_mib"`
	AfterMiB  float64 `json:"after_mib"`
}

// Audit is the end of the run, once the writer drained: every seat taken
// in Redis has its row, and every row is a 202 someone was given.
type Audit struct {
	// Per concert (1: the attacks', 2: the well-behaved client's).
	Concerts []ConcertAudit `json:"concerts"`
	// Lost: 202s without an active row; Unknown: rows beyond the 202s.
	Lost    int64 `json:"lost"`
	Unknown int64 `json:"unknown"`
	// LoggedCredentials counts the member tokens valid under the
	// gateway's secret, and the secrets themselves, found in the gateway's
	// log (README, Security: secrets never reach a log line).
	LoggedCredentials int64 `json:"logged_credentials"`
	// StockOK: every concert's figures agree and no 202 or row is amiss;
	// OK: that, and nothing in the log.
	StockOK bool `json:"stock_ok"`
	OK      bool `json:"ok"`
}

// ConcertAudit is one concert's figures.
type ConcertAudit struct {
	Concert  int64 `json:"concert"`
	Capacity int64 `json:"capacity"`
	// RedisRemaining + RedisTaken == Capacity; Rows should equal
	// RedisTaken and Accepted (the 202s given on it).
	RedisTaken  int64 `json:"redis_taken"`
	Rows        int64 `json:"rows"`
	Accepted    int64 `json:"accepted"`
	DBRemaining int64 `json:"db_remaining"`
	InFlight    int64 `json:"in_flight"`
	Duplicates  int64 `json:"duplicates"`
}

// ErrFailed is returned (wrapped) when an attack or the audit failed.
var ErrFailed = errors.New("hostile suite failed")

// Binaries the suite needs besides the boxoffice binary: the fault suite's
// services.
func MissingBinaries() []string { return faults.MissingBinaries() }

func (o *Options) check() error {
	var errs []error
	if o.Bin == "" {
		errs = append(errs, errors.New("no boxoffice binary"))
	}
	if _, err := os.Stat(filepath.Join(o.Scripts, "services.sh")); err != nil {
		errs = append(errs, fmt.Errorf("scripts: %w", err))
	}
	if o.Rate <= 0 || o.Capacity < 100 || o.Slowloris < 0 || o.Idle < 0 || o.Overload < 0 {
		errs = append(errs, fmt.Errorf("want rate > 0, capacity ≥ 100 and no negative count"))
	}
	if o.Edge.HeaderTimeout <= 0 || o.Edge.IdleTimeout <= 0 || o.Edge.MaxConnsPerAddress <= 0 {
		errs = append(errs, errors.New("the edge's timeouts and connections per address must be positive: the attacks are judged against them"))
	}
	for _, n := range o.Phases {
		if phaseNamed(n) == nil {
			errs = append(errs, fmt.Errorf("no phase %q (have %s)", n, strings.Join(Names(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// warmUp runs the well-behaved client before the baseline, unmeasured.
const warmUp = 2 * time.Second

// harness is one run under way.
type harness struct {
	o       Options
	sys     *faults.System
	env     *app.BenchEnv
	gw      faults.Process
	target  string // the gateway's API address
	secret  []byte // HS256 member tokens
	payment []byte // payment callbacks
	rsaKey  *rsa.PrivateKey
	pubPEM  []byte
	wb      *wellBehaved
	members memberIDs
	// held is the reservation the token attack made for member heldBy,
	// which the payment attack confirms.
	held   string
	heldBy int64
}

// Run starts the system, runs the phases and audits.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	start := time.Now()
	rep := &Report{StartedAt: start.UTC(), Uname: uname(), Cores: runtime.NumCPU(), Go: runtime.Version(),
		Rate: o.Rate, Capacity: o.Capacity, Edge: o.Edge.json(), Problems: []string{}}
	o.Slowloris, o.Idle = capConns(o.Slowloris, o.Idle, o.Log)
	err := run(ctx, o, rep)
	rep.WallS = round2(time.Since(start).Seconds())
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
	}
	for _, p := range rep.Phases {
		if !p.Pass {
			rep.Problems = append(rep.Problems, p.Name+": "+strings.Join(p.Problems, "; "))
		}
	}
	if a := rep.Audit; err == nil {
		if !a.StockOK {
			rep.Problems = append(rep.Problems, "audit: the stock does not add up (see audit)")
		}
		if a.LoggedCredentials > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("audit: %d valid member tokens or secrets in the gateway's log", a.LoggedCredentials))
		}
	}
	rep.Pass = len(rep.Problems) == 0
	if !rep.Pass {
		return rep, fmt.Errorf("%w: %s", ErrFailed, strings.Join(rep.Problems, " | "))
	}
	return rep, nil
}

func run(ctx context.Context, o Options, rep *Report) error {
	dir, err := os.MkdirTemp(o.Dir, "boxoffice-hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	h := &harness{o: o, members: memberIDs{next: attackMembers}}
	files, err := h.secrets(dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Log, "hostile: starting Redis, MariaDB and Kafka of our own")
	h.sys, err = faults.StartSystem(ctx, faults.SystemOptions{Bin: o.Bin, Scripts: o.Scripts, Name: "hostile", Dir: o.Dir, LogDir: o.LogDir, Log: o.Log})
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	defer h.sys.Close()
	if h.env, err = h.sys.Env(ctx); err != nil {
		return err
	}
	defer h.env.Close()
	if err := h.env.Reset(ctx, 2, o.Capacity, 1); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	if _, err := h.sys.StartWriter(ctx); err != nil {
		return err
	}
	args := []string{"--auth-secret-file", files[0], "--payment-secret-file", files[1], "--auth-public-key-file", files[2]}
	// Holds outlive the run: an expiry would give back seats the audit
	// counts as taken.
	h.gw, err = h.sys.StartGateway(ctx, args, append(o.Edge.env(), "BOX_TRUST_BODY_MEMBER=false", "BOX_HOLD_TTL=1h"))
	if err != nil {
		return err
	}
	h.target = h.gw.Addr()
	fmt.Fprintf(o.Log, "hostile: gateway on %s (pid %d), auth on, edge %+v\n", h.target, h.gw.Pid(), o.Edge.json())

	wctx, stopWB := context.WithCancel(ctx)
	defer stopWB()
	h.wb = newWellBehaved(h.target, h.secret, o.Rate)
	wbDone := make(chan struct{})
	go func() {
		defer close(wbDone)
		h.wb.run(wctx)
	}()
	// Unmeasured: the first requests dial, and the producer and the
	// broker warm up; the baseline is the client at its usual pace.
	if err := sleep(ctx, warmUp); err != nil {
		return err
	}
	for _, p := range phases {
		if ctx.Err() != nil {
			break
		}
		if p.name != "baseline" && len(o.Phases) > 0 && !slices.Contains(o.Phases, p.name) {
			continue
		}
		res := h.runPhase(ctx, p)
		rep.Phases = append(rep.Phases, res)
		fmt.Fprintf(o.Log, "hostile: %s: %s\n", res.Name, phaseSummary(res))
	}
	stopWB()
	<-wbDone
	rep.WellBehaved = h.wb.total()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintln(o.Log, "hostile: waiting for the writer to drain, then the audit")
	var ids [3][]string // by concert
	for _, p := range rep.Phases {
		ids[1] = append(ids[1], p.ids...)
	}
	ids[2] = h.wb.acceptedIDs()
	rep.Audit, err = h.audit(ctx, ids)
	if err != nil {
		return err
	}
	rep.Audit.LoggedCredentials, err = h.loggedCredentials()
	if err != nil {
		return fmt.Errorf("reading the gateway's log: %w", err)
	}
	rep.Audit.OK = rep.Audit.StockOK && rep.Audit.LoggedCredentials == 0
	return nil
}

// secrets writes the HS256 secret, the payment secret and an RSA public
// key (whose private half signs RS256 tokens, and whose PEM an HS/RS
// confusion attack uses as an HMAC key) into dir, and returns their paths.
func (h *harness) secrets(dir string) ([]string, error) {
	h.secret, h.payment = randomSecret(), randomSecret()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	h.rsaKey = key
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	h.pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	var paths []string
	for i, b := range [][]byte{h.secret, h.payment, h.pubPEM} {
		p := filepath.Join(dir, []string{"auth.secret", "payment.secret", "idp.pub.pem"}[i])
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// randomSecret is 32 random bytes as 64 hex characters (the gateway wants
// at least 32 bytes).
func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// capConns keeps the connection attacks within this process's open-file
// limit (raised to its hard limit by the Go runtime), leaving room for the
// well-behaved client and the rest.
func capConns(slow, idle int, log io.Writer) (int, int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return slow, idle
	}
	most := int(lim.Cur) - 1000
	if most < 100 {
		most = 100
	}
	if slow > most || idle > most {
		fmt.Fprintf(log, "hostile: the open-file limit is %d: at most %d connections per attack\n", lim.Cur, most)
	}
	return min(slow, most), min(idle, most)
}

// runPhase runs one phase, measuring its stock cost and the well-behaved
// client meanwhile; a phase lasts at least PhaseMin.
func (h *harness) runPhase(ctx context.Context, p phase) *Phase {
	res := &Phase{Name: p.name, Attack: p.attack, Statuses: map[string]int64{}, Problems: []string{}, Notes: []string{}}
	fmt.Fprintf(h.o.Log, "hostile: %s: %s\n", p.name, p.attack)
	start := time.Now()
	h.wb.setPhase(p.name)
	before, berr := h.taken(ctx)
	err := p.run(ctx, h, res)
	if err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	if rest := h.o.PhaseMin - time.Since(start); rest > 0 {
		_ = sleep(ctx, rest)
	}
	h.wb.setPhase("")
	after, aerr := h.taken(ctx)
	res.Admitted = int64(len(res.ids))
	if berr != nil || aerr != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("reading the stock: %v", errors.Join(berr, aerr)))
	} else {
		res.StockCost = after - before - res.Admitted
		if res.StockCost != 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("stock cost %d: concert 1 lost %d seats, %d of them admitted with a 202", res.StockCost, after-before, res.Admitted))
		}
	}
	res.WellBehaved = h.wb.stats(p.name)
	res.DurationS = round2(time.Since(start).Seconds())
	for _, c := range res.Cases {
		if !c.Pass {
			res.Problems = append(res.Problems, fmt.Sprintf("%s: got %s, want %s", c.Name, c.Got, c.Expected))
		}
	}
	res.Pass = len(res.Problems) == 0
	return res
}

// taken is the attacked concert's seats taken, as Redis counts them.
func (h *harness) taken(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := h.env.Audit(ctx, 1)
	return c.RedisTaken, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
