package scaleout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/api/apitest"
	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/servicetest"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// The size of the rush: enough concerts that their slots land on every
// master, more members than seats so that each concert sells out.
const (
	concerts = 24
	capacity = 30
	members  = 50
	gateways = 2
	clients  = 48
)

// missing fails (under BOX_REQUIRE_SERVICES=1) or skips a test whose
// cluster services are not there.
func missing(t *testing.T, what string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s (%v); start them with `make services-cluster` and export `bash scripts/cluster.sh test-env`", what, err)
	if os.Getenv("BOX_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// clusterConfig is a configuration on the cluster services (Redis Cluster,
// three brokers, topics at replication factor 3 and min.insync.replicas 2)
// and the MySQL of make services, with a database, Redis prefix, topic and
// group of the test's own; rdb is a cluster client for the test's audit.
func clusterConfig(t *testing.T) (config.Config, *redis.ClusterClient) {
	t.Helper()
	if os.Getenv("BOX_CLUSTER_TESTS") == "off" {
		t.Skip("make test CLUSTER= left the cluster services out")
	}
	redisAddr, brokers := os.Getenv("BOX_CLUSTER_REDIS_ADDR"), os.Getenv("BOX_CLUSTER_KAFKA_BROKERS")
	if redisAddr == "" || brokers == "" {
		missing(t, "the cluster services are not configured", errors.New("BOX_CLUSTER_REDIS_ADDR or BOX_CLUSTER_KAFKA_BROKERS not set"))
	}
	over := map[string]string{
		"BOX_REDIS_ADDR": redisAddr, "BOX_REDIS_MODE": "auto", "BOX_KAFKA_BROKERS": brokers,
		"BOX_REPLICATION_FACTOR": "3", "BOX_MIN_INSYNC_REPLICAS": "2",
	}
	getenv := func(k string) string {
		if v, ok := over[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	cfg, err := config.Parse("test", config.Redis|config.Kafka|config.MySQL|config.Gateway|config.Writer|config.Seed, nil, getenv, io.Discard)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	name := "t" + servicetest.RandomHex(5)
	cfg.RedisPrefix = "bo-" + name
	cfg.Topic = "reservations-" + name
	cfg.Group = "writer-" + name
	cfg.NotificationsTopic = "notifications-" + name
	cfg.HTTPAddr, cfg.AdminAddr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Partitions = 3
	cfg.TrustBodyMember = true
	cfg.OneAddress()
	cfg.MemberRate = 0
	cfg.Concerts, cfg.Capacity, cfg.Members = concerts, capacity, members
	// An answer in doubt (the failover test) is settled by the sweeper
	// after this, instead of the default half minute.
	cfg.InflightGrace = 3 * time.Second

	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(redisAddr, ","), DialTimeout: 2 * time.Second})
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := clusterOK(ctx, rdb); err != nil {
		missing(t, "the Redis Cluster at "+redisAddr+" is not serving", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, cfg.RedisPrefix+":*", 1000).Iterator()
			for iter.Next(ctx) {
				c.Del(ctx, iter.Val())
			}
			return iter.Err()
		})
	})
	if err := kafka.Reachable(ctx, cfg.KafkaBrokers); err != nil {
		missing(t, "the three brokers at "+brokers+" are not reachable", err)
	}
	cfg.MySQLDSN = servicetest.Database(t, cfg.MySQLDSN, "boxoffice_"+name)
	return cfg, rdb
}

// clusterOK waits until every master says cluster_state:ok and there are three.
func clusterOK(ctx context.Context, rdb *redis.ClusterClient) error {
	var last error
	for {
		last = func() error {
			rdb.ReloadState(ctx)
			var masters atomic.Int32
			err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				info, err := c.ClusterInfo(ctx).Result()
				if err != nil {
					return err
				}
				if !strings.Contains(info, "cluster_state:ok") {
					return fmt.Errorf("%s: cluster not ok", c.Options().Addr)
				}
				masters.Add(1)
				return nil
			})
			if err == nil && masters.Load() != 3 {
				err = fmt.Errorf("%d masters, want 3", masters.Load())
			}
			return err
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// masterOf names the master serving each concert's slot.
func masterOf(t *testing.T, rdb *redis.ClusterClient, prefix string) map[int64]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for c := int64(1); c <= concerts; c++ {
		slot, err := rdb.ClusterKeySlot(ctx, prefix+":{c"+strconv.FormatInt(c, 10)+"}:stock").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
				out[c] = s.Nodes[0].Addr
			}
		}
	}
	return out
}

