package deploy

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
)

// strategies are every reservation route a gateway may serve; the test
// drives those that answer something other than 404 not_found.
var strategies = []string{"async", "pessimistic", "distlock", "unsafe"}

// onlyWith names metrics that have series only once a strategy has served
// traffic: a dashboard query over them may come back empty when the gateway
// under test does not serve that strategy (yet).
var onlyWith = map[string]string{
	"boxoffice_gateway_lock_wait_seconds": "distlock",
	"boxoffice_gateway_lock_total":        "distlock",
}

const (
	seatsPerConcert = 5
	// rangeWindow replaces $__rate_interval: with a 1 s scrape interval a
	// minute holds every sample of the run.
	rangeWindow = "1m"
)

// TestDashboardQueriesAgainstPrometheus runs a real Prometheus, configured
// from deploy/prometheus/prometheus.yml, against an in-process gateway and
// writer that have just served a short load through every strategy, and
// evaluates every dashboard query through Prometheus's HTTP API: none may
// fail, and none may come back empty.
func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway, a writer and Prometheus; skipped with -short")
	}
	env := requireServices(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Second)
	defer cancel()

	logs := &servicetest.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway and writer log (warnings and errors):\n%s", tail([]byte(logs.String()), 6000))
		}
	})

	suffix := randomSuffix(t)
	cfg := env.cfg
	cfg.MySQLDSN = createDatabase(t, ctx, cfg.MySQLDSN, "boxoffice_test_"+suffix)
	cfg.RedisPrefix = "deploytest-" + suffix
	cfg.Topic = "deploytest-" + suffix
	cfg.Group = "deploytest-" + suffix
	cfg.NotificationsTopic = "deploytest-notifications-" + suffix
	cfg.RankerGroup = "deploytest-ranker-" + suffix
	cfg.RankerMetricsAddr = "127.0.0.1:0"
	// One per strategy, so each sells out on its own, and one behind a
	// waiting room.
	cfg.Concerts = len(strategies) + 1
	cfg.Capacity = seatsPerConcert
	cfg.Members = 50
	cfg.Partitions = 2
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.Strategies = "async,pessimistic,distlock"
	cfg.EnableUnsafe = true
	// The harness below sends members in the body.
	cfg.TrustBodyMember = true
	cfg.OneAddress()
	// Member 1's second request must reach the script, so that the
	// already_reserved panels have data: no sold-out memory.
	cfg.SoldOutTTL = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cleanupRedis(t, cfg)
	cleanupKafka(t, cfg)

	if err := app.Migrate(ctx, cfg, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if err := app.Seed(ctx, cfg, log); err != nil {
		t.Fatalf("seed: %v", err)
	}

	gw, err := app.OpenGateway(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open gateway: %v", err)
	}
	runUntilCleanup(t, "gateway", gw.Run, gw.Close)
	wr, err := app.OpenWriter(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open writer: %v", err)
	}
	runUntilCleanup(t, "writer", wr.Run, wr.Close)
	rk, err := app.OpenRanker(ctx, cfg, log)
	if err != nil {
		t.Fatalf("open ranker: %v", err)
	}
	runUntilCleanup(t, "ranker", rk.Run, rk.Close)

	// The compose service names in prometheus.yml become the in-process
	// addresses.
	c := loadCompose(t)
	addrs := map[string]string{}
	for _, s := range c.servicesRunning("gateway") {
		addrs[s] = gw.AdminAddr // the gateway's metrics are on its admin listener
	}
	for _, s := range c.servicesRunning("writer") {
		addrs[s] = wr.Addr
	}
	for _, s := range c.servicesRunning("ranker") {
		addrs[s] = rk.Addr
	}
	prom := startPrometheus(t, env.prometheus, addrs)

	jobs := scrapeJobs(t)
	waitFor(t, ctx, 15*time.Second, fmt.Sprintf("Prometheus to scrape all %d jobs", len(jobs)), func() (bool, string) {
		n, err := prom.query(ctx, "up == 1")
		return err == nil && n == len(jobs), fmt.Sprintf("%d up, err %v", n, err)
	})

	served := sendLoad(t, ctx, "http://"+gw.Addr)
	roomLoad(t, ctx, cfg, "http://"+gw.Addr)

	inv := metricInventory(t)
	mayBeEmpty := func(expr string) string {
		r, _ := parsePromQL(expr)
		for _, m := range r.metrics {
			if s, ok := onlyWith[baseMetric(inv, m)]; ok && !served[s] {
				return s
			}
		}
		return ""
	}

	type check struct {
		where, expr string
		run         func() (int, error)
	}
	var pending []check
	for _, q := range dashboardQueries(t) {
		expr := substitute(q.expr, rangeWindow)
		pending = append(pending, check{q.where, expr, func() (int, error) { return prom.query(ctx, expr) }})
	}
	for _, v := range variableQueries(t) {
		sel := substitute(v.selector, rangeWindow)
		pending = append(pending, check{v.where, fmt.Sprintf("label_values(%s, %s)", sel, v.label), func() (int, error) { return prom.labelValues(ctx, v.label, sel) }})
	}

	// Until every query has data or the time is up: rates need two scrapes
	// after the load, the writer's gauges its first batch.
	deadline := time.Now().Add(25 * time.Second)
	evaluated := len(pending)
	for {
		var still []check
		for _, ch := range pending {
			n, err := ch.run()
			switch {
			case err != nil:
				t.Errorf("%s: %v\n\t%s", ch.where, err, ch.expr)
			case n == 0:
				still = append(still, ch)
			}
		}
		pending = still
		if len(pending) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		// Queries that can only be empty here are not worth waiting for.
		if !slices.ContainsFunc(pending, func(ch check) bool { return mayBeEmpty(ch.expr) == "" }) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, ch := range pending {
		if s := mayBeEmpty(ch.expr); s != "" {
			t.Logf("%s: empty, as expected while the gateway does not serve %s\n\t%s", ch.where, s, ch.expr)
			continue
		}
		t.Errorf("%s: empty result\n\t%s", ch.where, ch.expr)
	}
	t.Logf("%d dashboard queries evaluated through Prometheus; strategies served: %v", evaluated, sortedKeys(served))
}

// services is where the test's backing services are.
type services struct {
	cfg        config.Config
	prometheus string
}

// requireServices reads the service addresses from the same BOX_* variables
// as the binary and checks that each answers. Without them the test skips,
// or fails when BOX_REQUIRE_SERVICES=1 (CI).
func requireServices(t *testing.T) services {
	t.Helper()
	cfg := config.Default()
	fs := flag.NewFlagSet("deploy test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.Register(fs, &cfg, config.Redis|config.Kafka|config.MySQL)
	if err := config.ApplyEnv(fs, os.Getenv); err != nil {
		t.Fatal(err)
	}
	s := services{cfg: cfg, prometheus: cmp.Or(os.Getenv("BOX_PROMETHEUS_BIN"), "/usr/bin/prometheus")}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var missing []string
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, DialTimeout: 2 * time.Second})
	if err := rdb.Ping(ctx).Err(); err != nil {
		missing = append(missing, fmt.Sprintf("Redis at %s (BOX_REDIS_ADDR): %v", cfg.RedisAddr, err))
	}
	rdb.Close()
	if dsn, err := mysql.ParseDSN(cfg.MySQLDSN); err != nil {
		t.Fatalf("BOX_MYSQL_DSN: %v", err)
	} else {
		dsn.DBName = "" // the test makes its own database
		db, _ := sql.Open("mysql", dsn.FormatDSN())
		if err := db.PingContext(ctx); err != nil {
			missing = append(missing, fmt.Sprintf("MySQL at %s (BOX_MYSQL_DSN): %v", dsn.Addr, err))
		}
		db.Close()
	}
	if err := kafka.Reachable(ctx, cfg.KafkaBrokers); err != nil {
		missing = append(missing, fmt.Sprintf("Kafka at %s (BOX_KAFKA_BROKERS): %v", strings.Join(cfg.KafkaBrokers, ","), err))
	}
	if _, err := exec.LookPath(s.prometheus); err != nil {
		missing = append(missing, fmt.Sprintf("prometheus binary %s (BOX_PROMETHEUS_BIN): %v", s.prometheus, err))
	}
	if len(missing) > 0 {
		msg := "services missing:\n\t" + strings.Join(missing, "\n\t")
		if os.Getenv("BOX_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "\n(scripts/services.sh start brings them up; BOX_REQUIRE_SERVICES=1 turns this skip into a failure)")
	}
	return s
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// createDatabase creates a database of its own for the test, drops it at the
// end, and returns dsn pointing at it.
func createDatabase(t *testing.T, ctx context.Context, dsn, name string) string {
	t.Helper()
	c, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	admin := c.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	c.DBName = name
	return c.FormatDSN()
}

// cleanupRedis deletes every key under the test's prefix at the end.
func cleanupRedis(t *testing.T, cfg config.Config) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
		defer rdb.Close()
		var keys []string
		iter := rdb.Scan(ctx, 0, cfg.RedisPrefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Logf("redis cleanup: %v", err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
				t.Logf("redis cleanup: %v", err)
				return
			}
			keys = keys[n:]
		}
	})
}

