package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
)

// scenarioRoom is `boxoffice bench room`: a waiting room in front of one
// concert (issue 17), against a gateway and a writer it starts itself.
const scenarioRoom = "room"

// RoomTicket is one member's place in a room, as Redis holds it.
type RoomTicket struct {
	Member   int64
	Position int64 // 0 when never drawn
	PreOpen  bool  // joined before opening
	Seq      int64 // arrival order within its tier (1-based), as Redis ran the joins
	JoinedAt time.Time
}

// RoomCohort is one admission step.
type RoomCohort struct {
	UpTo      int64     // positions ≤ UpTo are admitted after this step
	At        time.Time // when (Redis time)
	ExpiresAt time.Time // passes of this cohort expire
}

// RoomRecords are a room's records after a run, for the audits.
type RoomRecords struct {
	OpensAt   time.Time
	Rate      int
	MaxActive int
	PassTTL   time.Duration
	Tick      time.Duration
	Drawn     int64 // P
	Admitted  int64
	SoldOutAt time.Time // zero if never
	Tickets   []RoomTicket
	Cohorts   []RoomCohort
	Issued    map[int64]time.Time // member → first pass issued
}

// RoomEnv is an Env that can also read a room's records (app.BenchEnv).
type RoomEnv interface {
	Env
	RoomRecords(ctx context.Context, concert int64) (RoomRecords, error)
}

// roomConcert is the concert the room is put in front of.
const roomConcert = 1

// roomOptions are room's own flags.
type roomOptions struct {
	Bin          string
	JSON         string
	Arrivals     int
	PreOpen      int
	Rate         int
	Capacity     int
	Streams      int
	MaxActive    int
	PassTTL      time.Duration
	Hold         float64
	HoldTTL      time.Duration
	JoinRate     float64
	OpenDelay    time.Duration
	PollRate     float64
	MaxTime      time.Duration
	SoldOutWait  time.Duration
	Timeout      time.Duration
	DrainTimeout time.Duration
	GatewayFlags string
	WriterFlags  string
	Quiet        bool
}

// RoomConfig is the run's configuration in the JSON (durations in ms).
type RoomConfig struct {
	Arrivals      int     `json:"arrivals"`
	PreOpen       int     `json:"pre_open"`
	Rate          int     `json:"rate"`
	Capacity      int     `json:"capacity"`
	Streams       int     `json:"streams"`
	MaxActive     int     `json:"max_active"`
	PassTTLMs     float64 `json:"pass_ttl_ms"`
	Hold          float64 `json:"hold"`
	HoldTTLMs     float64 `json:"hold_ttl_ms"`
	JoinRate      float64 `json:"join_rate"`
	OpenDelayMs   float64 `json:"open_delay_ms"`
	PollRate      float64 `json:"poll_rate"`
	MaxTimeMs     float64 `json:"max_time_ms"`
	SoldOutWaitMs float64 `json:"sold_out_wait_ms"`
	TimeoutMs     float64 `json:"timeout_ms"`
	GatewayFlags  string  `json:"gateway_flags"`
	WriterFlags   string  `json:"writer_flags"`
}

func (o roomOptions) configJSON() RoomConfig {
	return RoomConfig{Arrivals: o.Arrivals, PreOpen: o.PreOpen, Rate: o.Rate, Capacity: o.Capacity, Streams: o.Streams, MaxActive: o.MaxActive,
		PassTTLMs: ms(o.PassTTL), Hold: o.Hold, HoldTTLMs: ms(o.HoldTTL), JoinRate: o.JoinRate, OpenDelayMs: ms(o.OpenDelay), PollRate: o.PollRate,
		MaxTimeMs: ms(o.MaxTime), SoldOutWaitMs: ms(o.SoldOutWait), TimeoutMs: ms(o.Timeout), GatewayFlags: o.GatewayFlags, WriterFlags: o.WriterFlags}
}

func roomDefaults() roomOptions {
	return roomOptions{
		Arrivals: 100_000, PreOpen: 10_000, Rate: 1_000, Capacity: 1_000, Streams: 10_000,
		// The contract's example: well above what a sale of 1,000 seats at
		// 1,000/s admits before it sells out, so the rate is what binds.
		MaxActive: 5_000,
		PassTTL:   2 * time.Minute,
		// Short, so that with --hold the unpaid holds come back within the
		// run and admission resumes.
		HoldTTL: 5 * time.Second,
		// 10,000 pre-open joins in 2 s; 90,000 after opening in 18 s.
		JoinRate:  5_000,
		OpenDelay: 3 * time.Second,
		// The /me pollers' total: a 2-core machine also runs the gateway,
		// Redis and the streams.
		PollRate:     1_000,
		MaxTime:      4 * time.Minute,
		SoldOutWait:  10 * time.Second,
		Timeout:      5 * time.Second,
		DrainTimeout: time.Minute,
	}
}

