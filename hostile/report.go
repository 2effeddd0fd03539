package hostile

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PrintTable writes the phases as a Markdown table, then the well-behaved
// client's whole run and the audit.
func PrintTable(w io.Writer, rep *Report) {
	fmt.Fprintln(w, "| phase | attack | sent | answers | expected | result | stock cost | well-behaved p50 / p99 / max ms | note |")
	fmt.Fprintln(w, "| --- | --- | ---: | --- | --- | --- | ---: | ---: | --- |")
	for _, p := range rep.Phases {
		result := "pass"
		if !p.Pass {
			result = "**FAIL**"
		}
		var notes []string
		notes = append(notes, p.Notes...)
		if bad := wellBehavedErrors(p.WellBehaved); bad != "" {
			notes = append(notes, "well-behaved: "+bad)
		}
		notes = append(notes, p.Problems...)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", p.Name, p.Attack, thousands(p.Sent), cell(sortedCodes(p.Statuses)),
			cell(p.Expected), result, p.StockCost, latencyText(p.WellBehaved), cell(strings.Join(notes, "; ")))
	}
	wb := rep.WellBehaved
	fmt.Fprintf(w, "\nWell-behaved client, whole run: %s requests at %g/s, %s, p50 / p99 / max %s ms, %d dropped.\n",
		thousands(wb.Sent), rep.Rate, sortedCodes(wb.Statuses), latencyText(wb), wb.Dropped)
	a := rep.Audit
	fmt.Fprintf(w, "Audit after the writer drained:")
	for _, c := range a.Concerts {
		fmt.Fprintf(w, " concert %d: capacity %s, taken in Redis %s, rows %s, 202s %s, remaining in MySQL %s, duplicates %d;",
			c.Concert, thousands(c.Capacity), thousands(c.RedisTaken), thousands(c.Rows), thousands(c.Accepted), thousands(c.DBRemaining), c.Duplicates)
	}
	fmt.Fprintf(w, " 202s without a row %d, rows without a 202 %d; valid member tokens or secrets in the gateway's log %d: %s.\n",
		a.Lost, a.Unknown, a.LoggedCredentials, map[bool]string{true: "ok", false: "**FAIL**"}[a.OK])
}

func latencyText(l Latency) string {
	if l.Sent == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", num(l.P50Ms), num(l.P99Ms), num(l.MaxMs))
}

// num is a latency with three significant figures or so.
func num(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'f', 2, 64)
}

// wellBehavedErrors are the well-behaved client's answers that were not 202.
func wellBehavedErrors(l Latency) string {
	bad := map[string]int64{}
	for k, v := range l.Statuses {
		if k != "202" {
			bad[k] = v
		}
	}
	if l.Dropped > 0 {
		bad["dropped"] = l.Dropped
	}
	return sortedCodes(bad)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "/") }

