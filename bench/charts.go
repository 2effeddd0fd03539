package bench

import (
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart size: wide enough for four strategies × three bars with readable
// labels, and the same for every chart so that the page lines up.
const (
	chartW = 9 * vg.Inch
	chartH = 4.5 * vg.Inch
	// logSpan is the max/min ratio above which a latency axis turns
	// logarithmic: past it a linear axis flattens the fast strategies to zero.
	logSpan = 50
)

// chartFile is one chart written in both formats.
type chartFile struct {
	Title    string
	PNG, SVG string // file names relative to the report directory
}

// strategyColors keeps one colour per strategy across every chart.
var strategyColors = map[string]color.Color{
	strategyAsync:       color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	strategyPessimistic: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	strategyDistlock:    color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	strategyUnsafe:      color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	"(none)":            color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
}

// seriesColors are for bars that are not strategies (p50/p95/p99, accepted/persisted).
var seriesColors = []color.Color{
	color.RGBA{R: 0x9e, G: 0xca, B: 0xe1, A: 0xff},
	color.RGBA{R: 0x42, G: 0x92, B: 0xc6, A: 0xff},
	color.RGBA{R: 0x08, G: 0x45, B: 0x94, A: 0xff},
}

// chartFormats are the files written per chart; the page shows the SVG and
// links the PNG.
var chartFormats = []string{"png", "svg"}

// writeCharts draws the charts of res into dir, one file per format, and
// returns them in page order.
func writeCharts(dir string, res *Result, formats []string) ([]chartFile, error) {
	var ran []StrategyResult
	for _, s := range res.Strategies {
		if !s.Skipped {
			ran = append(ran, s)
		}
	}
	if len(ran) == 0 {
		return nil, nil
	}
	names := make([]string, len(ran))
	for i, s := range ran {
		names[i] = s.Name
	}
	type chart struct {
		file, title string
		make        func() (*plot.Plot, error)
	}
	var charts []chart
	if res.Scenario == scenarioIsolation {
		vNames, vLat, vSeries := victimData(res, ran)
		charts = append(charts,
			chart{"victim_latency", "Latency of GET /api/members/{id} while reservations run", func() (*plot.Plot, error) {
				return latencyBars("Victims: GET /api/members/{id} latency by reservation strategy", vNames, vLat)
			}},
			chart{"victim_latency_over_time", "Victims' p99 latency per second", func() (*plot.Plot, error) {
				return overTime("Victims: p99 latency per second", "p99 latency (ms)", vNames, vSeries, func(s Second) (float64, bool) { return s.P99Ms, s.Requests > 0 }, true)
			}},
		)
	}
	lat := make([]Latency, len(ran))
	series := make([][]Second, len(ran))
	for i, s := range ran {
		lat[i], series[i] = s.LatencyMs, s.Series
	}
	charts = append(charts,
		chart{"throughput", "Accepted/s and persisted/s per strategy", func() (*plot.Plot, error) { return throughputBars(ran) }},
		chart{"latency", "Reservation latency p50/p95/p99 per strategy", func() (*plot.Plot, error) {
			return latencyBars("Reservation latency by strategy", names, lat)
		}},
		chart{"latency_over_time", "Reservation p99 latency per second", func() (*plot.Plot, error) {
			return overTime("Reservation p99 latency per second", "p99 latency (ms)", names, series, func(s Second) (float64, bool) { return s.P99Ms, s.Requests > 0 }, true)
		}},
		chart{"throughput_over_time", "Accepted (solid) and persisted (dashed) per second", func() (*plot.Plot, error) { return throughputOverTime(ran) }},
	)

	// PNG rasterisation is the slow part (tens of ms a chart, ten times that
	// under the race detector); the charts are independent, so draw them at
	// once. Each plot is drawn by one goroutine only: Draw adjusts its axes.
	out := make([]chartFile, len(charts))
	errs := make([]error, len(charts))
	var wg sync.WaitGroup
	for i, c := range charts {
		out[i] = chartFile{Title: c.title, PNG: c.file + ".png", SVG: c.file + ".svg"}
		wg.Go(func() {
			p, err := c.make()
			if err != nil {
				errs[i] = fmt.Errorf("chart %s: %w", c.file, err)
				return
			}
			for _, ext := range formats {
				if err := saveChart(p, filepath.Join(dir, c.file+"."+ext), ext); err != nil {
					errs[i] = fmt.Errorf("chart %s.%s: %w", c.file, ext, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// saveChart writes p as PNG or SVG. PNGs are encoded at the fastest
// compression: the default level doubled the time of a report (the deflate
// dominated the profile) to save a few kilobytes per chart.
func saveChart(p *plot.Plot, path, format string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if format == "png" {
		c := vgimg.NewWith(vgimg.UseWH(chartW, chartH), vgimg.UseDPI(vgimg.DefaultDPI))
		p.Draw(draw.New(c))
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(f, c.Image())
	} else {
		var w io.WriterTo
		if w, err = p.WriterTo(chartW, chartH, format); err == nil {
			_, err = w.WriteTo(f)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// victimData gathers the victims' numbers, the baseline first.
func victimData(res *Result, ran []StrategyResult) (names []string, lat []Latency, series [][]Second) {
	if res.Baseline != nil {
		names = append(names, "(none)")
		lat = append(lat, res.Baseline.LatencyMs)
		series = append(series, res.Baseline.Series)
	}
	for _, s := range ran {
		if s.Victims != nil {
			names = append(names, s.Name)
			lat = append(lat, s.Victims.LatencyMs)
			series = append(series, s.Victims.Series)
		}
	}
	return names, lat, series
}

func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func colorOf(name string, i int) color.Color {
	if c, ok := strategyColors[name]; ok {
		return c
	}
	return seriesColors[i%len(seriesColors)]
}

// groupedBars draws one group of bars per category, one bar per series in
// each group. With logY the axis is logarithmic; bars then rise from the
// decade below the smallest value (a log axis has no zero).
func groupedBars(p *plot.Plot, categories []string, seriesNames []string, values [][]float64, logY bool) error {
	k := len(seriesNames)
	// The bars of a group fill 70% of the space between categories.
	barW := vg.Length(math.Min(40, 0.7*float64(chartW-1.2*vg.Inch)/float64(len(categories)*k)))
	var base *plotter.BarChart
	var floor float64
	if logY {
		lo, hi := positiveRange(values)
		floor, _ = decades(lo, hi)
		b, err := plotter.NewBarChart(constant(len(categories), floor), barW)
		if err != nil {
			return err
		}
		base = b
	}
	for j, name := range seriesNames {
		vs := make(plotter.Values, len(categories))
		for i := range categories {
			v := values[j][i]
			if logY {
				v = math.Max(v, floor) - floor
			}
			vs[i] = v
		}
		b, err := plotter.NewBarChart(vs, barW)
		if err != nil {
			return err
		}
		if base != nil {
			b.StackOn(base) // before the offset: StackOn copies base's
		}
		b.Color = colorOf(name, j)
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(j)-float64(k-1)/2) * barW
		p.Add(b)
		p.Legend.Add(name, b)
	}
	p.NominalX(categories...)
	// Half a category of margin each side, or the outer bars are cut.
	p.X.Min, p.X.Max = -0.5, float64(len(categories))-0.5
	if logY {
		setLogY(p, values)
	} else {
		p.Y.Min = 0
	}
	headroom(p, logY)
	return nil
}

// headroom raises the top of the Y axis by a quarter so that the legend,
// drawn in the top right corner, does not cover the highest data.
func headroom(p *plot.Plot, logY bool) {
	// An empty chart still has to draw: give it a unit range.
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		if math.IsInf(a.Min, 0) || math.IsNaN(a.Min) {
			a.Min = 0
		}
		if math.IsInf(a.Max, 0) || math.IsNaN(a.Max) || a.Max <= a.Min {
			a.Max = a.Min + 1
		}
	}
	if logY {
		p.Y.Max = p.Y.Min * math.Pow(p.Y.Max/p.Y.Min, 1.25)
		return
	}
	p.Y.Max = p.Y.Min + (p.Y.Max-p.Y.Min)*1.25
}

// throughputBars: accepted/s and persisted/s per strategy.
func throughputBars(ran []StrategyResult) (*plot.Plot, error) {
	p := newPlot("Throughput by strategy", "strategy", "per second")
	names := make([]string, len(ran))
	acc := make([]float64, len(ran))
	pers := make([]float64, len(ran))
	audited := false
	for i, s := range ran {
		names[i], acc[i], pers[i] = s.Name, s.AcceptedPerS, s.PersistedPerS
		audited = audited || s.Audit != nil
	}
	series := []string{"accepted/s"}
	values := [][]float64{acc}
	if audited {
		series = append(series, "persisted/s")
		values = append(values, pers)
	}
	if err := groupedBars(p, names, series, values, false); err != nil {
		return nil, err
	}
	return p, nil
}

// latencyBars: p50/p95/p99 per category, on a log axis when they span a lot.
func latencyBars(title string, names []string, lat []Latency) (*plot.Plot, error) {
	values := [][]float64{make([]float64, len(names)), make([]float64, len(names)), make([]float64, len(names))}
	for i, l := range lat {
		values[0][i], values[1][i], values[2][i] = l.P50, l.P95, l.P99
	}
	lo, hi := positiveRange(values)
	logY := lo > 0 && hi/lo > logSpan
	yLabel := "latency (ms)"
	if logY {
		yLabel += ", log scale"
	}
	p := newPlot(title, "strategy", yLabel)
	if err := groupedBars(p, names, []string{"p50", "p95", "p99"}, values, logY); err != nil {
		return nil, err
	}
	return p, nil
}

// overTime draws one line per name of pick(second) over the run; seconds
// where pick reports no value are left out.
func overTime(title, yLabel string, names []string, series [][]Second, pick func(Second) (float64, bool), maybeLog bool) (*plot.Plot, error) {
	p := newPlot(title, "seconds since the first request", yLabel)
	all := make([][]float64, 0, len(names))
	for i, name := range names {
		var xys plotter.XYs
		var vs []float64
		for _, s := range series[i] {
			if v, ok := pick(s); ok {
				xys = append(xys, plotter.XY{X: float64(s.T) + 0.5, Y: v})
				vs = append(vs, v)
			}
		}
		all = append(all, vs)
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, name, xys, colorOf(name, i), nil); err != nil {
			return nil, err
		}
	}
	lo, hi := positiveRange(all)
	logY := maybeLog && lo > 0 && hi/lo > logSpan
	if logY {
		p.Y.Label.Text += ", log scale"
		setLogY(p, all)
	} else {
		p.Y.Min = 0
	}
	headroom(p, logY)
	p.X.Min = 0
	return p, nil
}

// throughputOverTime: accepted per second (solid) and, with an Env,
// persisted per second (dashed), one colour per strategy.
func throughputOverTime(ran []StrategyResult) (*plot.Plot, error) {
	p := newPlot("Throughput per second", "seconds since the first request", "per second")
	for i, s := range ran {
		var acc, pers plotter.XYs
		for _, sec := range s.Series {
			x := float64(sec.T) + 0.5
			acc = append(acc, plotter.XY{X: x, Y: float64(sec.Accepted)})
			pers = append(pers, plotter.XY{X: x, Y: float64(sec.Persisted)})
		}
		if len(acc) == 0 {
			continue
		}
		if err := addLine(p, s.Name+" accepted", acc, colorOf(s.Name, i), nil); err != nil {
			return nil, err
		}
		if s.Audit != nil {
			if err := addLine(p, s.Name+" persisted", pers, colorOf(s.Name, i), []vg.Length{vg.Points(6), vg.Points(3)}); err != nil {
				return nil, err
			}
		}
	}
	p.Y.Min, p.X.Min = 0, 0
	headroom(p, false)
	return p, nil
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(2)
	l.Dashes = dashes
	p.Add(l)
	if len(xys) == 1 {
		// A single second draws no line; mark it.
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = c
		s.Shape = draw.CircleGlyph{}
		p.Add(s)
	}
	p.Legend.Add(name, l)
	return nil
}

// setLogY makes the Y axis logarithmic over whole decades around values.
func setLogY(p *plot.Plot, values [][]float64) {
	lo, hi := positiveRange(values)
	if lo <= 0 {
		return
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = decades(lo, hi)
}

// positiveRange is the smallest and largest positive value (0, 0 if none).
func positiveRange(values [][]float64) (lo, hi float64) {
	for _, vs := range values {
		for _, v := range vs {
			if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
				if lo == 0 || v < lo {
					lo = v
				}
				hi = math.Max(hi, v)
			}
		}
	}
	return lo, hi
}

// decades widens [lo, hi] to whole powers of ten.
func decades(lo, hi float64) (float64, float64) {
	if lo <= 0 {
		return 1, 10
	}
	min, max := math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if max <= min {
		max = min * 10
	}
	return min, max
}

func constant(n int, v float64) plotter.Values {
	vs := make(plotter.Values, n)
	for i := range vs {
		vs[i] = v
	}
	return vs
}