func registerRoom(fs *flag.FlagSet, o *roomOptions) {
	fs.StringVar(&o.Bin, "bin", o.Bin, "the boxoffice binary whose gateway and writer room starts (empty: this one)")
	fs.StringVar(&o.JSON, "json", o.JSON, "write the results to this file (make bench-room: bench/out/room.json)")
	fs.IntVar(&o.Arrivals, "arrivals", o.Arrivals, "members who join the queue (members 1..arrivals, one join each)")
	fs.IntVar(&o.PreOpen, "pre-open", o.PreOpen, "of them, how many join before the room opens (the first ones)")
	fs.IntVar(&o.Rate, "rate", o.Rate, "the room's admissions per second")
	fs.IntVar(&o.Capacity, "capacity", o.Capacity, "seats of the concert")
	fs.IntVar(&o.Streams, "streams", o.Streams, "arrivals (the first ones) who hold an SSE stream open; the others poll /me")
	fs.IntVar(&o.MaxActive, "max-active", o.MaxActive, "the room's most passes valid at once")
	fs.DurationVar(&o.PassTTL, "pass-ttl", o.PassTTL, "the room's pass lifetime")
	fs.Float64Var(&o.Hold, "hold", o.Hold, "share (0–1) of admitted buyers who reserve but never pay: their holds expire after --hold-ttl and admission resumes")
	fs.DurationVar(&o.HoldTTL, "hold-ttl", o.HoldTTL, "the gateway's --hold-ttl (how long an unpaid hold lasts)")
	fs.Float64Var(&o.JoinRate, "join-rate", o.JoinRate, "joins per second (before and after opening)")
	fs.DurationVar(&o.OpenDelay, "open-delay", o.OpenDelay, "the room opens this long after the pre-open joins are due to end")
	fs.Float64Var(&o.PollRate, "poll-rate", o.PollRate, "most GET /me per second over all pollers")
	fs.DurationVar(&o.MaxTime, "max-time", o.MaxTime, "the load stops after this long, sold out or not")
	fs.DurationVar(&o.SoldOutWait, "sold-out-wait", o.SoldOutWait, "after the room sold out, how long the waiting streams have to hear it")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of one request (not of a stream)")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "longest wait for the writer after the load")
	fs.StringVar(&o.GatewayFlags, "gateway-flags", o.GatewayFlags, "more flags for the gateway, space-separated (e.g. --queue-tick 50ms)")
	fs.StringVar(&o.WriterFlags, "writer-flags", o.WriterFlags, "more flags for the writer, space-separated")
	fs.BoolVar(&o.Quiet, "quiet", o.Quiet, "no progress line on stderr")
}

func (o *roomOptions) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.Arrivals >= 1 && o.Arrivals <= maxMembers, "--arrivals must be in 1..%d, got %d", maxMembers, o.Arrivals)
	check(o.PreOpen >= 0 && o.PreOpen <= o.Arrivals, "--pre-open must be in 0..--arrivals, got %d", o.PreOpen)
	check(o.Rate >= 1 && o.Rate <= 100_000, "--rate must be in 1..100000, got %d", o.Rate)
	check(o.Capacity >= 1 && o.Capacity <= 10_000_000, "--capacity must be in 1..10000000, got %d", o.Capacity)
	// Each stream is a socket on both sides: the gateway's --max-conns is
	// 20,000, and so is this machine's open-file limit.
	check(o.Streams >= 0 && o.Streams <= o.Arrivals && o.Streams <= 15_000, "--streams must be in 0..min(--arrivals, 15000), got %d", o.Streams)
	check(o.MaxActive >= 1, "--max-active must be at least 1, got %d", o.MaxActive)
	check(o.PassTTL >= time.Second, "--pass-ttl must be at least 1s, got %s", o.PassTTL)
	check(o.Hold >= 0 && o.Hold <= 1, "--hold must be in [0, 1], got %g", o.Hold)
	check(o.HoldTTL >= time.Second && o.HoldTTL <= time.Hour, "--hold-ttl must be in [1s, 1h], got %s", o.HoldTTL)
	check(o.JoinRate > 0 && o.JoinRate <= maxRate, "--join-rate must be in (0, %d], got %g", maxRate, o.JoinRate)
	check(o.OpenDelay >= time.Second && o.OpenDelay <= time.Hour, "--open-delay must be in [1s, 1h], got %s", o.OpenDelay)
	check(o.PollRate > 0 && o.PollRate <= maxRate, "--poll-rate must be in (0, %d], got %g", maxRate, o.PollRate)
	check(o.MaxTime > 0 && o.MaxTime <= time.Hour, "--max-time must be in (0, 1h], got %s", o.MaxTime)
	check(o.SoldOutWait > 0 && o.SoldOutWait <= 10*time.Minute, "--sold-out-wait must be in (0, 10m], got %s", o.SoldOutWait)
	check(o.Timeout > 0 && o.Timeout <= time.Minute, "--timeout must be in (0, 1m], got %s", o.Timeout)
	check(o.DrainTimeout >= 0 && o.DrainTimeout <= time.Hour, "--drain-timeout must be in [0, 1h], got %s", o.DrainTimeout)
	return errors.Join(errs...)
}

