package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// SchemaVersion is the version of the JSON results; bench/SCHEMA.md
// documents it. A field is added without a change of version; a field
// renamed, removed or changed in meaning bumps it.
const SchemaVersion = 1

// Result is the whole output of one run, as written by --json.
type Result struct {
	SchemaVersion int              `json:"schema_version"`
	Scenario      string           `json:"scenario"`
	StartedAt     time.Time        `json:"started_at"`
	FinishedAt    time.Time        `json:"finished_at"`
	Config        Config           `json:"config"`
	Strategies    []StrategyResult `json:"strategies"`
	// AsyncVsLock compares async with the better lock strategy (compare
	// with async and pessimistic or distlock run; null otherwise).
	AsyncVsLock *Speedup `json:"async_vs_lock"`
	// Baseline is the victims alone, before any reservation load (isolation only).
	Baseline *Victims `json:"baseline"`
	// Ceiling is the ceiling scenario's result (null otherwise).
	Ceiling *Ceiling `json:"ceiling"`
	Machine Machine  `json:"machine"`
	Notes   []string `json:"notes"`
}

// Ceiling is C: the most the gateway answered on POST /api/noop, a route
// that does no work, with the harness's load generator (and wrk's figure
// beside it, where installed).
type Ceiling struct {
	Path string `json:"path"`
	// RPS is C: the best req/s of any closed step or sustained open step,
	// with that step's latency; Step is its index in Steps (-1: none).
	RPS   float64 `json:"rps"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	Step  int     `json:"step"`
	// ClosedMaxRPS and OpenMaxSustainedRPS are the best of each model (0
	// when it did not run or sustained no rate).
	ClosedMaxRPS        float64 `json:"closed_max_rps"`
	OpenMaxSustainedRPS float64 `json:"open_max_sustained_rps"`
	// WrkMaxRPS is wrk's best req/s over the closed steps (null without wrk);
	// WrkNote says why there is none, or what wrk ran as.
	WrkMaxRPS *float64      `json:"wrk_max_rps"`
	WrkNote   string        `json:"wrk_note"`
	Steps     []CeilingStep `json:"steps"`
}

// CeilingStep is one load of the ceiling run.
type CeilingStep struct {
	Model string `json:"model"`
	// Clients (closed) or Rate (open, offered requests/s); the other is 0.
	Clients      int              `json:"clients"`
	Rate         float64          `json:"rate"`
	Sent         int64            `json:"sent"`
	Requests     int64            `json:"requests"`
	Errors       int64            `json:"errors"`
	Dropped      int64            `json:"dropped"`
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	DurationMs   float64          `json:"duration_ms"`
	RequestsPerS float64          `json:"requests_per_s"`
	LatencyMs    Latency          `json:"latency_ms"`
	// Sustained: errors and drops within 1% of the requests due and, open
	// model, at least 95% of the offered rate answered.
	Sustained bool `json:"sustained"`
	// Wrk is wrk at the same number of connections (closed steps, where wrk
	// ran; null otherwise).
	Wrk *WrkResult `json:"wrk"`
}

// WrkResult is one wrk run, read from what its Lua script prints at the end.
type WrkResult struct {
	Threads      int     `json:"threads"`
	Connections  int     `json:"connections"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	DurationMs   float64 `json:"duration_ms"`
	RequestsPerS float64 `json:"requests_per_s"`
	LatencyMs    Latency `json:"latency_ms"`
}

// Config is the effective configuration of a run.
type Config struct {
	Target        string   `json:"target"`
	Strategies    []string `json:"strategies"`
	Concerts      int      `json:"concerts"`
	Capacity      int      `json:"capacity"`
	Members       int      `json:"members"`
	Model         string   `json:"model"`
	Rate          float64  `json:"rate"`
	DurationMs    float64  `json:"duration_ms"`
	VUs           int      `json:"vus"`
	RampMs        float64  `json:"ramp_ms"`
	HoldMs        float64  `json:"hold_ms"`
	Requests      int64    `json:"requests"`
	TimeoutMs     float64  `json:"timeout_ms"`
	DrainTimeout  float64  `json:"drain_timeout_ms"`
	MaxInFlight   int      `json:"max_inflight"`
	AuditEveryMs  float64  `json:"audit_every_ms"`
	Victims       int      `json:"victims"`
	VictimDelayMs float64  `json:"victim_delay_ms"`
	Seed          uint64   `json:"seed"`
	Rounds        int      `json:"rounds"`
	WarmupMs      float64  `json:"warmup_ms"`
}

