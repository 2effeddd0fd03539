package deploy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/boxoffice/boxoffice/gateway"
	"github.com/boxoffice/boxoffice/ranking"
	"github.com/boxoffice/boxoffice/room"
	"github.com/boxoffice/boxoffice/writer"
)

// dashboard is the part of a Grafana dashboard JSON the tests look at.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Refresh       string  `json:"refresh"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	Targets    []target `json:"targets"`
	Panels     []panel  `json:"panels"` // a collapsed row's panels
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

type target struct {
	RefID      string `json:"refId"`
	Datasource *dsRef `json:"datasource"`
	Expr       string `json:"expr"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
}

// queryText is the variable's query: a string, or {"query": "..."}.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	json.Unmarshal(v.Query, &o)
	return o.Query
}

type loadedDashboard struct {
	file string
	dashboard
}

func loadDashboards(t *testing.T) []loadedDashboard {
	t.Helper()
	files, _ := filepath.Glob(repoPath("grafana", "dashboards", "*.json"))
	if len(files) == 0 {
		t.Fatal("no grafana/dashboards/*.json")
	}
	var out []loadedDashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, loadedDashboard{file: filepath.Base(f), dashboard: d})
	}
	return out
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// query is one PromQL expression of one dashboard panel.
type query struct {
	where string // "overview.json / Panel title / A"
	expr  string
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var out []query
	for _, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				out = append(out, query{where: fmt.Sprintf("%s / %s / %s", d.file, p.Title, tg.RefID), expr: tg.Expr})
			}
		}
	}
	return out
}

// labelValuesQuery is a Grafana variable query label_values(selector, label).
type labelValuesQuery struct {
	where    string
	selector string
	label    string
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_]\w*)\s*\)\s*$`)

func variableQueries(t *testing.T) []labelValuesQuery {
	t.Helper()
	var out []labelValuesQuery
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValuesRE.FindStringSubmatch(v.queryText())
			if m == nil {
				t.Errorf("%s: variable %s: query %q: only label_values(selector, label) is understood by this test", d.file, v.Name, v.queryText())
				continue
			}
			out = append(out, labelValuesQuery{where: d.file + " / $" + v.Name, selector: m[1], label: m[2]})
		}
	}
	return out
}

var grafanaVarRE = regexp.MustCompile(`\$\{?(\w+)(?::\w+)?\}?`)

// substitute replaces Grafana's variables the way a dashboard showing every
// strategy would: intervals become rangeWindow, every other variable ".*"
// (the "All" value of the dashboards' variables).
func substitute(expr, rangeWindow string) string {
	return grafanaVarRE.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVarRE.FindStringSubmatch(v)[1]
		if strings.HasPrefix(name, "__") {
			return rangeWindow
		}
		return ".*"
	})
}

// promRefs is what a PromQL expression refers to.
type promRefs struct {
	metrics  []string  // metric names as written (with _bucket, _count, ...)
	matchers []matcher // label matchers
	grouping []string  // labels of by, without, on, ignoring, group_left, group_right
	rated    []string  // metrics passed straight to rate, irate or increase
}

type matcher struct {
	metric, label, op, value string
}

var (
	groupingWords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	operatorWords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true}
	aggregateWords = map[string]bool{"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true}
	rateFuncs = map[string]bool{"rate": true, "irate": true, "increase": true}
)