// parseRoom reads room's flags (after "room"); BOX_<FLAG> fills a flag not given.
func parseRoom(args []string, getenv func(string) string, stderr io.Writer) (roomOptions, error) {
	o := roomDefaults()
	if err := parseOwnFlags(scenarioRoom, args, getenv, stderr, func(fs *flag.FlagSet) { registerRoom(fs, &o) }); err != nil {
		return o, err
	}
	return o, o.validate()
}

// RoomResult is what `bench room` writes (--json).
type RoomResult struct {
	SchemaVersion int        `json:"schema_version"`
	Scenario      string     `json:"scenario"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    time.Time  `json:"finished_at"`
	Machine       Machine    `json:"machine"`
	LoadAvgStart  string     `json:"load_avg_start"`
	LoadAvgEnd    string     `json:"load_avg_end"`
	Config        RoomConfig `json:"config"`
	GatewayArgs   []string   `json:"gateway_args"`
	WriterArgs    []string   `json:"writer_args"`
	// OK is true when every check held.
	OK     bool        `json:"ok"`
	Checks []RoomCheck `json:"checks"`

	Joined     int64   `json:"joined"`
	JoinErrors int64   `json:"join_errors"`
	JoinPerS   float64 `json:"join_per_s"`
	// JoinErrorCodes are the failed joins by answer ("503/unavailable", "conn/timeout").
	JoinErrorCodes map[string]int64 `json:"join_error_codes"`
	PreOpenLate    int64            `json:"pre_open_late"` // meant to join before opening, Redis saw them after
	Polls          int64            `json:"polls"`
	PollErrors     int64            `json:"poll_errors"`
	StreamEvents   int64            `json:"stream_events"`
	StreamErrors   int64            `json:"stream_errors"`
	StreamDrops    int64            `json:"stream_drops"` // streams that broke and were opened again
	StreamsPeak    int64            `json:"streams_peak"`

	Drawn         int64 `json:"drawn"`
	Admitted      int64 `json:"admitted"`
	PostOpenAdmit int64 `json:"post_open_admitted"`
	PassesIssued  int   `json:"passes_issued"`
	// Steps, AdmittedPerS and MeanStepMs are the serving counter's: its
	// admission steps, and from the first to the last, positions admitted
	// per second and the mean time between steps (the rate asked for is
	// reached only when the ticks come on time: the bucket holds one
	// tick's worth).
	Steps        int              `json:"steps"`
	AdmittedPerS float64          `json:"admitted_per_s"`
	MeanStepMs   float64          `json:"mean_step_ms"`
	Buys         roomBuys         `json:"buys"`
	ReserveCodes map[string]int64 `json:"reserve_codes"`
	ConfirmCodes map[string]int64 `json:"confirm_codes"`
	Audit        *Audit           `json:"audit"`
	// SoldOutAfterOpenMs is when the room sold out (its SoldOutAt), from
	// its opening; nil when it did not.
	SoldOutAfterOpenMs *float64      `json:"sold_out_after_open_ms"`
	SoldOut            SoldOutReach  `json:"sold_out_reach"`
	Gateway            RoomResources `json:"gateway"`
	Series             []RoomSecond  `json:"series"`
	Notes              []string      `json:"notes"`
}

// RoomResources are the gateway process's memory and CPU around the streams.
type RoomResources struct {
	Pid              int     `json:"pid"`
	RSSMBBefore      float64 `json:"rss_mb_before"`       // up, nothing joined
	RSSMBStreamsOpen float64 `json:"rss_mb_streams_open"` // every pre-open stream connected, before opening
	StreamsOpen      int64   `json:"streams_open"`        // connected at that moment
	KBPerStream      float64 `json:"kb_per_stream"`
	RSSMBPeak        float64 `json:"rss_mb_peak"`
	RSSMBAfter       float64 `json:"rss_mb_after"` // streams closed
	// CPU in cores (CPU seconds per second): with the streams open and idle
	// before opening, and over the sale (opening to the end of the load).
	CPUCoresIdleStreams float64 `json:"cpu_cores_idle_streams"`
	IdleWindowS         float64 `json:"idle_window_s"`
	CPUCoresSale        float64 `json:"cpu_cores_sale"`
	SaleWindowS         float64 `json:"sale_window_s"`
}

// RoomSecond is one second of the run.
type RoomSecond struct {
	T        int     `json:"t"` // seconds since the first join
	Joined   int64   `json:"joined"`
	Admitted int64   `json:"admitted"`
	Waiting  int64   `json:"waiting"`
	State    string  `json:"state"`
	Streams  int64   `json:"streams"`
	RSSMB    float64 `json:"rss_mb"`
	CPUCores float64 `json:"cpu_cores"`
}

// runRoom runs room: args are what follows "room".
func runRoom(ctx context.Context, args []string, stdout, stderr io.Writer, env Env, getenv func(string) string) error {
	o, err := parseRoom(args, getenv, stderr)
	if err != nil {
		return err
	}
	re, ok := env.(RoomEnv)
	if !ok || env == nil {
		return errors.New("room seeds and audits through MySQL and Redis, and reads the room's records: set BOX_MYSQL_DSN and BOX_REDIS_ADDR (make bench-room does)")
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return fmt.Errorf("--bin: %w", err)
		}
	}
	res := &RoomResult{SchemaVersion: SchemaVersion, Scenario: scenarioRoom, StartedAt: time.Now().UTC(), Machine: readMachine(),
		LoadAvgStart: loadAvg(), Config: o.configJSON(), Checks: []RoomCheck{}, Notes: []string{}}
	rr := &roomRun{o: o, env: re, stderr: stderr, res: res}
	if o.JSON != "" {
		rr.logs = filepath.Join(filepath.Dir(o.JSON), "room", "logs")
	} else if rr.logs, err = os.MkdirTemp("", "boxoffice-room-"); err != nil {
		return err
	} else {
		defer os.RemoveAll(rr.logs)
	}
	if err := os.MkdirAll(rr.logs, 0o755); err != nil {
		return err
	}
	// Each side holds a socket per stream, plus its other connections.
	want := uint64(o.Streams) + 5_000
	if n, err := raiseNoFileTo(want); err != nil || n < want {
		rr.note("open-file limit %d (%v): %d streams need about %d here and in the gateway (ulimit -n)", n, err, o.Streams, want)
	}
	runErr := rr.run(ctx)
	rr.stopAll()
	res.FinishedAt = time.Now().UTC()
	res.LoadAvgEnd = loadAvg()
	res.OK = res.OK && runErr == nil
	printRoom(stdout, res)
	errs := []error{runErr}
	if o.JSON != "" {
		errs = append(errs, writeRoomJSON(o.JSON, res))
		dir := filepath.Join(filepath.Dir(o.JSON), "room")
		if err := writeRoomCharts(dir, res); err != nil {
			errs = append(errs, fmt.Errorf("charts: %w", err))
		} else if len(res.Series) > 0 {
			fmt.Fprintf(stderr, "charts: %s\n", filepath.Join(dir, "queue.svg")+", gateway.svg")
		}
	}
	if runErr == nil && !res.OK {
		var bad []string
		for _, c := range res.Checks {
			if !c.OK {
				bad = append(bad, c.Name+": "+c.Detail)
			}
		}
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvariant, strings.Join(bad, " | ")))
	}
	return errors.Join(errs...)
}

// raiseNoFileTo lifts the open-file limit to at least want where the hard
// limit allows it, or root may raise the hard limit; the processes started
// afterwards inherit it.
func raiseNoFileTo(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Max < want && os.Geteuid() == 0 {
		nl := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &nl); err == nil {
			return want, nil
		}
	}
	return raiseNoFile()
}

func writeRoomJSON(path string, res *RoomResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printRoom is the table on stdout.
func printRoom(w io.Writer, r *RoomResult) {
	c := r.Config
	fmt.Fprintf(w, "bench room: %d arrivals (%d before opening), %d/s, %d seats, %d SSE streams; %s\n", c.Arrivals, c.PreOpen, c.Rate, c.Capacity, c.Streams, machineLine(r.Machine))
	fmt.Fprintf(w, "load average %s → %s\n\n", r.LoadAvgStart, r.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("joined", fmt.Sprintf("%d (%.0f/s; %d meant for before opening joined after); %d failed: %s", r.Joined, r.JoinPerS, r.PreOpenLate, r.JoinErrors, orDash(codes(r.JoinErrorCodes))))
	row("drawn / admitted", fmt.Sprintf("%d / %d (%d after opening); %d passes issued", r.Drawn, r.Admitted, r.PostOpenAdmit, r.PassesIssued))
	row("admission", fmt.Sprintf("%d steps, %.0f admitted/s of the %d/s asked, a step every %.0f ms (first to last step)", r.Steps, r.AdmittedPerS, c.Rate, r.MeanStepMs))
	row("streams", fmt.Sprintf("%d at most open, %d status events, %d errors, %d broke and reconnected", r.StreamsPeak, r.StreamEvents, r.StreamErrors, r.StreamDrops))
	row("polls of /me", fmt.Sprintf("%d (%d errors)", r.Polls, r.PollErrors))
	row("reservations", fmt.Sprintf("%d accepted, %d of them confirmed, of %d seats; %s", r.Buys.Accepted, r.Buys.Confirmed, r.Buys.Capacity, codes(r.ReserveCodes)))
	row("confirms", codes(r.ConfirmCodes)+" (each retried up to 4 times on 5xx or no answer)")
	if r.SoldOutAfterOpenMs != nil {
		so := r.SoldOut
		row("sold out", fmt.Sprintf("%.1fs after opening; reached %d of %d waiting streams: p50 %s, p99 %s, max %s; %d never", *r.SoldOutAfterOpenMs/1000, so.Reached, so.Waiters, fmtMs(so.P50Ms), fmtMs(so.P99Ms), fmtMs(so.MaxMs), so.Never))
	} else {
		row("sold out", "no")
	}
	g := r.Gateway
	row("gateway RSS", fmt.Sprintf("%.1f MiB before, %.1f MiB with %d streams open (%.1f KiB each), %.1f MiB peak, %.1f MiB after", g.RSSMBBefore, g.RSSMBStreamsOpen, g.StreamsOpen, g.KBPerStream, g.RSSMBPeak, g.RSSMBAfter))
	row("gateway CPU", fmt.Sprintf("%.3f cores with the streams idle (%.1fs), %.2f cores over the sale (%.1fs)", g.CPUCoresIdleStreams, g.IdleWindowS, g.CPUCoresSale, g.SaleWindowS))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "audit\tverdict\t")
	for _, ch := range r.Checks {
		v := "ok"
		if !ch.OK {
			v = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Name, v, ch.Detail)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	verdict := "every audit held"
	if !r.OK {
		verdict = "AUDIT FAILED"
	}
	fmt.Fprintf(w, "\n%s\n", verdict)
}

// writeRoomCharts draws the run over time into dir: the queue (joined,
// admitted, streams open) and the gateway (RSS, CPU).
func writeRoomCharts(dir string, r *RoomResult) error {
	if len(r.Series) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	line := func(f func(RoomSecond) float64) plotter.XYs {
		xys := make(plotter.XYs, len(r.Series))
		for i, s := range r.Series {
			xys[i] = plotter.XY{X: float64(s.T), Y: f(s)}
		}
		return xys
	}
	type series struct {
		name string
		f    func(RoomSecond) float64
	}
	charts := []struct {
		file, title, y string
		lines          []series
	}{
		{"queue", "The queue: joined, admitted, SSE streams open", "members", []series{
			{"joined", func(s RoomSecond) float64 { return float64(s.Joined) }},
			{"admitted", func(s RoomSecond) float64 { return float64(s.Admitted) }},
			{"streams open", func(s RoomSecond) float64 { return float64(s.Streams) }},
		}},
		{"gateway", "The gateway: RSS (MiB) and CPU (hundredths of a core)", "MiB / 0.01 core", []series{
			{"RSS MiB", func(s RoomSecond) float64 { return s.RSSMB }},
			{"CPU (0.01 cores)", func(s RoomSecond) float64 { return 100 * s.CPUCores }},
		}},
	}
	for _, c := range charts {
		p := plot.New()
		p.Title.Text = c.title
		p.X.Label.Text = "seconds since the first join"
		p.Y.Label.Text = c.y
		p.Legend.Top = true
		for i, s := range c.lines {
			if err := addLine(p, s.name, line(s.f), seriesColors[i%len(seriesColors)], nil); err != nil {
				return err
			}
		}
		p.Y.Min, p.X.Min = 0, 0
		for _, ext := range chartFormats {
			if err := saveChart(p, filepath.Join(dir, c.file+"."+ext), ext); err != nil {
				return err
			}
		}
	}
	return nil
}
