package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// printTable writes the end-of-run summary: one row per strategy, then the
// details a row cannot hold (error codes, audit findings, notes).
func printTable(w io.Writer, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header, rows := summaryTable(res)
	// Cells align right; pad the first column so that names align left.
	width := len(header[0])
	for _, row := range rows {
		width = max(width, len(row[0]))
	}
	header[0] = fmt.Sprintf("%-*s", width, header[0])
	for _, row := range rows {
		row[0] = fmt.Sprintf("%-*s", width, row[0])
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	if l := speedupLine(res.AsyncVsLock); l != "" {
		fmt.Fprintf(w, "\n%s\n", l)
	}
	for _, d := range details(res) {
		fmt.Fprintf(w, "\n%s:\n", d.Name)
		for _, l := range d.Lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(res.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range res.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
	fmt.Fprintf(w, "\nmachine: %s\n", machineLine(res.Machine))
}

// speedupLine says how async compares with the better lock strategy.
func speedupLine(sp *Speedup) string {
	if sp == nil {
		return ""
	}
	l := fmt.Sprintf("async accepted %.1f× as many reservations per second as %s, the better lock strategy", sp.Factor, sp.Lock)
	if len(sp.Rounds) > 0 {
		f := make([]string, len(sp.Rounds))
		for i, x := range sp.Rounds {
			f[i] = fmt.Sprintf("%.1f×", x)
		}
		l += " (round by round: " + strings.Join(f, ", ") + ")"
	}
	return l
}

func machineLine(m Machine) string {
	return fmt.Sprintf("%s, %d cores, %s memory, %s/%s %s, %s", orDash(m.CPU), m.Cores, gib(m.MemoryBytes), m.OS, m.Arch, m.Kernel, m.Go)
}

// summaryTable is the summary as a header and rows of cells, shared by the
// terminal table and index.html.
func summaryTable(res *Result) (header []string, rows [][]string) {
	isolation := res.Scenario == scenarioIsolation
	rush := res.Scenario == scenarioRush
	header = []string{"strategy", "requests", "2xx", "409", "errors", "dropped", "acc/s", "pers/s", "drain ms", "p50 ms", "p95 ms", "p99 ms", "max ms"}
	if rush {
		header = append(header, "sold out ms")
	}
	if isolation {
		header = append(header, "victims", "v.err", "v.p50 ms", "v.p95 ms", "v.p99 ms", "v.max ms")
	}
	header = append(header, "oversold", "leaked", "dups", "note")
	if isolation && res.Baseline != nil {
		row := []string{"(none)", "", "", "", "", "", "", "", "", "", "", "", ""}
		row = append(row, victimCells(res.Baseline)...)
		row = append(row, "", "", "", "victims alone")
		rows = append(rows, row)
	}
	for _, s := range res.Strategies {
		if s.Skipped {
			row := make([]string, len(header))
			row[0], row[len(row)-1] = s.Name, "skipped"
			rows = append(rows, row)
			continue
		}
		row := []string{
			s.Name, itoa(s.Requests), itoa(s.Accepted), itoa(s.Rejected), itoa(s.Errors), itoa(s.Dropped),
			rate(s.AcceptedPerS), "-", "-",
			num(s.LatencyMs.P50), num(s.LatencyMs.P95), num(s.LatencyMs.P99), num(s.LatencyMs.Max),
		}
		if s.Audit != nil {
			row[7], row[8] = rate(s.PersistedPerS), num(s.DrainMs)
		}
		if rush {
			cell := "-"
			if s.SellOut != nil && s.SellOut.SoldOutMs != nil {
				cell = num(*s.SellOut.SoldOutMs)
			}
			row = append(row, cell)
		}
		if isolation {
			v := s.Victims
			if v == nil {
				v = &Victims{}
			}
			row = append(row, victimCells(v)...)
		}
		note := ""
		switch {
		case s.Audit != nil && !s.Audit.OK && s.ExpectedUnsafe:
			note = "broken, as expected of unsafe"
		case s.Audit != nil && !s.Audit.OK:
			note = "INVARIANT VIOLATED"
		case s.Audit != nil && !s.Drained:
			note = "not drained"
		case s.ExpectedUnsafe:
			note = "unsafe"
		}
		if s.Audit != nil {
			row = append(row, itoa(s.Audit.Oversold), itoa(s.Audit.Leaked), itoa(s.Audit.Duplicates), note)
		} else {
			row = append(row, "-", "-", "-", note)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// detail is what a table row cannot hold about one strategy.
type detail struct {
	Name  string
	Lines []string
}

func details(res *Result) []detail {
	var out []detail
	for _, s := range res.Strategies {
		var lines []string
		if s.Skipped {
			lines = append(lines, "skipped: "+s.SkipReason)
		}
		if len(s.ErrorsByCode) > 0 {
			lines = append(lines, "errors: "+codes(s.ErrorsByCode))
		}
		if len(s.RejectedByCode) > 0 {
			lines = append(lines, "409s: "+codes(s.RejectedByCode))
		}
		if s.Audit != nil {
			a := s.Audit
			lines = append(lines, fmt.Sprintf("audit: capacity %d, rows %d, redis taken %d, in flight %d, db taken %d",
				a.Capacity, a.Rows, a.RedisTaken, a.InFlight, a.DBTaken))
			for _, p := range a.Problems {
				lines = append(lines, "PROBLEM: "+p)
			}
			for _, p := range a.Warnings {
				lines = append(lines, "warning: "+p)
			}
		}
		if s.SellOut != nil {
			so := s.SellOut
			lines = append(lines, fmt.Sprintf("sell-out (from the first request): last seat accepted %s, first sold_out %s", optMs(so.LastSeatMs), optMs(so.FirstSoldOutMs)))
		}
		if s.Victims != nil && len(s.Victims.ErrorsByCode) > 0 {
			lines = append(lines, "victim errors: "+codes(s.Victims.ErrorsByCode))
		}
		lines = append(lines, s.Notes...)
		if len(lines) > 0 {
			out = append(out, detail{Name: s.Name, Lines: lines})
		}
	}
	return out
}

func optMs(v *float64) string {
	if v == nil {
		return "never"
	}
	return num(*v) + " ms"
}

func victimCells(v *Victims) []string {
	return []string{itoa(v.Requests), itoa(v.Errors), num(v.LatencyMs.P50), num(v.LatencyMs.P95), num(v.LatencyMs.P99), num(v.LatencyMs.Max)}
}

// codes lists a code count map, most frequent first.
func codes(m map[string]int64) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func rate(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// num prints milliseconds: two decimals below 10, one below 100, none above.
func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func gib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + " GiB"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