// parsePromQL finds the metric names and labels an expression uses. It is a
// tokenizer, not a parser: enough to name what a dashboard depends on.
// Prometheus itself judges the syntax (prometheus_test.go).
func parsePromQL(s string) (promRefs, error) {
	var r promRefs
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		return i
	}
	readString := func(i int) (string, int, error) {
		q := s[i]
		j := i + 1
		for j < len(s) && s[j] != q {
			if s[j] == '\\' && q != '`' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return "", 0, fmt.Errorf("unterminated string at %d", i)
		}
		v, err := strconv.Unquote(`"` + strings.ReplaceAll(s[i+1:j], `"`, `\"`) + `"`)
		if q == '`' || err != nil {
			v = s[i+1 : j]
		}
		return v, j + 1, nil
	}
	lastMetric := "" // the metric a following { belongs to
	rateArg := false // the previous tokens were rate(
	for i := 0; i < len(s); {
		i = skipSpace(i)
		if i >= len(s) {
			break
		}
		c := s[i]
		wasRateArg := rateArg
		rateArg = false
		switch {
		case c == '"' || c == '\'' || c == '`':
			_, j, err := readString(i)
			if err != nil {
				return r, err
			}
			i = j
			lastMetric = ""
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return r, fmt.Errorf("unterminated [ at %d", i)
			}
			i += j + 1
			lastMetric = ""
		case c == '{':
			i++
			for {
				i = skipSpace(i)
				if i < len(s) && s[i] == ',' {
					i++
					continue
				}
				if i < len(s) && s[i] == '}' {
					i++
					break
				}
				j := i
				for j < len(s) && isIdent(s[j]) {
					j++
				}
				if j == i {
					return r, fmt.Errorf("label name expected at %d", i)
				}
				m := matcher{metric: lastMetric, label: s[i:j]}
				i = skipSpace(j)
				for _, op := range []string{"=~", "!~", "!=", "="} {
					if strings.HasPrefix(s[i:], op) {
						m.op = op
						break
					}
				}
				if m.op == "" {
					return r, fmt.Errorf("matcher operator expected at %d", i)
				}
				i = skipSpace(i + len(m.op))
				if i >= len(s) || !strings.ContainsRune("\"'`", rune(s[i])) {
					return r, fmt.Errorf("matcher value expected at %d", i)
				}
				v, j2, err := readString(i)
				if err != nil {
					return r, err
				}
				m.value = v
				r.matchers = append(r.matchers, m)
				i = j2
			}
			lastMetric = ""
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := skipSpace(j)
			next := byte(0)
			if k < len(s) {
				next = s[k]
			}
			i = j
			lastMetric = ""
			switch {
			case groupingWords[word] && next == '(':
				end := strings.IndexByte(s[k:], ')')
				if end < 0 {
					return r, fmt.Errorf("unterminated %s( at %d", word, k)
				}
				for _, l := range strings.Split(s[k+1:k+end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						r.grouping = append(r.grouping, l)
					}
				}
				i = k + end + 1
			case operatorWords[word], groupingWords[word]:
			case aggregateWords[word] && (next == '(' || strings.HasPrefix(s[k:], "by") || strings.HasPrefix(s[k:], "without")):
			case next == '(':
				rateArg = rateFuncs[word]
				i = k + 1
			default:
				r.metrics = append(r.metrics, word)
				if wasRateArg {
					r.rated = append(r.rated, word)
				}
				lastMetric = word
			}
		case '0' <= c && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
			lastMetric = ""
		default:
			i++
			lastMetric = ""
		}
	}
	return r, nil
}

func TestParsePromQL(t *testing.T) {
	r, err := parsePromQL(`histogram_quantile(0.99, sum by (strategy, le) (rate(a_bucket{route="reserve",code=~"5.."}[1m]))) / on() sum(b) or label_replace(vector(0), "x", "y", "", "") + max without (z) (c_total offset 5m)`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(r.metrics, ","), "a_bucket,b,c_total"; got != want {
		t.Errorf("metrics %s, want %s", got, want)
	}
	if got, want := strings.Join(r.grouping, ","), "strategy,le,z"; got != want {
		t.Errorf("grouping %s, want %s", got, want)
	}
	if got, want := strings.Join(r.rated, ","), "a_bucket"; got != want {
		t.Errorf("rated %s, want %s", got, want)
	}
	if len(r.matchers) != 2 || r.matchers[1] != (matcher{"a_bucket", "code", "=~", "5.."}) {
		t.Errorf("matchers %+v", r.matchers)
	}
}

// metricInfo describes one exported metric family.
type metricInfo struct {
	typ    dto.MetricType
	labels map[string]bool // without the target labels job and instance
}

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// metricInventory is every metric family the gateway and writer export: the
// families their registries gather (Go runtime, process, DB pool stats, plain
// counters and gauges) plus the vectors declared in gateway/metrics.go and
// writer/metrics.go, which gather nothing until they have a label value.
func metricInventory(t *testing.T) map[string]metricInfo {
	t.Helper()
	inv := map[string]metricInfo{}
	declared := map[string]bool{}
	for _, f := range []string{repoPath("gateway", "metrics.go"), repoPath("writer", "metrics.go"), repoPath("ranking", "metrics.go"), repoPath("room", "metrics.go")} {
		for name, info := range declaredMetrics(t, f) {
			inv[name] = info
			declared[name] = true
		}
	}
	if len(declared) == 0 {
		t.Fatal("no metric declared in gateway/metrics.go or writer/metrics.go: has the way metrics are declared changed?")
	}

	db := sql.OpenDB(noDB{}) // pool stats need a *sql.DB, not a connection
	defer db.Close()
	rooms := prometheus.NewRegistry() // the gateway registers the rooms' metrics on its own
	room.NewMetrics(rooms)
	for _, g := range []prometheus.Gatherer{gateway.NewMetrics(db).Registry, writer.NewMetrics(db).Registry, ranking.NewMetrics().Registry, rooms} {
		families, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if strings.HasPrefix(f.GetName(), "boxoffice_") && !declared[f.GetName()] {
				t.Errorf("metric %s is gathered but its declaration was not found in metrics.go", f.GetName())
			}
			info, ok := inv[f.GetName()]
			if !ok {
				info = metricInfo{typ: f.GetType(), labels: map[string]bool{}}
			}
			for _, m := range f.GetMetric() {
				for _, lp := range m.GetLabel() {
					info.labels[lp.GetName()] = true
				}
			}
			inv[f.GetName()] = info
		}
	}
	return inv
}

