package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// scenarioWriter is `boxoffice bench writer`: the writer alone, draining a
// topic filled beforehand, into MySQL on its one connection.
const scenarioWriter = "writer"

// writerHelp is its line in `boxoffice bench -h`.
const writerHelp = "the writer alone: a pre-filled topic drained into MySQL on its one connection, once per --batch-sizes; rows/s (boxoffice bench writer -h)"

// IsWriter reports whether args name the writer scenario, which runs on a
// WriterRig (RunWriter) instead of against a gateway.
func IsWriter(args []string) bool {
	return len(args) > 0 && args[0] == scenarioWriter
}

// WriterRig is what the writer benchmark drives; app implements it over the
// real services.
type WriterRig interface {
	// Fill publishes events reservation events, spread over concerts
	// 1..concerts, to a topic of the rig's own.
	Fill(ctx context.Context, events, concerts int) error
	// Reset puts MySQL and Redis where they stood when the gateway had
	// just admitted every event of the topic: every seat free in MySQL,
	// every event in flight in Redis.
	Reset(ctx context.Context) error
	// Start starts a writer with batchSize that reads the topic from its
	// first message.
	Start(ctx context.Context, batchSize int) (WriterRun, error)
	// Rows counts the rows written (seats taken in MySQL) right now.
	Rows(ctx context.Context) (int64, error)
}

// WriterRun is one running writer.
type WriterRun interface {
	// Stats reads the writer's own batch metrics so far.
	Stats() WriterStats
	// Stop ends it: the open batch is finished and the group left.
	Stop() error
}

// WriterStats are a writer's batch metrics.
type WriterStats struct {
	Batches       int64   `json:"batches"`
	MeanBatchSize float64 `json:"mean_batch_size"`
	MeanBatchMs   float64 `json:"mean_batch_ms"`
	// P50BatchMs is read from the writer's histogram (its buckets: 1, 2, 5,
	// 10, 20, 50 ms …), linear within a bucket as histogram_quantile is.
	P50BatchMs float64 `json:"p50_batch_ms"`
}

// writerOptions are the writer scenario's flags.
type writerOptions struct {
	Events       int
	Concerts     int
	BatchSizes   []int
	Repeat       int
	SampleEvery  time.Duration
	DrainTimeout time.Duration
	JSON         string
	Quiet        bool
	// CPUOf names other processes whose CPU per row each run reports
	// beside the writer's own (this process): MariaDB, Redis.
	CPUOf map[string]int
}

// defaultWriterBatch is the writer's own default (--batch-size): the
// figure reported as writer_rows_per_s when it is among --batch-sizes.
const defaultWriterBatch = 1000