// sortedCodes is "n × code" for each code of m, most frequent first.
func sortedCodes(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return int(m[b] - m[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = thousands(m[k]) + " × " + k
	}
	return strings.Join(parts, ", ")
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// phaseSummary is one phase's progress line.
func phaseSummary(p *Phase) string {
	verdict := "pass"
	if !p.Pass {
		verdict = "FAIL: " + strings.Join(p.Problems, "; ")
	}
	return fmt.Sprintf("%s; sent %d: %s; stock cost %d; well-behaved p99 %s ms (%s)", verdict, p.Sent, sortedCodes(p.Statuses), p.StockCost,
		num(p.WellBehaved.P99Ms), sortedCodes(p.WellBehaved.Statuses))
}

// WriteJSON writes the report to path.
func WriteJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// uname is `uname -a`, for the report's machine line.
func uname() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "uname", "-a").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Main is `boxoffice hostile`: it parses args, runs the suite, prints the
// table on stdout and progress on stderr, and writes --json.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := Full()
	// --small picks the defaults the other flags then override, so it is
	// looked for before they are defined.
	if slices.ContainsFunc(args, func(a string) bool {
		return strings.TrimLeft(a, "-") == "small" || strings.TrimLeft(a, "-") == "small=true"
	}) {
		o = Small()
	}
	fs := flag.NewFlagSet("boxoffice hostile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var phaseList, jsonPath string
	exe, _ := os.Executable()
	fs.Bool("small", false, "the size of make test (TestHostile) instead of the full one; the flags below still apply")
	fs.StringVar(&o.Bin, "bin", exe, "boxoffice binary whose gateway and writer the suite runs (default: this one)")
	fs.StringVar(&o.Scripts, "scripts", "scripts", "the repository's scripts/ folder (services.sh starts the suite's own services)")
	fs.StringVar(&phaseList, "phases", "", "comma-separated attacks to run (default all: "+strings.Join(Names()[1:], ", ")+"); the baseline always runs")
	fs.StringVar(&o.Dir, "dir", "", "where the temporary directory goes (default: the system's)")
	fs.StringVar(&o.LogDir, "logs", "", "keep the processes' and services' logs in DIR/hostile")
	fs.StringVar(&jsonPath, "json", "", "write the report as JSON to this file")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "the well-behaved client's reservations per second, each a new member with a valid token")
	fs.IntVar(&o.Capacity, "capacity", o.Capacity, "seats of each concert (1: the attacks', 2: the well-behaved client's)")
	fs.IntVar(&o.Slowloris, "slowloris", o.Slowloris, "slowloris connections (capped by the open-file limit)")
	fs.IntVar(&o.Idle, "idle", o.Idle, "idle keep-alive connections (capped by the open-file limit)")
	fs.IntVar(&o.Overload, "overload", o.Overload, "concurrent reservations of the overload burst")
	fs.DurationVar(&o.PhaseMin, "phase-min", o.PhaseMin, "shortest phase, so that the well-behaved client's p99 in it rests on enough requests")
	e := &o.Edge
	fs.Float64Var(&e.MemberRate, "member-rate", e.MemberRate, "the gateway's --member-rate")
	fs.IntVar(&e.MemberBurst, "member-burst", e.MemberBurst, "the gateway's --member-burst")
	fs.Float64Var(&e.AddressRate, "address-rate", e.AddressRate, "the gateway's --address-rate")
	fs.IntVar(&e.AddressBurst, "address-burst", e.AddressBurst, "the gateway's --address-burst")
	fs.IntVar(&e.MaxConns, "max-conns", e.MaxConns, "the gateway's --max-conns")
	fs.IntVar(&e.MaxConnsPerAddress, "max-conns-per-address", e.MaxConnsPerAddress, "the gateway's --max-conns-per-address")
	fs.DurationVar(&e.HeaderTimeout, "header-timeout", e.HeaderTimeout, "the gateway's --header-timeout")
	fs.DurationVar(&e.IdleTimeout, "idle-timeout", e.IdleTimeout, "the gateway's --idle-timeout")
	fs.BoolVar(&e.ReduceIdleMemory, "reduce-idle-memory", e.ReduceIdleMemory, "the gateway's --reduce-idle-memory")
	fs.IntVar(&e.MaxAdmissions, "max-admissions", e.MaxAdmissions, "the gateway's --max-admissions")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if phaseList != "" {
		o.Phases = strings.Split(phaseList, ",")
	}
	if missing := MissingBinaries(); len(missing) > 0 {
		return fmt.Errorf("missing programs: %s (make services installs them)", strings.Join(missing, ", "))
	}
	o.Log = stderr
	rep, err := Run(ctx, o)
	if rep == nil {
		return err
	}
	rep.Command = "boxoffice hostile " + strings.Join(args, " ")
	PrintTable(stdout, rep)
	if jsonPath != "" {
		if werr := WriteJSON(jsonPath, rep); werr != nil {
			err = errors.Join(err, fmt.Errorf("--json: %w", werr))
		}
	}
	return err
}