// declaredMetrics reads prometheus.NewXxx(prometheus.XxxOpts{Name: "..."},
// []string{labels...}) calls from a Go file.
func declaredMetrics(t *testing.T, path string) map[string]metricInfo {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]dto.MetricType{
		"NewCounter": dto.MetricType_COUNTER, "NewCounterVec": dto.MetricType_COUNTER,
		"NewGauge": dto.MetricType_GAUGE, "NewGaugeVec": dto.MetricType_GAUGE,
		"NewHistogram": dto.MetricType_HISTOGRAM, "NewHistogramVec": dto.MetricType_HISTOGRAM,
		"NewSummary": dto.MetricType_SUMMARY, "NewSummaryVec": dto.MetricType_SUMMARY,
	}
	out := map[string]metricInfo{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "prometheus" {
			return true
		}
		typ, ok := types[sel.Sel.Name]
		if !ok || len(call.Args) == 0 {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			t.Fatalf("%s: %s: options are not a literal", path, sel.Sel.Name)
		}
		info := metricInfo{typ: typ, labels: map[string]bool{}}
		name := ""
		for _, el := range opts.Elts {
			kv, ok := el.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			key, _ := kv.Key.(*ast.Ident)
			if key == nil {
				continue
			}
			switch key.Name {
			case "Name":
				lit, ok := kv.Value.(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: a metric Name is not a string literal", path)
				}
				name, _ = strconv.Unquote(lit.Value)
			case "Namespace", "Subsystem":
				t.Fatalf("%s: metric uses %s; teach declaredMetrics to join it into the name", path, key.Name)
			}
		}
		if len(call.Args) > 1 {
			if labels, ok := call.Args[1].(*ast.CompositeLit); ok {
				for _, el := range labels.Elts {
					if lit, ok := el.(*ast.BasicLit); ok {
						l, _ := strconv.Unquote(lit.Value)
						info.labels[l] = true
					}
				}
			}
		}
		if name == "" {
			t.Fatalf("%s: %s without a Name", path, sel.Sel.Name)
		}
		out[name] = info
		return true
	})
	return out
}

// noDB is a database/sql connector that never connects.
type noDB struct{}

func (noDB) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no database") }
func (noDB) Driver() driver.Driver                        { return noDriver{} }

type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no database") }

// series resolves a name as written in PromQL (foo_bucket, foo_count, ...)
// to its family and the labels the series carries.
func series(inv map[string]metricInfo, name string) (metricInfo, map[string]bool, bool) {
	with := func(info metricInfo, extra ...string) map[string]bool {
		l := map[string]bool{}
		for k := range info.labels {
			l[k] = true
		}
		for _, e := range extra {
			l[e] = true
		}
		return l
	}
	if info, ok := inv[name]; ok && info.typ != dto.MetricType_HISTOGRAM {
		if info.typ == dto.MetricType_SUMMARY {
			return info, with(info, "quantile"), true
		}
		return info, with(info), true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		info, ok := inv[base]
		if !ok {
			continue
		}
		switch {
		case info.typ == dto.MetricType_HISTOGRAM && suffix == "_bucket":
			return info, with(info, "le"), true
		case info.typ == dto.MetricType_HISTOGRAM || info.typ == dto.MetricType_SUMMARY:
			if suffix != "_bucket" {
				return info, with(info), true
			}
		}
	}
	return metricInfo{}, nil, false
}