// StrategyResult is one strategy's run.
type StrategyResult struct {
	Name           string           `json:"name"`
	Skipped        bool             `json:"skipped"`
	SkipReason     string           `json:"skip_reason"`
	ExpectedUnsafe bool             `json:"expected_unsafe"`
	Sent           int64            `json:"sent"`
	Requests       int64            `json:"requests"`
	Accepted       int64            `json:"accepted"`
	Rejected       int64            `json:"rejected"`
	Errors         int64            `json:"errors"`
	Dropped        int64            `json:"dropped"`
	RejectedByCode map[string]int64 `json:"rejected_by_code"`
	ErrorsByCode   map[string]int64 `json:"errors_by_code"`
	DurationMs     float64          `json:"duration_ms"`
	RequestsPerS   float64          `json:"requests_per_s"`
	AcceptedPerS   float64          `json:"accepted_per_s"`
	PersistedPerS  float64          `json:"persisted_per_s"`
	Drained        bool             `json:"drained"`
	DrainMs        float64          `json:"drain_ms"`
	LatencyMs      Latency          `json:"latency_ms"`
	Audit          *Audit           `json:"audit"`
	SellOut        *SellOut         `json:"sell_out"`
	Victims        *Victims         `json:"victims"`
	Series         []Second         `json:"series"`
	Notes          []string         `json:"notes"`
	// Round is which round this result is (1-based). With --rounds > 1 the
	// result is the strategy's median round by accepted_per_s, and Rounds
	// summarises every round in order (empty with one round).
	Round  int          `json:"round"`
	Rounds []RoundBrief `json:"rounds"`
	// AcceptedIDs are the reservation ids of the 2xx answers, in the order
	// they came (with --ids; not in the JSON, which would grow with the
	// load: --ids writes them to their own file).
	AcceptedIDs []string `json:"-"`
}

// RoundBrief is one round of a strategy.
type RoundBrief struct {
	Round         int     `json:"round"`
	Skipped       bool    `json:"skipped"`
	AcceptedPerS  float64 `json:"accepted_per_s"`
	PersistedPerS float64 `json:"persisted_per_s"`
	Errors        int64   `json:"errors"`
	LatencyMs     Latency `json:"latency_ms"`
	Audit         *Audit  `json:"audit"`
}

// Speedup is async's accepted/s over the better lock strategy's.
type Speedup struct {
	Lock   string  `json:"lock"`
	Factor float64 `json:"factor"`
	// Rounds is the factor of each round (each within one round, so both
	// sides saw the same machine), when there was more than one.
	Rounds []float64 `json:"rounds"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Second is one second of a run, counted by completion time (sent and
// dropped by send time).
type Second struct {
	T         int     `json:"t"`
	Sent      int64   `json:"sent"`
	Requests  int64   `json:"requests"`
	Accepted  int64   `json:"accepted"`
	Rejected  int64   `json:"rejected"`
	Errors    int64   `json:"errors"`
	Dropped   int64   `json:"dropped"`
	Persisted int64   `json:"persisted"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// SellOut is when the stock ran out, in milliseconds from the first request
// (rush only). A time is null when it did not happen.
type SellOut struct {
	Capacity       int64    `json:"capacity"`
	SoldOut        bool     `json:"sold_out"`
	LastSeatMs     *float64 `json:"last_seat_ms"`
	FirstSoldOutMs *float64 `json:"first_sold_out_ms"`
	SoldOutMs      *float64 `json:"sold_out_ms"`
}

// Victims is the latency of GET /api/members/{id} callers (isolation).
type Victims struct {
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	Errors       int64            `json:"errors"`
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	LatencyMs    Latency          `json:"latency_ms"`
	Series       []Second         `json:"series"`
}

// Machine is where the client ran.
type Machine struct {
	CPU         string `json:"cpu"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	OS          string `json:"os"`
	Kernel      string `json:"kernel"`
	Arch        string `json:"arch"`
	Go          string `json:"go"`
}

// writeIDs writes the accepted reservation ids of each measured load, one a
// line: strategy, round, id, tab-separated.
func writeIDs(path string, loads []loadIDs) error {
	var b strings.Builder
	b.WriteString("# strategy\tround\treservation id (the 2xx answers of each measured load)\n")
	for _, l := range loads {
		for _, id := range l.ids {
			fmt.Fprintf(&b, "%s\t%d\t%s\n", l.strategy, l.round, id)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--ids: %w", err)
	}
	return nil
}

func writeJSON(path string, res *Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}
