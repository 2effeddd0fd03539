package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/servicetest"
)

// TestWriterBench drains a tiny topic on the real services at two batch
// sizes and checks the table and the JSON (servicetest.Config fails, not
// skips, under BOX_REQUIRE_SERVICES=1 when a service is missing).
func TestWriterBench(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.BatchWait = 5 * time.Millisecond
	rig := app.NewWriterRig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer rig.Close()
	out := filepath.Join(t.TempDir(), "writer.json")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := bench.RunWriter(ctx, []string{"writer", "--events", "600", "--concerts", "3", "--batch-sizes", "50,1000", "--sample-every", "5ms", "--json", out}, &stdout, &stderr, rig)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var res bench.WriterResult
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Curve) != 2 || res.Curve[0].BatchSize != 50 || res.Curve[1].BatchSize != 1000 {
		t.Fatalf("curve %+v", res.Curve)
	}
	for _, s := range res.Curve {
		r := s.Runs[0]
		if r.Rows != 600 || r.RowsPerS <= 0 || r.Batches == 0 {
			t.Errorf("batch size %d: %+v", s.BatchSize, r)
		}
	}
	if s := res.Curve[0].Runs[0]; s.MeanBatchSize > 50 {
		t.Errorf("batch size 50: mean batch %.0f", s.MeanBatchSize)
	}
	if res.WriterRowsPerS != res.Curve[1].RowsPerS || res.BatchSize != 1000 {
		t.Errorf("writer_rows_per_s %.0f at %d, want the default batch size's %.0f", res.WriterRowsPerS, res.BatchSize, res.Curve[1].RowsPerS)
	}
	if !strings.Contains(stdout.String(), "writer_rows_per_s") {
		t.Errorf("table:\n%s", stdout.String())
	}
}

// fakeRig writes rows at a steady pace once started.
type fakeRig struct {
	events  int
	started time.Time
	resets  atomic.Int32
}

func (f *fakeRig) Fill(_ context.Context, events, _ int) error { f.events = events; return nil }
func (f *fakeRig) Reset(context.Context) error                 { f.resets.Add(1); return nil }
func (f *fakeRig) Start(context.Context, int) (bench.WriterRun, error) {
	f.started = time.Now()
	return fakeRun{}, nil
}

// Rows: 10,000 rows/s after a 30 ms start.
func (f *fakeRig) Rows(context.Context) (int64, error) {
	n := int64((time.Since(f.started) - 30*time.Millisecond).Seconds() * 10_000)
	return max(0, min(n, int64(f.events))), nil
}

type fakeRun struct{}

func (fakeRun) Stats() bench.WriterStats { return bench.WriterStats{Batches: 1} }
func (fakeRun) Stop() error              { return nil }

func TestWriterBenchRate(t *testing.T) {
	rig := &fakeRig{}
	var stdout bytes.Buffer
	err := bench.RunWriter(context.Background(), []string{"--events", "3000", "--batch-sizes", "7", "--repeat", "3", "--sample-every", "10ms", "--quiet"}, &stdout, io.Discard, rig)
	if err != nil {
		t.Fatal(err)
	}
	if rig.resets.Load() != 3 {
		t.Errorf("%d resets, want one a run", rig.resets.Load())
	}
	line := stdout.String()
	if !strings.Contains(line, "best") || !strings.Contains(line, " 7") {
		t.Fatalf("table:\n%s", line)
	}
}

func TestWriterBenchFlags(t *testing.T) {
	for _, args := range [][]string{{"--events", "0"}, {"--batch-sizes", "0"}, {"--batch-sizes", "a"}, {"--repeat", "0"}, {"--concerts", "5", "--events", "2"}, {"extra"},
		{"--cpu-of", "mariadb"}, {"--cpu-of", "writer=1"}, {"--cpu-of", "redis=x"}, {"--cpu-of", "redis=0"}} {
		if err := bench.RunWriter(context.Background(), args, io.Discard, io.Discard, &fakeRig{}); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// Each run reports the CPU a row of the writer's process and of the
// processes --cpu-of names (here this test's own process again).
func TestWriterBenchCPU(t *testing.T) {
	rig := &fakeRig{}
	out := filepath.Join(t.TempDir(), "writer.json")
	var stderr bytes.Buffer
	err := bench.RunWriter(context.Background(), []string{"--events", "3000", "--batch-sizes", "7", "--sample-every", "10ms",
		"--cpu-of", "again=" + strconv.Itoa(os.Getpid()), "--json", out}, io.Discard, &stderr, rig)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.WriterResult
	if b, err := os.ReadFile(out); err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("%s: %v", out, err)
	}
	cpu := res.Curve[0].Runs[0].CPUUsPerRow
	// Alike to a 10 ms tick between the two reads: 3.3 µs over 3,000 rows.
	if _, ok := cpu["writer"]; !ok || len(cpu) != 2 || math.Abs(cpu["again"]-cpu["writer"]) > 3.4 {
		t.Fatalf("cpu_us_per_row %v, want writer and again, alike", cpu)
	}
	if !strings.Contains(stderr.String(), "CPU µs a row: again ") {
		t.Errorf("progress:\n%s", stderr.String())
	}
}