// baseMetric strips a histogram or summary suffix.
func baseMetric(inv map[string]metricInfo, name string) string {
	if _, ok := inv[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if _, ok := inv[base]; ok {
				return base
			}
		}
	}
	return name
}

// checkExpr reports what is wrong with one expression: unknown metrics,
// labels a metric does not carry, rate() over a gauge, a job Prometheus does
// not scrape.
func checkExpr(inv map[string]metricInfo, jobs map[string]bool, expr string) []string {
	r, err := parsePromQL(substitute(expr, "1m"))
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if len(r.metrics) == 0 {
		problems = append(problems, "names no metric")
	}
	exprLabels := map[string]bool{"job": true, "instance": true}
	for _, m := range r.metrics {
		_, labels, ok := series(inv, m)
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is exported by neither the gateway nor the writer", m))
			continue
		}
		for l := range labels {
			exprLabels[l] = true
		}
	}
	for _, m := range r.matchers {
		if m.label == "job" && m.op == "=" && !jobs[m.value] {
			problems = append(problems, fmt.Sprintf("job %q is not a scrape job of deploy/prometheus/prometheus.yml", m.value))
		}
		if m.metric == "" || targetLabels[m.label] || m.label == "__name__" {
			continue
		}
		if _, labels, ok := series(inv, m.metric); ok && !labels[m.label] {
			problems = append(problems, fmt.Sprintf("metric %s has no label %q (it has %s)", m.metric, m.label, strings.Join(sortedKeys(labels), ", ")))
		}
	}
	for _, l := range r.grouping {
		if !exprLabels[l] {
			problems = append(problems, fmt.Sprintf("groups by %q, a label none of its metrics has", l))
		}
	}
	for _, m := range r.rated {
		info, _, ok := series(inv, m)
		if !ok {
			continue
		}
		if info.typ == dto.MetricType_GAUGE || (info.typ == dto.MetricType_UNTYPED && !strings.HasSuffix(m, "_total")) {
			problems = append(problems, fmt.Sprintf("rate() over %s, which is a gauge", m))
		}
	}
	return problems
}

func scrapeJobs(t *testing.T) map[string]bool {
	t.Helper()
	jobs := map[string]bool{}
	for _, sc := range loadPrometheus(t).ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	return jobs
}

// TestDashboardsAreWellFormed: each dashboard parses, has a unique uid, a
// current schema, refreshes every 5 s, and every panel and query names the
// provisioned datasource.
func TestDashboardsAreWellFormed(t *testing.T) {
	datasources := provisionedDatasources(t)
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q, title %q: both are needed", d.file, d.UID, d.Title)
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q is also used by %s", d.file, d.UID, other)
		}
		uids[d.UID] = d.file
		// 39 is Grafana 11.0; older schemas are migrated on every load.
		if d.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d, want a current one (>= 39)", d.file, d.SchemaVersion)
		}
		if d.Refresh != "5s" {
			t.Errorf("%s: refresh %q, want 5s", d.file, d.Refresh)
		}
		checkDS := func(where string, ref *dsRef) {
			if ref == nil {
				t.Errorf("%s: no datasource", where)
				return
			}
			if typ, ok := datasources[ref.UID]; !ok || typ != ref.Type {
				t.Errorf("%s: datasource {type %q, uid %q} is not provisioned (provisioned: %v)", where, ref.Type, ref.UID, datasources)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				checkDS(fmt.Sprintf("%s / $%s", d.file, v.Name), v.Datasource)
			}
		}
		ids := map[int]bool{}
		panels := allPanels(d.Panels)
		if len(panels) == 0 {
			t.Errorf("%s: no panels", d.file)
		}
		for _, p := range panels {
			where := fmt.Sprintf("%s / %s", d.file, p.Title)
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", where, p.ID)
			}
			ids[p.ID] = true
			if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
			}
			if p.Type == "row" || p.Type == "text" {
				continue
			}
			checkDS(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if refs[tg.RefID] || tg.RefID == "" {
					t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Datasource != nil {
					checkDS(where+" / "+tg.RefID, tg.Datasource)
				}
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s / %s: empty expression", where, tg.RefID)
				}
			}
		}
	}
}