// The exchanges with the gateways are validated against api/openapi.yaml.
func TestMain(m *testing.M) { os.Exit(apitest.Main(m)) }

func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BOX_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// system is gateways and one writer in this process on the cluster.
type system struct {
	cfg  config.Config
	urls []string
	gws  []*app.Gateway
	st   *stock.Store // the first gateway's (a cluster client)
	db   *store.Store
}

func start(t *testing.T, cfg config.Config) *system {
	t.Helper()
	ctx := context.Background()
	log := testLog()
	if err := app.Migrate(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	if err := app.Seed(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	s := &system{cfg: cfg}
	for range gateways {
		gw, err := app.OpenGateway(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		gctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- gw.Run(gctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
			gw.Close()
		})
		s.gws = append(s.gws, gw)
		s.urls = append(s.urls, "http://"+gw.Addr)
		apitest.Serves(t, apitest.Public, gw.Addr)
	}
	s.st, s.db = s.gws[0].Stock, s.gws[0].DB
	w, err := app.OpenWriter(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
		w.Close()
	})
	return s
}

// answer is one request of the rush and what it got.
type answer struct {
	concert, member int64
	gateway         int
	status          int
	code, id        string
}

// definite: the request surely took no seat (refused, or given back).
func (a answer) definite() bool {
	return a.status == 202 || a.status == 409 || (a.status == 503 && (a.code == "unavailable" || a.code == "overloaded"))
}

// rush sends a reservation for every member of every concert, in random
// order, spread over the gateways; after half of them, half (if set) runs
// while the rest go on.
func (s *system) rush(t *testing.T, half func()) []answer {
	t.Helper()
	var todo []answer
	for c := int64(1); c <= concerts; c++ {
		for m := int64(1); m <= members; m++ {
			todo = append(todo, answer{concert: c, member: m})
		}
	}
	rand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	hc := &http.Client{Timeout: 10 * time.Second, Transport: apitest.Transport(&http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients})}
	defer hc.CloseIdleConnections()
	var next atomic.Int64
	var halfOnce sync.Once
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				if half != nil && i == len(todo)/2 {
					halfOnce.Do(func() { go half() })
				}
				a := &todo[i]
				a.gateway = i % len(s.urls)
				body := fmt.Appendf(nil, `{"concertId":%d,"memberId":%d}`, a.concert, a.member)
				resp, err := hc.Post(s.urls[a.gateway]+"/api/reservations/async", "application/json", bytes.NewReader(body))
				if err != nil {
					a.code = "transport: " + err.Error()
					continue
				}
				var r struct {
					Error         string `json:"error"`
					ReservationID string `json:"reservationId"`
				}
				json.NewDecoder(resp.Body).Decode(&r)
				resp.Body.Close()
				a.status, a.code, a.id = resp.StatusCode, r.Error, r.ReservationID
			}
		})
	}
	wg.Wait()
	return todo
}

// audit is one concert's truth after the rush: Redis's stock, MySQL's rows
// by status, and how they match the answers.
type audit struct {
	concert                int64
	accepted               int // 202s
	redisStock, inFlight   int64
	active, dbRemaining    int64
	duplicates             int64
	failed                 int // rows FAILED (accepted, then refused by MySQL)
	lost, extra, undoubted int // accepted without a row; rows of no 202 after a definite refusal
	doubtRows              int // rows of answers in doubt
	statuses               map[string]int
}