func parseWriterOptions(args []string, stderr io.Writer) (writerOptions, error) {
	o := writerOptions{Events: 200_000, Concerts: 10, BatchSizes: []int{250, 500, 1000, 2000, 4000}, Repeat: 1,
		SampleEvery: 100 * time.Millisecond, DrainTimeout: 2 * time.Minute}
	fs := flag.NewFlagSet("boxoffice bench writer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.Events, "events", o.Events, "reservation events on the topic, written once per batch size")
	fs.IntVar(&o.Concerts, "concerts", o.Concerts, "concerts the events are spread over (round-robin; each member once per concert)")
	fs.Func("batch-sizes", "comma-separated --batch-size of the writer, one run each: the batch-size curve (default 250,500,1000,2000,4000)", func(s string) error {
		var sizes []int
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 100_000 {
				return fmt.Errorf("%q: want batch sizes in [1, 100000]", p)
			}
			sizes = append(sizes, n)
		}
		if len(sizes) == 0 {
			return errors.New("empty list")
		}
		o.BatchSizes = sizes
		return nil
	})
	fs.IntVar(&o.Repeat, "repeat", o.Repeat, "runs per batch size; the median is reported")
	fs.DurationVar(&o.SampleEvery, "sample-every", o.SampleEvery, "how often the rows in MySQL are counted")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", o.DrainTimeout, "longest wait for one run to drain the topic")
	fs.StringVar(&o.JSON, "json", o.JSON, "write the results as JSON to this file")
	fs.Func("cpu-of", "comma-separated name=pid of other processes (MariaDB, Redis) whose CPU µs per row each run reports beside the writer's", func(s string) error {
		o.CPUOf = map[string]int{}
		for _, p := range strings.Split(s, ",") {
			name, pid, ok := strings.Cut(strings.TrimSpace(p), "=")
			n, err := strconv.Atoi(pid)
			if !ok || name == "" || name == "writer" || err != nil || n < 1 {
				return fmt.Errorf("%q: want name=pid (not writer: that is this process)", p)
			}
			o.CPUOf[name] = n
		}
		return nil
	})
	fs.BoolVar(&o.Quiet, "quiet", o.Quiet, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: boxoffice bench writer [flags]\n\nThe writer alone: a topic filled with --events reservation events, drained into\nMySQL by a writer as `boxoffice writer` runs, once per --batch-sizes.\nServices from the BOX_* variables (as for the writer).\n\nflags:\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var errs []error
	if o.Events < 1 || o.Events > 10_000_000 {
		errs = append(errs, fmt.Errorf("--events: %d: want 1..10000000", o.Events))
	}
	if o.Concerts < 1 || o.Concerts > maxConcerts || o.Concerts > o.Events {
		errs = append(errs, fmt.Errorf("--concerts: %d: want 1..min(%d, --events)", o.Concerts, maxConcerts))
	}
	if o.Repeat < 1 || o.Repeat > maxRounds {
		errs = append(errs, fmt.Errorf("--repeat: %d: want 1..%d", o.Repeat, maxRounds))
	}
	if o.SampleEvery <= 0 || o.DrainTimeout <= 0 {
		errs = append(errs, errors.New("--sample-every and --drain-timeout must be positive"))
	}
	return o, errors.Join(errs...)
}

// WriterResult is the writer scenario's JSON.
type WriterResult struct {
	Scenario  string    `json:"scenario"`
	StartedAt time.Time `json:"started_at"`
	Machine   Machine   `json:"machine"`
	Events    int       `json:"events"`
	Concerts  int       `json:"concerts"`
	// WriterRowsPerS is the median rows/s at the writer's default batch
	// size when it was run, else at the best one (BatchSize says which).
	WriterRowsPerS float64      `json:"writer_rows_per_s"`
	BatchSize      int          `json:"batch_size"`
	BestRowsPerS   float64      `json:"best_rows_per_s"`
	BestBatchSize  int          `json:"best_batch_size"`
	Curve          []WriterStep `json:"curve"`
}

// WriterStep is one batch size of the curve.
type WriterStep struct {
	BatchSize int `json:"batch_size"`
	// RowsPerS is the median of Runs.
	RowsPerS float64          `json:"rows_per_s"`
	Runs     []WriterRunStats `json:"runs"`
}

// WriterRunStats is one drain.
type WriterRunStats struct {
	RowsPerS float64 `json:"rows_per_s"`
	Rows     int64   `json:"rows"`
	// Seconds from the first sample that saw a row to the first that saw them all.
	Seconds float64 `json:"seconds"`
	// CPUUsPerRow is each process's CPU (user + system, from
	// /proc/<pid>/stat, 10 ms ticks) from the writer's start to the last
	// row, per row: "writer" is this process (the writer and the row
	// counter), the others are --cpu-of's. A shared server's figure
	// includes what others made it do meanwhile: an upper bound.
	CPUUsPerRow map[string]float64 `json:"cpu_us_per_row,omitempty"`
	WriterStats
}

// RunWriter runs the writer scenario: args are what follows `boxoffice bench
// writer`.
func RunWriter(ctx context.Context, args []string, stdout, stderr io.Writer, rig WriterRig) error {
	if IsWriter(args) {
		args = args[1:]
	}
	o, err := parseWriterOptions(args, stderr)
	if err != nil {
		return err
	}
	status := stderr
	if o.Quiet {
		status = io.Discard
	}
	res := &WriterResult{Scenario: scenarioWriter, StartedAt: time.Now().UTC(), Machine: readMachine(), Events: o.Events, Concerts: o.Concerts}
	start := time.Now()
	if err := rig.Fill(ctx, o.Events, o.Concerts); err != nil {
		return fmt.Errorf("fill the topic: %w", err)
	}
	fmt.Fprintf(status, "topic filled with %d events over %d concerts in %s (not measured)\n", o.Events, o.Concerts, time.Since(start).Round(time.Millisecond))
	for _, size := range o.BatchSizes {
		step := WriterStep{BatchSize: size}
		for i := range o.Repeat {
			run, err := drainOnce(ctx, rig, size, o)
			if err != nil {
				return fmt.Errorf("batch size %d, run %d: %w", size, i+1, err)
			}
			fmt.Fprintf(status, "batch size %d, run %d: %.0f rows/s (%d rows in %.2f s, %d batches of %.0f, p50 %.1f ms)%s\n",
				size, i+1, run.RowsPerS, run.Rows, run.Seconds, run.Batches, run.MeanBatchSize, run.P50BatchMs, cpuLine(run.CPUUsPerRow))
			step.Runs = append(step.Runs, run)
		}
		step.RowsPerS = medianRun(step.Runs).RowsPerS
		res.Curve = append(res.Curve, step)
		if step.RowsPerS > res.BestRowsPerS {
			res.BestRowsPerS, res.BestBatchSize = step.RowsPerS, size
		}
	}
	res.WriterRowsPerS, res.BatchSize = res.BestRowsPerS, res.BestBatchSize
	for _, s := range res.Curve {
		if s.BatchSize == defaultWriterBatch {
			res.WriterRowsPerS, res.BatchSize = s.RowsPerS, s.BatchSize
		}
	}
	printWriterTable(stdout, res)
	if o.JSON != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("--json: %w", err)
		}
	}
	return nil
}

