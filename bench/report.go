package bench

import (
	_ "embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"
)

//go:embed report.html
var reportHTML string

var reportTmpl = template.Must(template.New("report").Parse(reportHTML))

func reportIndex(dir string) string { return filepath.Join(dir, "index.html") }

// writeReport writes index.html, result.json and the charts (PNG and SVG)
// into dir, creating it if needed.
func writeReport(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	charts, err := writeCharts(dir, res, chartFormats)
	if err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "result.json"), res); err != nil {
		return err
	}
	header, rows := summaryTable(res)
	page := struct {
		R       *Result
		Header  []string
		Rows    [][]string
		Details []detail
		Charts  []chartFile
		Machine string
		Config  [][2]string
		Started string
		Speedup string
	}{
		R: res, Header: header, Rows: rows, Details: details(res), Charts: charts,
		Machine: machineLine(res.Machine), Config: configRows(res.Config),
		Started: res.StartedAt.Format(time.RFC3339), Speedup: speedupLine(res.AsyncVsLock),
	}
	f, err := os.Create(reportIndex(dir))
	if err != nil {
		return err
	}
	if err := reportTmpl.Execute(f, page); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// configRows lists the configuration for the page, in a fixed order.
func configRows(c Config) [][2]string {
	rows := [][2]string{
		{"target", c.Target},
		{"strategies", fmt.Sprint(c.Strategies)},
		{"concerts × capacity", fmt.Sprintf("%d × %d", c.Concerts, c.Capacity)},
		{"members", fmt.Sprint(c.Members)},
		{"model", c.Model},
	}
	if c.Model == modelOpen {
		rows = append(rows,
			[2]string{"rate", fmt.Sprintf("%g/s", c.Rate)},
			[2]string{"duration", msDur(c.DurationMs)},
			[2]string{"max in flight", fmt.Sprint(c.MaxInFlight)})
	} else {
		rows = append(rows,
			[2]string{"VUs", fmt.Sprint(c.VUs)},
			[2]string{"ramp / hold / ramp", msDur(c.RampMs) + " / " + msDur(c.HoldMs) + " / " + msDur(c.RampMs)})
	}
	return append(rows,
		[2]string{"request cap", fmt.Sprint(c.Requests)},
		[2]string{"timeout", msDur(c.TimeoutMs)},
		[2]string{"drain timeout", msDur(c.DrainTimeout)},
		[2]string{"audit every", msDur(c.AuditEveryMs)},
		[2]string{"rounds", fmt.Sprint(c.Rounds)},
		[2]string{"warm-up", msDur(c.WarmupMs)},
		[2]string{"seed", fmt.Sprint(c.Seed)})
}

func msDur(v float64) string { return (time.Duration(v * float64(time.Millisecond))).String() }