// cleanupKafka deletes the test's topics and consumer group at the end
// (after the writer has left the group: cleanups run last-registered first).
func cleanupKafka(t *testing.T, cfg config.Config) {
	t.Cleanup(func() {
		sc := sarama.NewConfig()
		sc.Version = kafka.Version
		sc.Net.DialTimeout = 3 * time.Second
		admin, err := sarama.NewClusterAdmin(cfg.KafkaBrokers, sc)
		if err != nil {
			t.Logf("kafka cleanup: %v", err)
			return
		}
		defer admin.Close()
		for _, group := range []string{cfg.Group, cfg.RankerGroup} {
			if err := admin.DeleteConsumerGroup(group); err != nil {
				t.Logf("kafka cleanup: group %s: %v", group, err)
			}
		}
		for _, topic := range []string{cfg.Topic, cfg.DLQTopic(), cfg.NotificationsTopic} {
			if err := admin.DeleteTopic(topic); err != nil {
				t.Logf("kafka cleanup: topic %s: %v", topic, err)
			}
		}
	})
}

// runUntilCleanup runs a process until the test ends, then stops and closes it.
func runUntilCleanup(t *testing.T, name string, run func(context.Context) error, closeFn func() error) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("%s stopped: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20 s", name)
		}
		if err := closeFn(); err != nil {
			t.Logf("%s close: %v", name, err)
		}
	})
}