// drainOnce resets the rig, starts a writer and counts its rows until it has
// written every event.
func drainOnce(ctx context.Context, rig WriterRig, size int, o writerOptions) (WriterRunStats, error) {
	var out WriterRunStats
	if err := rig.Reset(ctx); err != nil {
		return out, fmt.Errorf("reset: %w", err)
	}
	pids := map[string]int{"writer": os.Getpid()}
	maps.Copy(pids, o.CPUOf)
	cpu0 := cpuTimes(pids)
	w, err := rig.Start(ctx, size)
	if err != nil {
		return out, fmt.Errorf("start the writer: %w", err)
	}
	var samples []rowSample
	err = func() error {
		deadline := time.Now().Add(o.DrainTimeout)
		tick := time.NewTicker(o.SampleEvery)
		defer tick.Stop()
		for {
			n, err := rig.Rows(ctx)
			if err != nil {
				return fmt.Errorf("count rows: %w", err)
			}
			samples = append(samples, rowSample{time.Now(), n})
			if n >= int64(o.Events) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("drain: %d of %d rows after %s", n, o.Events, o.DrainTimeout)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}()
	cpu1 := cpuTimes(pids)
	out.WriterStats = w.Stats()
	if serr := w.Stop(); err == nil && serr != nil {
		err = fmt.Errorf("stop the writer: %w", serr)
	}
	if err != nil {
		return out, err
	}
	out.Rows, out.Seconds, out.RowsPerS = drainRate(samples)
	if out.Rows > 0 {
		out.CPUUsPerRow = map[string]float64{}
		for name, t := range cpu1 {
			if t0, ok := cpu0[name]; ok {
				out.CPUUsPerRow[name] = float64((t - t0).Microseconds()) / float64(out.Rows)
			}
		}
	}
	return out, nil
}

// cpuTimes reads each process's CPU so far; one that cannot be read is
// left out.
func cpuTimes(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		if t, err := cpuTime(pid); err == nil {
			out[name] = t
		}
	}
	return out
}

// cpuLine is ", CPU µs a row: writer 9.8, mariadb 7.1" (names sorted).
func cpuLine(cpu map[string]float64) string {
	if len(cpu) == 0 {
		return ""
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(cpu)) {
		parts = append(parts, fmt.Sprintf("%s %.1f", name, cpu[name]))
	}
	return ", CPU µs a row: " + strings.Join(parts, ", ")
}

type rowSample struct {
	at   time.Time
	rows int64
}

// drainRate is the rate from the first sample that saw a row to the last
// sample (the first that saw them all): the rows counted between them over
// the time between them. When one sample saw none and the next all of
// them, the interval is those two samples' (a lower bound on the rate).
func drainRate(samples []rowSample) (rows int64, seconds, perS float64) {
	first := slices.IndexFunc(samples, func(s rowSample) bool { return s.rows > 0 })
	if first < 0 {
		return 0, 0, 0
	}
	last := samples[len(samples)-1]
	if first == len(samples)-1 && first > 0 {
		first--
	}
	rows = last.rows - samples[first].rows
	seconds = last.at.Sub(samples[first].at).Seconds()
	if seconds <= 0 {
		return last.rows, 0, 0
	}
	return last.rows, seconds, float64(rows) / seconds
}

// medianRun is the run with the median rate (the lower middle of an even count).
func medianRun(runs []WriterRunStats) WriterRunStats {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b WriterRunStats) int {
		switch {
		case a.RowsPerS < b.RowsPerS:
			return -1
		case a.RowsPerS > b.RowsPerS:
			return 1
		}
		return 0
	})
	return s[(len(s)-1)/2]
}

func printWriterTable(w io.Writer, res *WriterResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "batch size\trows/s (median)\truns\tbatches\tmean batch\tp50 batch ms\tmean batch ms\t")
	for _, s := range res.Curve {
		m := medianRun(s.Runs)
		runs := make([]string, len(s.Runs))
		for i, r := range s.Runs {
			runs[i] = strconv.FormatFloat(r.RowsPerS, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%d\t%.0f\t%.1f\t%.1f\t\n", s.BatchSize, s.RowsPerS, strings.Join(runs, " "), m.Batches, m.MeanBatchSize, m.P50BatchMs, m.MeanBatchMs)
	}
	tw.Flush()
	fmt.Fprintf(w, "writer_rows_per_s %.0f (batch size %d; best %.0f at %d), %d events over %d concerts\n",
		res.WriterRowsPerS, res.BatchSize, res.BestRowsPerS, res.BestBatchSize, res.Events, res.Concerts)
}
