package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PerfResult is what `boxoffice bench perf --json` writes (bench/SCHEMA.md:
// perf). The headline figures are top-level fields; each step's detail
// follows them.
type PerfResult struct {
	SchemaVersion int       `json:"schema_version"`
	Scenario      string    `json:"scenario"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	Machine       Machine   `json:"machine"`
	LoadAvgStart  string    `json:"load_avg_start"`
	LoadAvgEnd    string    `json:"load_avg_end"`

	CeilingRPS         float64  `json:"ceiling_rps"`
	CeilingWrkRPS      *float64 `json:"ceiling_wrk_rps"`
	AsyncOfferedPerS   float64  `json:"async_offered_per_s"`
	AsyncAcceptedPerS  float64  `json:"async_accepted_per_s"`
	AsyncPersistedPerS float64  `json:"async_persisted_per_s"`
	LagDrainS          float64  `json:"lag_drain_s"`
	// AsyncSustainablePerS is the highest rate of the ladder (offered rates
	// under what 0.4 × C got) at which ≥ 95% was accepted: what the system
	// sustains, where 0.4 × C may be far past it.
	AsyncSustainablePerS float64    `json:"async_sustainable_per_s"`
	SustainableLadder    []PerfRung `json:"sustainable_ladder"`
	// Overload is the open model at twice the sustainable rate (load
	// shedding's test: accepted/s ≥ 0.9 × sustainable, the p99 of what was
	// answered).
	OverloadOfferedPerS  float64  `json:"overload_offered_per_s"`
	OverloadAcceptedPerS float64  `json:"overload_accepted_per_s"`
	OverloadP50Ms        float64  `json:"overload_p50_ms"`
	OverloadP99Ms        float64  `json:"overload_p99_ms"`
	OverloadShed         int64    `json:"overload_shed"`
	HalfRate             float64  `json:"half_rate"`
	P99MsAtHalfRate      float64  `json:"p99_ms_at_half_rate"`
	P999MsAtHalfRate     float64  `json:"p999_ms_at_half_rate"`
	P50MsAt64Clients     float64  `json:"p50_ms_at_64_clients"`
	SoldoutRPS           float64  `json:"soldout_rps"`
	WriterRowsPerS       *float64 `json:"writer_rows_per_s"`
	// WriterCurve is step 5's rows/s per batch size (bench writer).
	WriterCurve                     []WriterStep `json:"writer_curve"`
	GatewayRSSMB10kConns            float64      `json:"gateway_rss_mb_10k_conns"`
	GatewayRSSMB10kConnsKeepBuffers float64      `json:"gateway_rss_mb_10k_conns_keep_buffers"`

	Targets  []PerfTarget `json:"targets"`
	Steps    []PerfStep   `json:"steps"`
	Settings PerfSettings `json:"settings"`

	Ceiling      *Ceiling        `json:"ceiling"`
	Async        *StrategyResult `json:"async"`
	AsyncCPU     *PerfCPU        `json:"async_cpu"`
	HalfRateLoad *StrategyResult `json:"half_rate_load"`
	Clients64    *StrategyResult `json:"clients_64"`
	SoldOut      *PerfSoldOut    `json:"sold_out"`
	RSS          []PerfRSS       `json:"rss"`
	Ramp         *StrategyResult `json:"ramp"`
	RampCPU      *PerfCPU        `json:"ramp_cpu"`
	Notes        []string        `json:"notes"`

	// The inner runs, for their own report pages (not in the JSON: each
	// step's entry above is the part that matters).
	asyncResult, halfResult, clients64Result, rampResult *Result
}

// PerfTarget is one of issue 14's targets and how this run did.
type PerfTarget struct {
	Name string `json:"name"`
	// Field is the top-level field measured.
	Field string `json:"field"`
	// Op and Want: the target is field Op Want (≥ or ≤), in Unit; for a
	// target that is a ratio to C, Want is RatioWant × this run's C.
	Op        string   `json:"op"`
	Want      float64  `json:"want"`
	Unit      string   `json:"unit"`
	RatioWant *float64 `json:"ratio_want"`
	Measured  *float64 `json:"measured"`
	// RatioToC is Measured ÷ C where the target is a ratio.
	RatioToC *float64 `json:"ratio_to_c"`
	// Status is pass, missed or not run.
	Status string `json:"status"`
	Note   string `json:"note"`
}

// Target statuses.
const (
	targetPass   = "pass"
	targetMissed = "missed"
	targetNotRun = "not run"
)

// PerfStep is one step's outcome.
type PerfStep struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note"`
}

// PerfSettings are how perf started the system.
type PerfSettings struct {
	Bin         string   `json:"bin"`
	GatewayArgs []string `json:"gateway_args"`
	WriterArgs  []string `json:"writer_args"`
	RedisPrefix string   `json:"redis_prefix"`
	Topic       string   `json:"topic"`
	Group       string   `json:"group"`
}

// PerfCPU is the CPU each process used over a load (and its drain).
type PerfCPU struct {
	WallS float64 `json:"wall_s"`
	// CPUS is CPU seconds (user + system) by process: gateway, writer,
	// redis, mariadb, kafka, harness.
	CPUS   map[string]float64 `json:"cpu_s"`
	TotalS float64            `json:"total_s"`
	// ShareOfMachine is CPUS ÷ (wall × cores).
	ShareOfMachine map[string]float64 `json:"share_of_machine"`
	// UsPerReservation is CPUS in µs ÷ accepted reservations (async only).
	UsPerReservation      map[string]float64 `json:"us_per_reservation"`
	UsPerReservationTotal float64            `json:"us_per_reservation_total"`
}

// PerfSoldOut is the sold-out step.
type PerfSoldOut struct {
	Clients     int              `json:"clients"`
	Requests    int64            `json:"requests"`
	SoldOut     int64            `json:"sold_out"`
	OtherByCode map[string]int64 `json:"other_by_code"`
	DurationMs  float64          `json:"duration_ms"`
	RPS         float64          `json:"rps"`
	LatencyMs   Latency          `json:"latency_ms"`
}

// PerfRSS is one gateway's memory with the connections open.
type PerfRSS struct {
	ReduceIdleMemory bool    `json:"reduce_idle_memory"`
	Wanted           int     `json:"wanted"`
	Open             int     `json:"open"`
	Failed           int     `json:"failed"`
	RSSMBBefore      float64 `json:"rss_mb_before"`
	RSSMB            float64 `json:"rss_mb"`
	KBPerConn        float64 `json:"kb_per_conn"`
}

func ptr(v float64) *float64 { return &v }

// perfTargets judges the run against issue 14's targets.
func perfTargets(r *PerfResult) []PerfTarget {
	ran := map[string]bool{}
	for _, s := range r.Steps {
		ran[s.Name] = s.Status != stepNotRun
	}
	c := r.CeilingRPS
	var out []PerfTarget
	add := func(step string, t PerfTarget, measured float64, have bool) {
		if t.RatioWant != nil {
			if c <= 0 {
				t.Status, t.Note = targetNotRun, "no C to compare with"
				out = append(out, t)
				return
			}
			t.Want = *t.RatioWant * c
		}
		if !ran[step] || !have {
			t.Status = targetNotRun
			if t.Note == "" {
				t.Note = "step " + step + " did not run"
			}
			out = append(out, t)
			return
		}
		t.Measured = ptr(measured)
		if t.RatioWant != nil {
			t.RatioToC = ptr(measured / c)
		}
		ok := measured >= t.Want
		if t.Op == "≤" {
			ok = measured <= t.Want
		}
		t.Status = targetMissed
		if ok {
			t.Status = targetPass
		}
		out = append(out, t)
	}
	add(stepAsync, PerfTarget{Name: "async sustained at ≥ 0.4 × C", Field: "async_accepted_per_s", Op: "≥", Unit: "/s", RatioWant: ptr(0.4)},
		r.AsyncAcceptedPerS, r.Async != nil)
	add(stepAsync, PerfTarget{Name: "at twice the sustainable rate, accepted ≥ 0.9 × sustainable", Field: "overload_accepted_per_s", Op: "≥", Unit: "/s",
		Want: 0.9 * r.AsyncSustainablePerS, Note: fmt.Sprintf("p99 of the answers %.0f ms, %d shed (503 overloaded)", r.OverloadP99Ms, r.OverloadShed)},
		r.OverloadAcceptedPerS, r.OverloadOfferedPerS > 0)
	pace := PerfTarget{Name: "persisted/s keeps pace (≥ 0.9 × accepted/s)", Field: "async_persisted_per_s", Op: "≥", Unit: "/s",
		Want: 0.9 * r.AsyncAcceptedPerS}
	add(stepAsync, pace, r.AsyncPersistedPerS, r.Async != nil)
	lag := PerfTarget{Name: "lag back to zero within 2 s", Field: "lag_drain_s", Op: "≤", Want: 2, Unit: "s"}
	if r.Async != nil && !r.Async.Drained {
		lag.Note = "not drained within --drain-timeout"
	}
	add(stepAsync, lag, r.LagDrainS, r.Async != nil)
	add(stepLatency, PerfTarget{Name: "p99 at half the sustained rate", Field: "p99_ms_at_half_rate", Op: "≤", Want: 5, Unit: "ms"},
		r.P99MsAtHalfRate, r.HalfRateLoad != nil)
	add(stepLatency, PerfTarget{Name: "p99.9 at half the sustained rate", Field: "p999_ms_at_half_rate", Op: "≤", Want: 20, Unit: "ms"},
		r.P999MsAtHalfRate, r.HalfRateLoad != nil)
	add(stepLatency, PerfTarget{Name: "p50 at 64 closed-loop clients", Field: "p50_ms_at_64_clients", Op: "≤", Want: 3, Unit: "ms"},
		r.P50MsAt64Clients, r.Clients64 != nil)
	add(stepSoldOut, PerfTarget{Name: "sold-out answers at ≥ 0.8 × C", Field: "soldout_rps", Op: "≥", Unit: "/s", RatioWant: ptr(0.8)},
		r.SoldoutRPS, r.SoldOut != nil)
	w := PerfTarget{Name: "writer alone", Field: "writer_rows_per_s", Op: "≥", Want: 100_000, Unit: "rows/s"}
	if len(r.WriterCurve) > 1 {
		var parts []string
		for _, c := range r.WriterCurve {
			parts = append(parts, fmt.Sprintf("%d: %.0f", c.BatchSize, c.RowsPerS))
		}
		w.Note = "rows/s by batch size: " + strings.Join(parts, ", ")
	}
	add(stepWriter, w, deref(r.WriterRowsPerS), r.WriterRowsPerS != nil)
	rss := PerfTarget{Name: "gateway RSS with 10,000 keep-alive connections (the run's settings)", Field: "gateway_rss_mb_10k_conns", Op: "≤", Want: 150, Unit: "MiB"}
	if r.GatewayRSSMB10kConnsKeepBuffers > 0 {
		rss.Note = fmt.Sprintf("with --reduce-idle-memory=false: %.1f MiB", r.GatewayRSSMB10kConnsKeepBuffers)
	}
	if n := rssOpen(r); n > 0 && n < 10_000 {
		rss.Note = strings.TrimPrefix(rss.Note+fmt.Sprintf("; %d connections, not 10,000 (--conns)", n), "; ")
	}
	add(stepRSS, rss, r.GatewayRSSMB10kConns, r.GatewayRSSMB10kConns > 0)
	// As in the reference's run, where the load generator took most of the
	// CPU: the gateway's share at most the generator's.
	ramp := PerfTarget{Name: "bench ramp: the gateway is not the bottleneck (its CPU share ≤ the load generator's)",
		Field: "ramp_cpu.share_of_machine.gateway", Op: "≤", Unit: "% of machine"}
	var gw float64
	haveRamp := r.RampCPU != nil
	if haveRamp {
		gw, ramp.Want = 100*r.RampCPU.ShareOfMachine["gateway"], 100*r.RampCPU.ShareOfMachine["harness"]
		ramp.Note = "want: the load generator's share"
	}
	add(stepRamp, ramp, gw, haveRamp)
	return out
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func rssOpen(r *PerfResult) int {
	for _, x := range r.RSS {
		if x.ReduceIdleMemory {
			return x.Open
		}
	}
	return 0
}

func writePerfJSON(path string, r *PerfResult) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

// perfFigure formats a target's value.
func perfFigure(v float64, unit string) string {
	switch unit {
	case "/s":
		return rate(v) + unit
	case "rows/s":
		return rate(v) + " " + unit
	case "% of machine":
		return fmt.Sprintf("%.0f%s", v, unit)
	default:
		return num(v) + " " + unit
	}
}

// targetRows are the targets as table cells: target, want, measured, ratio, status, note.
func targetRows(r *PerfResult) [][]string {
	var rows [][]string
	for _, t := range r.Targets {
		want := t.Op + " " + perfFigure(t.Want, t.Unit)
		if t.RatioWant != nil {
			want = fmt.Sprintf("%s %.1f × C (%s)", t.Op, *t.RatioWant, perfFigure(t.Want, t.Unit))
		}
		measured, ratio := "-", "-"
		if t.Measured != nil {
			measured = perfFigure(*t.Measured, t.Unit)
		}
		if t.RatioToC != nil {
			ratio = fmt.Sprintf("%.2f × C", *t.RatioToC)
		}
		rows = append(rows, []string{t.Name, want, measured, ratio, t.Status, t.Note})
	}
	return rows
}

var targetHeader = []string{"target", "want", "measured", "ratio", "status", "note"}

// cpuRows are the CPU accounting as cells: process, async µs/reservation,
// async share, ramp share.
func cpuRows(r *PerfResult) [][]string {
	var rows [][]string
	for _, name := range cpuNames {
		row := []string{name, "-", "-", "-"}
		if c := r.AsyncCPU; c != nil {
			if v, ok := c.UsPerReservation[name]; ok {
				row[1] = fmt.Sprintf("%.0f", v)
			}
			if v, ok := c.ShareOfMachine[name]; ok {
				row[2] = fmt.Sprintf("%.0f%%", 100*v)
			}
		}
		if c := r.RampCPU; c != nil {
			if v, ok := c.ShareOfMachine[name]; ok {
				row[3] = fmt.Sprintf("%.0f%%", 100*v)
			}
		}
		rows = append(rows, row)
	}
	if c := r.AsyncCPU; c != nil {
		rows = append(rows, []string{"all", fmt.Sprintf("%.0f", c.UsPerReservationTotal), "", ""})
	}
	return rows
}

var cpuHeader = []string{"process", "async µs/reservation", "async share of machine", "ramp share of machine"}

// printPerf writes the headline figures, the targets, the CPU and the steps.
func printPerf(w io.Writer, r *PerfResult) {
	fmt.Fprintf(w, "boxoffice bench perf — %s; load average %s at the start, %s at the end\n\n", machineLine(r.Machine), orDash(r.LoadAvgStart), orDash(r.LoadAvgEnd))
	fmt.Fprintf(w, "C = %s req/s", rate(r.CeilingRPS))
	if r.CeilingWrkRPS != nil {
		fmt.Fprintf(w, " (wrk: %s req/s)", rate(*r.CeilingWrkRPS))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(targetHeader, "\t"))
	for _, row := range targetRows(r) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cpuHeader, "\t"))
	for _, row := range cpuRows(r) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, s := range r.Steps {
		fmt.Fprintf(w, "step %-8s %-7s %6.1fs %s\n", s.Name, s.Status, s.Seconds, s.Note)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// writePerfReport writes report.md and index.html (the same tables), the
// charts of rate against offered rate, and each load's own report page.
func writePerfReport(dir string, r *PerfResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	charts, err := writePerfCharts(dir, r)
	errs = append(errs, err)
	var pages [][2]string
	for _, p := range []struct {
		name, title string
		res         *Result
	}{
		{"async", "async sustained", r.asyncResult},
		{"half-rate", "async at half the sustained rate", r.halfResult},
		{"clients-64", "async at 64 closed-loop clients", r.clients64Result},
		{"ramp", "bench ramp", r.rampResult},
	} {
		if p.res == nil {
			continue
		}
		if err := writeReport(filepath.Join(dir, p.name), p.res); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name, err))
			continue
		}
		pages = append(pages, [2]string{p.title, p.name + "/index.html"})
	}
	errs = append(errs, os.WriteFile(filepath.Join(dir, "report.md"), []byte(perfMarkdown(r, charts, pages)), 0o644))
	errs = append(errs, os.WriteFile(filepath.Join(dir, "index.html"), []byte(perfHTML(r, charts, pages)), 0o644))
	return errors.Join(errs...)
}