// promServer is a Prometheus started by the test.
type promServer struct {
	base   string
	client *http.Client
}

// startPrometheus runs the prometheus binary on a free loopback port with
// deploy/prometheus/prometheus.yml, scraping every second and with each
// target host:port replaced by addrs[host]. It is killed at the end.
func startPrometheus(t *testing.T, bin string, addrs map[string]string) *promServer {
	t.Helper()
	dir := t.TempDir()
	raw, err := os.ReadFile(prometheusConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	global, _ := doc["global"].(map[string]any)
	if global == nil {
		global = map[string]any{}
		doc["global"] = global
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"
	scrapes, _ := doc["scrape_configs"].([]any)
	for _, sc := range scrapes {
		job, _ := sc.(map[string]any)
		for _, k := range []string{"scrape_interval", "scrape_timeout"} {
			if _, ok := job[k]; ok {
				job[k] = "1s"
			}
		}
		statics, _ := job["static_configs"].([]any)
		for _, st := range statics {
			targets, _ := st.(map[string]any)["targets"].([]any)
			for i, tg := range targets {
				host, _, err := net.SplitHostPort(fmt.Sprint(tg))
				addr, ok := addrs[host]
				if err != nil || !ok {
					t.Fatalf("prometheus.yml target %v: no in-process stand-in (have %v)", tg, addrs)
				}
				targets[i] = addr
			}
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, out, 0o644); err != nil {
		t.Fatal(err)
	}

	port := strconv.Itoa(servicetest.FreePort(t))
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+port,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("prometheus log:\n%s", tail(b, 4000))
			t.Logf("generated prometheus.yml:\n%s", out)
		}
	})

	p := &promServer{base: "http://127.0.0.1:" + port, client: &http.Client{Timeout: 5 * time.Second}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("prometheus exited at start: %v\n%s", err, tail(b, 4000))
		default:
		}
		resp, err := p.client.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 15 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (p *promServer) get(ctx context.Context, path string, params url.Values) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// query evaluates expr now and returns how many series (or 1 for a scalar)
// it produced.
func (p *promServer) query(ctx context.Context, expr string) (int, error) {
	data, err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, err
	}
	switch d.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(d.Result, &series); err != nil {
			return 0, err
		}
		return len(series), nil
	default:
		return 1, nil
	}
}

// labelValues is what Grafana asks for label_values(selector, label).
func (p *promServer) labelValues(ctx context.Context, label, selector string) (int, error) {
	data, err := p.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{"match[]": {selector}})
	if err != nil {
		return 0, err
	}
	var values []string
	if err := json.Unmarshal(data, &values); err != nil {
		return 0, err
	}
	return len(values), nil
}