func (a audit) String() string {
	return fmt.Sprintf("concert %d: accepted %d, rows active %d (failed %d), Redis stock %d, MySQL remaining %d, in flight %d, duplicates %d, lost %d, rows of refused requests %d, rows of answers in doubt %d",
		a.concert, a.accepted, a.active, a.failed, a.redisStock, a.dbRemaining, a.inFlight, a.duplicates, a.lost, a.undoubted, a.doubtRows)
}

// settle waits until nothing is in flight on any concert and the rows stop
// changing, then audits each concert.
func (s *system) settle(t *testing.T, answers []answer) map[int64]audit {
	t.Helper()
	ctx := context.Background()
	var prev int64 = -1
	servicetest.Eventually(t, 90*time.Second, "writer drains every concert", func() (bool, error) {
		var rows int64
		for c := int64(1); c <= concerts; c++ {
			n, err := s.st.InFlightCount(ctx, c)
			if err != nil {
				return false, err
			}
			if n != 0 {
				prev = -1
				return false, fmt.Errorf("concert %d: %d in flight", c, n)
			}
			cc, err := s.db.ConcertCounts(ctx, c)
			if err != nil {
				return false, err
			}
			rows += cc.Active
		}
		stable := rows == prev
		prev = rows
		if !stable {
			time.Sleep(300 * time.Millisecond)
		}
		return stable, fmt.Errorf("rows %d, waiting for a second reading", rows)
	})
	byConcert := map[int64][]answer{}
	for _, a := range answers {
		byConcert[a.concert] = append(byConcert[a.concert], a)
	}
	out := map[int64]audit{}
	for c := int64(1); c <= concerts; c++ {
		a := audit{concert: c, statuses: map[string]int{}}
		cc, err := s.db.ConcertCounts(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		a.active, a.dbRemaining, a.duplicates = cc.Active, cc.Remaining, cc.Duplicates
		if a.redisStock, _, err = s.st.Remaining(ctx, c); err != nil {
			t.Fatal(err)
		}
		if a.inFlight, err = s.st.InFlightCount(ctx, c); err != nil {
			t.Fatal(err)
		}
		var rows []struct {
			ID     string `db:"id"`
			Status string `db:"status"`
		}
		if err := s.db.DB().SelectContext(ctx, &rows, `SELECT id, status FROM reservations WHERE concert_id = ?`, c); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for _, r := range rows {
			row[r.ID] = r.Status
			a.statuses[r.Status]++
		}
		seen := map[string]bool{}
		for _, ans := range byConcert[c] {
			if ans.id != "" {
				seen[ans.id] = true
			}
			st, has := row[ans.id]
			switch {
			case ans.status == 202:
				a.accepted++
				if !has {
					a.lost++
				} else if st == "FAILED" {
					a.failed++
				}
			case ans.id != "" && has && ans.definite():
				a.undoubted++
			case ans.id != "" && has:
				a.doubtRows++
			}
		}
		for id := range row {
			if !seen[id] {
				a.extra++ // a row no answer names: an id the client never saw
			}
		}
		out[c] = a
	}
	return out
}

// TestClusterRush: two gateways and one writer on a Redis Cluster and three
// brokers, a rush over 24 concerts (slots on all three masters) spread over
// both gateways; every concert sells out exactly, and the audit holds per
// concert: no oversell, no leak, no lost or duplicated row; reconcile finds
// nothing to say.
func TestClusterRush(t *testing.T) {
	cfg, rdb := clusterConfig(t)
	t0 := time.Now()
	s := start(t, cfg)
	masters := masterOf(t, rdb, cfg.RedisPrefix)
	perMaster := map[string]int{}
	for _, m := range masters {
		perMaster[m]++
	}
	if len(perMaster) != 3 {
		t.Fatalf("the concerts' slots are on %d masters (%v), want all 3", len(perMaster), perMaster)
	}
	t.Logf("concerts per master: %v (set up in %s)", perMaster, time.Since(t0).Round(time.Millisecond))

	topicReplicated(t, cfg)
	ctx := context.Background()
	if ok, err := s.st.ScriptsLoaded(ctx); err != nil || !ok {
		t.Fatalf("scripts on every master: %v, %v", ok, err)
	}
	t1 := time.Now()
	answers := s.rush(t, nil)
	rushed := time.Since(t1)
	tally, perGateway := map[string]int{}, make([]int, gateways)
	for _, a := range answers {
		tally[fmt.Sprintf("%d %s", a.status, a.code)]++
		if a.status == 202 {
			perGateway[a.gateway]++
		}
	}
	t.Logf("%d requests in %s: %v; 202s per gateway %v", len(answers), rushed.Round(time.Millisecond), tally, perGateway)
	for g, n := range perGateway {
		if n == 0 {
			t.Errorf("gateway %d admitted nobody", g)
		}
	}
	audits := s.settle(t, answers)
	for c := int64(1); c <= concerts; c++ {
		a := audits[c]
		switch {
		case a.active > capacity:
			t.Errorf("oversold: %s", a)
		case a.redisStock+a.active != capacity || a.dbRemaining != a.redisStock:
			t.Errorf("leak: %s", a)
		case a.duplicates != 0 || a.lost != 0 || a.extra != 0 || a.undoubted != 0 || a.failed != 0:
			t.Errorf("rows do not match the answers: %s", a)
		case a.accepted != capacity:
			t.Errorf("not sold out exactly (%d members for %d seats): %s", members, capacity, a)
		}
	}
	var rep bytes.Buffer
	if err := app.ReconcileTo(ctx, cfg, testLog(), &rep); err != nil {
		t.Errorf("reconcile after the rush: %v\n%s", err, rep.String())
	}
}

// TestClusterLocker: the distlock's wake-up travels by pub/sub. On a cluster
// the waiter's subscription is on one node and the release is published on
// the master of the concert's slot; a PUBLISH reaches every node, so a
// waiter of each concert (whatever its master) is woken at the release, long
// before the holder's lease would run out.
func TestClusterLocker(t *testing.T) {
	cfg, rdb := clusterConfig(t)
	st := stock.Dial(stock.Options{Addr: cfg.RedisAddr, Prefix: cfg.RedisPrefix, Timeout: time.Second})
	defer st.Close()
	ctx := context.Background()
	if err := st.LoadScripts(ctx); err != nil {
		t.Fatal(err)
	}
	const lease = 10 * time.Second
	locks, err := st.NewLocker(ctx, stock.LockOptions{Lease: lease, Wait: lease})
	if err != nil {
		t.Fatal(err)
	}
	defer locks.Close()
	// One concert per master.
	var picked []int64
	seen := map[string]bool{}
	for c, m := range masterOf(t, rdb, cfg.RedisPrefix) {
		if !seen[m] {
			seen[m] = true
			picked = append(picked, c)
		}
	}
	for _, c := range picked {
		held, err := locks.Lock(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan time.Duration, 1)
		go func() {
			t0 := time.Now()
			l, err := locks.Lock(ctx, c)
			if err != nil {
				t.Error(err)
				got <- -1
				return
			}
			got <- time.Since(t0)
			l.Unlock(ctx)
		}()
		time.Sleep(200 * time.Millisecond)
		if err := held.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
		if d := <-got; d < 0 || d > 2*time.Second {
			t.Errorf("concert %d: the waiter got the lock after %s: not woken by the release (lease %s)", c, d, lease)
		}
	}
}

// topicReplicated checks what seed made of the reservations topic on three
// brokers: every partition on 3 replicas, min.insync.replicas 2.
func topicReplicated(t *testing.T, cfg config.Config) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cfg.KafkaBrokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	md, err := admin.DescribeTopics([]string{cfg.Topic})
	if err != nil || len(md) != 1 {
		t.Fatalf("describe %s: %v", cfg.Topic, err)
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != 3 {
			t.Errorf("%s partition %d: replicas %v, want 3", cfg.Topic, p.ID, p.Replicas)
		}
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: cfg.Topic, ConfigNames: []string{"min.insync.replicas"}})
	if err != nil || len(entries) != 1 || entries[0].Value != "2" {
		t.Errorf("%s min.insync.replicas: %+v, %v; want 2", cfg.Topic, entries, err)
	}
}

