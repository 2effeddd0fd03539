package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk send what the harness sends to the no-op route (a
// reservation's body) and print its figures as one JSON line at the end,
// read by parseWrk rather than wrk's human summary. The body is one member's:
// the route reads none of it.
const wrkScript = `-- boxoffice bench ceiling: POST a reservation-sized body, print the figures as JSON.
wrk.method = "POST"
wrk.body = '{"concertId":1,"memberId":1}'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "` + wrkMarker + ` {\"requests\":%.0f,\"duration_us\":%.0f,\"errors\":%.0f,\"status_errors\":%.0f," ..
    "\"p50_us\":%.0f,\"p95_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,\"mean_us\":%.1f}\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
`

// wrkMarker starts the script's line in wrk's output.
const wrkMarker = "BOXOFFICE_WRK"

// lookWrk finds the wrk binary: a path, or a name on the PATH.
func lookWrk(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found", name)
	}
	return p, nil
}

// wrkDuration is d in wrk's -d syntax: whole seconds, at least one.
func wrkDuration(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))) + "s"
}

// runWrk runs wrk against url with conns connections for d and returns its
// figures.
func runWrk(ctx context.Context, wrk, url string, threads, conns int, d, timeout time.Duration) (*WrkResult, error) {
	dir, err := os.MkdirTemp("", "boxoffice-wrk-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "noop.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	threads = min(threads, conns) // wrk wants at least one connection per thread
	// wrk stops by itself after -d; the margin covers its start and its
	// last answers, and the context a stuck one.
	wctx, cancel := context.WithTimeout(ctx, d+timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(wctx, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", wrkDuration(d),
		"--timeout", wrkDuration(timeout), "-s", script, url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", wrk, err, strings.TrimSpace(stderr.String()+string(out)))
	}
	res, err := parseWrk(out)
	if err != nil {
		return nil, err
	}
	res.Threads, res.Connections = threads, conns
	return res, nil
}

// parseWrk reads the script's line from wrk's output.
func parseWrk(out []byte) (*WrkResult, error) {
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), wrkMarker+" ")
		if !ok {
			continue
		}
		var v struct {
			Requests     float64 `json:"requests"`
			DurationUs   float64 `json:"duration_us"`
			Errors       float64 `json:"errors"`
			StatusErrors float64 `json:"status_errors"`
			P50Us        float64 `json:"p50_us"`
			P95Us        float64 `json:"p95_us"`
			P99Us        float64 `json:"p99_us"`
			P999Us       float64 `json:"p999_us"`
			MaxUs        float64 `json:"max_us"`
			MeanUs       float64 `json:"mean_us"`
		}
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			return nil, fmt.Errorf("wrk's figures %q: %w", rest, err)
		}
		r := &WrkResult{
			Requests:   int64(v.Requests),
			Errors:     int64(v.Errors + v.StatusErrors),
			DurationMs: v.DurationUs / 1000,
			LatencyMs: Latency{P50: v.P50Us / 1000, P95: v.P95Us / 1000, P99: v.P99Us / 1000, P999: v.P999Us / 1000,
				Max: v.MaxUs / 1000, Mean: v.MeanUs / 1000},
		}
		if v.DurationUs > 0 {
			r.RequestsPerS = v.Requests / (v.DurationUs / 1e6)
		}
		return r, nil
	}
	return nil, errors.New("wrk printed no figures (is it wrk 4 with Lua?)")
}