// sendLoad drives every strategy the gateway serves until its concert sells
// out, plus already-reserved, malformed and unknown-concert requests and a
// few reads, so every panel has something to show. It returns the
// strategies served.
func sendLoad(t *testing.T, ctx context.Context, base string) map[string]bool {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	do := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	reserve := func(strategy string, concert, member int) (int, string) {
		return do(http.MethodPost, "/api/reservations/"+strategy, "application/json",
			fmt.Sprintf(`{"concertId":%d,"memberId":%d}`, concert, member))
	}

	served := map[string]bool{}
	for i, s := range strategies {
		concert := i + 1
		outcomes := map[string]int{}
		for member := 1; member <= seatsPerConcert+3; member++ {
			status, code := reserve(s, concert, member)
			if member == 1 && status == http.StatusNotFound && code == "not_found" {
				break // not enabled on this gateway
			}
			served[s] = true
			outcomes[fmt.Sprintf("%d %s", status, code)]++
		}
		if !served[s] {
			t.Logf("strategy %s: not served (404 not_found); its panels show the 404s only", s)
			continue
		}
		status, code := reserve(s, concert, 1) // member 1 already holds a seat
		outcomes[fmt.Sprintf("%d %s", status, code)]++
		t.Logf("strategy %s: %v", s, outcomes)
		if s == "async" && (outcomes["202 "] != seatsPerConcert || outcomes["409 sold_out"] != 3) {
			t.Errorf("async: want %d × 202 and 3 × 409 sold_out, got %v", seatsPerConcert, outcomes)
		}
	}
	if !served["async"] {
		t.Fatal("the gateway does not serve POST /api/reservations/async")
	}

	for _, bad := range []struct {
		contentType, body string
		status            int
	}{
		{"application/json", `{"concertId":1}`, http.StatusBadRequest},
		{"application/json", `not json`, http.StatusBadRequest},
		{"text/plain", `{"concertId":1,"memberId":1}`, http.StatusUnsupportedMediaType},
	} {
		if status, code := do(http.MethodPost, "/api/reservations/async", bad.contentType, bad.body); status != bad.status {
			t.Errorf("POST async %q (%s): %d %s, want %d", bad.body, bad.contentType, status, code, bad.status)
		}
	}
	for _, path := range []string{"/api/members/1", "/api/concerts/1", "/healthz"} {
		for range 3 {
			if status, code := do(http.MethodGet, path, "", ""); status != http.StatusOK {
				t.Errorf("GET %s: %d %s", path, status, code)
			}
		}
	}
	return served
}

// roomLoad puts a waiting room in front of the last concert (opening now,
// 100/s) and sends what its panels show: two joins, a stream, member 1
// admitted and reserving with the pass, member 2 refused without one.
func roomLoad(t *testing.T, ctx context.Context, cfg config.Config, base string) {
	t.Helper()
	concert := int64(cfg.Concerts)
	cfg.RoomConcert, cfg.RoomOpensAt, cfg.RoomRate, cfg.RoomMaxActive, cfg.RoomPassTTL = concert, "now", 100, 10, time.Minute
	if err := app.Room(ctx, cfg, "set", io.Discard); err != nil {
		t.Fatalf("room set: %v", err)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	do := func(method, path, pass, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if pass != "" {
			req.Header.Set("X-Queue-Pass", pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	queue := fmt.Sprintf("/api/queue/%d", concert)
	// The gateway learns of a new room within a moment.
	waitFor(t, ctx, 10*time.Second, "the gateway to serve the room", func() (bool, string) {
		status, b := do(http.MethodGet, queue, "", "")
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, b)
	})
	for m := 1; m <= 2; m++ {
		if status, b := do(http.MethodPost, queue, "", fmt.Sprintf(`{"memberId":%d}`, m)); status != http.StatusCreated {
			t.Fatalf("join member %d: %d %s", m, status, b)
		}
	}
	// Member 2's stream, open until the test ends: the streams gauge.
	sctx, closeStream := context.WithCancel(ctx)
	t.Cleanup(closeStream)
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+queue+"/stream?memberId=2", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", resp, err)
	} else {
		t.Cleanup(func() { resp.Body.Close() })
	}
	var pass string
	waitFor(t, ctx, 10*time.Second, "member 1's pass", func() (bool, string) {
		status, b := do(http.MethodGet, queue+"/me?memberId=1", "", "")
		var st struct {
			Status, Pass string
		}
		json.Unmarshal(b, &st)
		pass = st.Pass
		return status == http.StatusOK && st.Status == "admitted" && pass != "", fmt.Sprintf("%d %s", status, b)
	})
	body := func(m int) string { return fmt.Sprintf(`{"concertId":%d,"memberId":%d}`, concert, m) }
	if status, b := do(http.MethodPost, "/api/reservations/async", pass, body(1)); status != http.StatusAccepted {
		t.Errorf("reserve with the pass: %d %s", status, b)
	}
	if status, b := do(http.MethodPost, "/api/reservations/async", "", body(2)); status != http.StatusForbidden {
		t.Errorf("reserve without a pass: %d %s, want 403 not_admitted", status, b)
	}
}

// waitFor polls cond every 200 ms until it holds or limit passes.
func waitFor(t *testing.T, ctx context.Context, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waited %s for %s: %s", limit, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