// TestDashboardMetricsExist: every metric, label and job a dashboard query
// names is one the code exports or Prometheus adds.
func TestDashboardMetricsExist(t *testing.T) {
	inv := metricInventory(t)
	jobs := scrapeJobs(t)
	for _, q := range dashboardQueries(t) {
		for _, p := range checkExpr(inv, jobs, q.expr) {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
	}
	for _, v := range variableQueries(t) {
		for _, p := range checkExpr(inv, jobs, v.selector) {
			t.Errorf("%s: %s\n\t%s", v.where, p, v.selector)
		}
		r, _ := parsePromQL(v.selector)
		for _, m := range r.metrics {
			if _, labels, ok := series(inv, m); ok && !labels[v.label] && !targetLabels[v.label] {
				t.Errorf("%s: label_values of %q, which %s does not have", v.where, v.label, m)
			}
		}
	}
}

// TestDashboardsCoverTheRequiredMetrics pins what each dashboard must show
// (issue 5), so an edit cannot quietly drop a panel.
func TestDashboardsCoverTheRequiredMetrics(t *testing.T) {
	inv := metricInventory(t)
	required := map[string][]string{
		"overview.json": {
			"boxoffice_gateway_requests_total", "boxoffice_writer_rows_written_total",
			"boxoffice_writer_consumer_lag", "boxoffice_gateway_reservations_in_flight",
			"boxoffice_gateway_request_duration_seconds", "boxoffice_gateway_stock_remaining",
			"boxoffice_gateway_lua_duration_seconds", "boxoffice_gateway_kafka_produce_duration_seconds",
			"boxoffice_gateway_kafka_produce_errors_total", "boxoffice_writer_batch_size",
			"boxoffice_writer_batch_duration_seconds", "boxoffice_writer_failed_total",
			"boxoffice_writer_dlq_total", "boxoffice_writer_stock_returned_total",
			"process_cpu_seconds_total", "go_memstats_heap_alloc_bytes", "go_goroutines",
			"go_sql_in_use_connections", "go_sql_open_connections", "go_sql_wait_count_total",
			"go_sql_wait_duration_seconds_total",
			// Issue 18: the ranking's panel.
			"boxoffice_ranking_sell_through_ratio",
			"boxoffice_gateway_seats_held_total", "boxoffice_writer_seats_total",
			// Issue 17: the waiting room's row.
			"boxoffice_queue_waiting", "boxoffice_queue_active", "boxoffice_queue_admitted_total",
			"boxoffice_queue_joined_total", "boxoffice_queue_wait_seconds", "boxoffice_queue_passes_issued_total",
			"boxoffice_queue_passes_used_total", "boxoffice_queue_refused_total", "boxoffice_queue_notifications_total",
			"boxoffice_queue_streams",
		},
		"lock-strategies.json": {
			"boxoffice_gateway_requests_total", "boxoffice_gateway_request_duration_seconds",
			"boxoffice_gateway_lock_wait_seconds", "boxoffice_gateway_lock_total",
			"go_sql_in_use_connections", "go_sql_wait_count_total",
			"process_cpu_seconds_total", "go_memstats_heap_alloc_bytes", "go_goroutines",
		},
	}
	used := map[string]map[string]bool{}
	for _, d := range loadDashboards(t) {
		used[d.file] = map[string]bool{}
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				r, _ := parsePromQL(substitute(tg.Expr, "1m"))
				for _, m := range r.metrics {
					used[d.file][baseMetric(inv, m)] = true
				}
			}
		}
	}
	for file, metrics := range required {
		if used[file] == nil {
			t.Errorf("grafana/dashboards/%s is missing", file)
			continue
		}
		for _, m := range metrics {
			if !used[file][m] {
				t.Errorf("%s: no panel shows %s", file, m)
			}
		}
	}
	// Every boxoffice metric appears on some dashboard.
	all := map[string]bool{}
	for _, u := range used {
		for m := range u {
			all[m] = true
		}
	}
	var unused []string
	for name := range inv {
		if strings.HasPrefix(name, "boxoffice_") && !all[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("metrics on no dashboard: %s", strings.Join(unused, ", "))
	}
}