// killMaster SIGKILLs the redis-server at addr (a master of the cluster of
// scripts/cluster.sh) and returns a function that starts it again from its
// own configuration; it comes back as a replica of the master that took over.
func killMaster(t *testing.T, addr string) (restart func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
				return v
			}
		}
		return ""
	}
	pid, err := strconv.Atoi(field("process_id"))
	conf := field("config_file")
	if err != nil || conf == "" {
		t.Fatalf("redis at %s: no pid or config file in INFO server", addr)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return func() {
		if out, err := exec.Command("redis-server", conf).CombinedOutput(); err != nil {
			t.Errorf("restart redis at %s: %v: %s", addr, err, out)
		}
	}
}

// TestClusterMasterFailover: the rush of TestClusterRush, and half-way the
// master with the most concerts is killed (SIGKILL). Its replica is promoted
// after cluster-node-timeout and go-redis follows it; a second rush after
// the promotion sells out what is left. Redis replication is asynchronous, so
// the promoted replica may have missed the last admissions of its master:
// their events are on Kafka and become rows, while the replica's stock still
// counts their seats as free. The test measures that figure per concert,
// checks that MySQL never oversells and that no 202 lost its row, and that
// reconcile names exactly the concerts that drifted (and --fix mends them).
func TestClusterMasterFailover(t *testing.T) {
	cfg, rdb := clusterConfig(t)
	s := start(t, cfg)
	masters := masterOf(t, rdb, cfg.RedisPrefix)
	perMaster := map[string]int{}
	for _, m := range masters {
		perMaster[m]++
	}
	victim := ""
	for m, n := range perMaster {
		if victim == "" || n > perMaster[victim] {
			victim = m
		}
	}
	var killedAt time.Time
	var restart func()
	answers := s.rush(t, func() {
		killedAt = time.Now()
		restart = killMaster(t, victim)
	})
	t.Cleanup(func() {
		// Leave the shared cluster whole: the old master rejoins as a replica.
		if restart != nil {
			restart()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := clusterOK(ctx, rdb); err != nil {
				t.Errorf("cluster after the restart: %v", err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := clusterOK(ctx, rdb); err != nil {
		t.Fatalf("no replica took over from %s: %v", victim, err)
	}
	promoted := time.Since(killedAt)
	// The rest of the seats, through the promoted replica.
	more := s.rush(t, nil)
	tally := map[string]int{}
	for _, a := range answers {
		tally[fmt.Sprintf("%d %s", a.status, a.code)]++
	}
	t.Logf("killed master %s (%d of %d concerts) half-way; cluster ok again %s later; first rush: %v", victim, perMaster[victim], concerts, promoted.Round(time.Millisecond), tally)
	tally = map[string]int{}
	for _, a := range more {
		tally[fmt.Sprintf("%d %s", a.status, a.code)]++
	}
	t.Logf("second rush (after the promotion): %v", tally)

	audits := s.settle(t, append(answers, more...))
	t.Logf("everything written and in step %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	drifted := map[int64]int64{}
	var missed, failed, transport int64
	for _, a := range append(answers, more...) {
		if strings.HasPrefix(a.code, "transport") {
			transport++
		}
	}
	for c := int64(1); c <= concerts; c++ {
		a := audits[c]
		if a.active > capacity {
			t.Errorf("oversold: %s", a)
		}
		if a.duplicates != 0 || a.lost != 0 || a.undoubted != 0 {
			t.Errorf("rows do not match the answers: %s", a)
		}
		if a.extra != 0 && transport == 0 {
			t.Errorf("rows of ids no client saw: %s", a)
		}
		// Seats the stock counts as free although MySQL has their rows:
		// admissions the promoted replica never heard of.
		if d := a.redisStock + a.active - capacity; d != 0 {
			drifted[c] = d
			missed += d
			if masters[c] != victim {
				t.Errorf("concert %d drifted by %d on a master that was not killed: %s", c, d, a)
			}
		}
		failed += int64(a.failed)
		if a.failed > 0 || a.redisStock+a.active != capacity {
			t.Logf("%s", a)
		}
	}
	t.Logf("admissions the promoted replica missed: %d over %d concerts %v; 202s whose row is FAILED: %d; transport errors: %d", missed, len(drifted), drifted, failed, transport)

	var rep bytes.Buffer
	err := app.ReconcileTo(ctx, cfg, testLog(), &rep)
	t.Logf("boxoffice reconcile:\n%s", rep.String())
	if (err == nil) != (len(drifted) == 0) {
		t.Errorf("reconcile said %v with %d concerts drifted", err, len(drifted))
	}
	if len(drifted) == 0 {
		return
	}
	fix := cfg
	fix.Fix = true
	rep.Reset()
	if err := app.ReconcileTo(ctx, fix, testLog(), &rep); err != nil {
		t.Errorf("reconcile --fix: %v\n%s", err, rep.String())
	}
	for c, a := range s.settle(t, append(answers, more...)) {
		if a.redisStock+a.active != capacity || a.dbRemaining != a.redisStock {
			t.Errorf("after reconcile --fix, concert %d: %s", c, a)
		}
	}
}

// TestClusterBucketRush: TestClusterRush with every concert's stock in 3
// buckets (seed --stock-buckets 3), each on its own master: the same audit
// holds per concert — exactly capacity admitted, no member twice, Redis's
// remaining (summed over the buckets) equal to MySQL's — and reconcile
// finds nothing to say.
func TestClusterBucketRush(t *testing.T) {
	cfg, rdb := clusterConfig(t)
	cfg.StockBuckets = 3
	s := start(t, cfg)
	ctx := context.Background()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for c := int64(1); c <= concerts; c++ {
		tags, err := rdb.Get(ctx, cfg.RedisPrefix+":{c"+strconv.FormatInt(c, 10)+"}:buckets").Result()
		if err != nil {
			t.Fatalf("concert %d: no layout: %v", c, err)
		}
		on := map[string]bool{}
		for _, tag := range strings.Fields(tags) {
			slot, err := rdb.ClusterKeySlot(ctx, tag).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range slots {
				if int64(r.Start) <= slot && slot <= int64(r.End) {
					on[r.Nodes[0].Addr] = true
				}
			}
		}
		if len(on) != 3 {
			t.Fatalf("concert %d: buckets %q on %d masters, want 3", c, tags, len(on))
		}
	}
	answers := s.rush(t, nil)
	tally := map[string]int{}
	byMember := map[[2]int64]int{}
	for _, a := range answers {
		tally[fmt.Sprintf("%d %s", a.status, a.code)]++
		if a.status == 202 {
			byMember[[2]int64{a.concert, a.member}]++
		}
	}
	t.Logf("%d requests: %v", len(answers), tally)
	for k, n := range byMember {
		if n > 1 {
			t.Errorf("concert %d member %d admitted %d times", k[0], k[1], n)
		}
	}
	audits := s.settle(t, answers)
	for c := int64(1); c <= concerts; c++ {
		a := audits[c]
		switch {
		case a.active > capacity:
			t.Errorf("oversold: %s", a)
		case a.redisStock+a.active != capacity || a.dbRemaining != a.redisStock:
			t.Errorf("leak: %s", a)
		case a.duplicates != 0 || a.lost != 0 || a.extra != 0 || a.undoubted != 0 || a.failed != 0:
			t.Errorf("rows do not match the answers: %s", a)
		case a.accepted != capacity:
			t.Errorf("not sold out exactly (%d members for %d seats): %s", members, capacity, a)
		}
	}
	var rep bytes.Buffer
	if err := app.ReconcileTo(ctx, cfg, testLog(), &rep); err != nil {
		t.Errorf("reconcile after the rush: %v\n%s", err, rep.String())
	}
}