func mdTable(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
}

func perfMarkdown(r *PerfResult, charts []chartFile, pages [][2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# boxoffice bench perf\n\n%s — %s; load average %s at the start, %s at the end.\n\n",
		r.StartedAt.Format(time.RFC3339), machineLine(r.Machine), orDash(r.LoadAvgStart), orDash(r.LoadAvgEnd))
	fmt.Fprintf(&b, "C = %s req/s", rate(r.CeilingRPS))
	if r.CeilingWrkRPS != nil {
		fmt.Fprintf(&b, " (wrk against the same endpoint: %s req/s)", rate(*r.CeilingWrkRPS))
	}
	b.WriteString(".\n\n## Targets\n\n")
	mdTable(&b, targetHeader, targetRows(r))
	b.WriteString("## CPU\n\n")
	mdTable(&b, cpuHeader, cpuRows(r))
	b.WriteString("## Steps\n\n")
	var rows [][]string
	for _, s := range r.Steps {
		rows = append(rows, []string{s.Name, s.Status, fmt.Sprintf("%.1f s", s.Seconds), s.Note})
	}
	mdTable(&b, []string{"step", "status", "time", "note"}, rows)
	if len(charts) > 0 {
		b.WriteString("## Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", c.Title, c.PNG)
		}
	}
	if len(pages) > 0 {
		b.WriteString("## Each load's report\n\n")
		for _, p := range pages {
			fmt.Fprintf(&b, "- [%s](%s)\n", p[0], p[1])
		}
		b.WriteString("\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func htmlTable(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("<table><tr>")
	for _, h := range header {
		b.WriteString("<th>" + html.EscapeString(h) + "</th>")
	}
	b.WriteString("</tr>\n")
	for _, row := range rows {
		b.WriteString("<tr>")
		for _, c := range row {
			b.WriteString("<td>" + html.EscapeString(c) + "</td>")
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}

func perfHTML(r *PerfResult, charts []chartFile, pages [][2]string) string {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>boxoffice bench perf</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}img{max-width:100%}</style></head><body>
<h1>boxoffice bench perf</h1>
`)
	fmt.Fprintf(&b, "<p>%s — %s; load average %s at the start, %s at the end.</p>\n", html.EscapeString(r.StartedAt.Format(time.RFC3339)),
		html.EscapeString(machineLine(r.Machine)), html.EscapeString(orDash(r.LoadAvgStart)), html.EscapeString(orDash(r.LoadAvgEnd)))
	fmt.Fprintf(&b, "<p>C = %s req/s</p>\n<h2>Targets</h2>\n", rate(r.CeilingRPS))
	htmlTable(&b, targetHeader, targetRows(r))
	b.WriteString("<h2>CPU</h2>\n")
	htmlTable(&b, cpuHeader, cpuRows(r))
	for _, c := range charts {
		fmt.Fprintf(&b, "<h2>%s</h2>\n<a href=%q><img src=%q alt=%q></a>\n", html.EscapeString(c.Title), c.PNG, c.SVG, c.Title)
	}
	if len(pages) > 0 {
		b.WriteString("<h2>Each load's report</h2><ul>\n")
		for _, p := range pages {
			fmt.Fprintf(&b, "<li><a href=%q>%s</a></li>\n", p[1], html.EscapeString(p[0]))
		}
		b.WriteString("</ul>\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "<p>note: %s</p>\n", html.EscapeString(n))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// ratePoint is one load at an offered rate.
type ratePoint struct {
	offered, answered, p50, p99 float64
}

// ratePoints are the noop route's open steps (the ceiling) and async's
// open loads, each against its offered rate.
func ratePoints(r *PerfResult) (noop, async []ratePoint) {
	if ce := r.Ceiling; ce != nil {
		for _, s := range ce.Steps {
			if s.Model == modelOpen {
				noop = append(noop, ratePoint{s.Rate, s.RequestsPerS, s.LatencyMs.P50, s.LatencyMs.P99})
			}
		}
	}
	for _, l := range []struct {
		sr      *StrategyResult
		offered float64
	}{{r.HalfRateLoad, r.HalfRate}, {r.Async, r.AsyncOfferedPerS}} {
		if l.sr != nil && l.offered > 0 {
			async = append(async, ratePoint{l.offered, l.sr.AcceptedPerS, l.sr.LatencyMs.P50, l.sr.LatencyMs.P99})
		}
	}
	for _, g := range r.SustainableLadder {
		async = append(async, ratePoint{g.OfferedPerS, g.AcceptedPerS, g.P50Ms, g.P99Ms})
	}
	if r.OverloadOfferedPerS > 0 {
		async = append(async, ratePoint{r.OverloadOfferedPerS, r.OverloadAcceptedPerS, r.OverloadP50Ms, r.OverloadP99Ms})
	}
	byOffered := func(a, b ratePoint) int { return cmp.Compare(a.offered, b.offered) }
	slices.SortFunc(noop, byOffered)
	slices.SortFunc(async, byOffered)
	return noop, async
}

// writePerfCharts draws throughput and latency against the offered rate.
func writePerfCharts(dir string, r *PerfResult) ([]chartFile, error) {
	noop, async := ratePoints(r)
	if len(noop)+len(async) == 0 && len(r.WriterCurve) < 2 {
		return nil, nil
	}
	type line struct {
		name string
		pts  []ratePoint
		pick func(ratePoint) float64
		dash []vg.Length
	}
	noopColor, asyncColor := seriesColors[2], colorOf(strategyAsync, 0)
	dashed := []vg.Length{vg.Points(6), vg.Points(3)}
	draw := func(title, yLabel string, lines []line, logY bool) (*plot.Plot, error) {
		p := newPlot(title, "offered requests/s", yLabel)
		var all [][]float64
		for _, l := range lines {
			if len(l.pts) == 0 {
				continue
			}
			var xys plotter.XYs
			var vs []float64
			for _, pt := range l.pts {
				// A load with no answer has no latency; on a log axis a
				// zero would not even draw (gonum panics on it).
				if y := l.pick(pt); !logY || y > 0 {
					xys = append(xys, plotter.XY{X: pt.offered, Y: y})
					vs = append(vs, y)
				}
			}
			if len(xys) == 0 {
				continue
			}
			all = append(all, vs)
			c := noopColor
			if strings.HasPrefix(l.name, strategyAsync) {
				c = asyncColor
			}
			if err := addLine(p, l.name, xys, c, l.dash); err != nil {
				return nil, err
			}
			// A few loads make a line: mark each.
			if sc, err := plotter.NewScatter(xys); err == nil {
				sc.Color = c
				p.Add(sc)
			}
		}
		if lo, hi := positiveRange(all); logY && lo > 0 && hi/lo > logSpan {
			p.Y.Label.Text += ", log scale"
			setLogY(p, all)
			headroom(p, true)
		} else {
			p.Y.Min = 0
			headroom(p, false)
		}
		p.X.Min = 0
		return p, nil
	}
	answered := func(pt ratePoint) float64 { return pt.answered }
	p50 := func(pt ratePoint) float64 { return pt.p50 }
	p99 := func(pt ratePoint) float64 { return pt.p99 }
	charts := []struct {
		file, title string
		make        func() (*plot.Plot, error)
	}{
		{"throughput_vs_offered", "Answered per second against the offered rate: the no-op route (C) and async reservations", func() (*plot.Plot, error) {
			return draw("Throughput against offered rate", "answered per second (async: accepted)", []line{
				{"noop answered/s", noop, answered, nil}, {"async accepted/s", async, answered, dashed}}, false)
		}},
		{"latency_vs_offered", "p50 and p99 against the offered rate (open model)", func() (*plot.Plot, error) {
			return draw("Latency against offered rate", "latency (ms)", []line{
				{"noop p50", noop, p50, nil}, {"noop p99", noop, p99, dashed},
				{"async p50", async, p50, nil}, {"async p99", async, p99, dashed}}, true)
		}},
	}
	if len(r.WriterCurve) > 1 {
		charts = append(charts, struct {
			file, title string
			make        func() (*plot.Plot, error)
		}{"writer_batch_size", "The writer alone: rows per second by batch size (bench writer)", func() (*plot.Plot, error) {
			curve := slices.Clone(r.WriterCurve)
			slices.SortFunc(curve, func(a, b WriterStep) int { return cmp.Compare(a.BatchSize, b.BatchSize) })
			p := newPlot("Writer alone: rows/s by batch size", "batch size (events)", "rows per second")
			xys := make(plotter.XYs, len(curve))
			for i, c := range curve {
				xys[i] = plotter.XY{X: float64(c.BatchSize), Y: c.RowsPerS}
			}
			if err := addLine(p, "rows/s", xys, noopColor, nil); err != nil {
				return nil, err
			}
			if sc, err := plotter.NewScatter(xys); err == nil {
				sc.Color = noopColor
				p.Add(sc)
			}
			p.X.Min, p.Y.Min = 0, 0
			headroom(p, false)
			return p, nil
		}})
	}
	var out []chartFile
	var errs []error
	for _, c := range charts {
		p, err := c.make()
		if err != nil {
			errs = append(errs, fmt.Errorf("chart %s: %w", c.file, err))
			continue
		}
		for _, ext := range chartFormats {
			if err := saveChart(p, filepath.Join(dir, c.file+"."+ext), ext); err != nil {
				errs = append(errs, fmt.Errorf("chart %s.%s: %w", c.file, ext, err))
			}
		}
		out = append(out, chartFile{Title: c.title, PNG: c.file + ".png", SVG: c.file + ".svg"})
	}
	return out, errors.Join(errs...)
}

// PerfRung is one rate of the sustainable ladder.
type PerfRung struct {
	OfferedPerS  float64 `json:"offered_per_s"`
	AcceptedPerS float64 `json:"accepted_per_s"`
	Errors       int64   `json:"errors"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	Sustained    bool    `json:"sustained"`
}
