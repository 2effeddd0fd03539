package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cluster is one scenario's whole system on services of its own: a
// redis-server, a MariaDB and a Kafka broker on free loopback ports with
// their state in a temporary directory, and gateways and writers as
// processes of the boxoffice binary, so that kill -9 is a real one. Nothing
// of it touches the shared services (6379, 3306, 9092) or the BOX_*
// variables that point at them.
type cluster struct {
	o    Options
	name string
	dir  string // everything: services/, redis/, logs/
	logs string

	redisPort, mysqlPort, kafkaPort, kafkaCPort int
	aof                                         bool
	// multi: a Redis Cluster and three brokers of scripts/cluster.sh
	// (faults --cluster), on the blocks of ports that start at these.
	multi                            bool
	redisBase, kafkaBase, kafkaCBase int
	// concerts are rushed (1..concerts); the probes have concert+1.
	concerts int
	// probeMember is the last member a probe reserved for (the cluster
	// set's scenarios share the probes' concert: each member once).
	probeMember atomic.Int64

	mu       sync.Mutex
	redis    *proc
	gateways []*proc
	writers  []*proc
	nextID   map[string]int
}

// proc is one process the cluster started.
type proc struct {
	name string
	addr string // HTTP address (gateway: API; writer: metrics)
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	log  *os.File
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks with SIGTERM, and kills after wait.
func (p *proc) stop(wait time.Duration) {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.kill()
	}
}

// serviceTimeout bounds one start or stop of a service by the scripts (a
// broker's start on a busy 2-core machine takes 5–30 s).
const serviceTimeout = 3 * time.Minute

// newCluster makes the directory and the reaper; start brings the services up.
func newCluster(o Options, name string, aof bool) (*cluster, error) {
	dir, err := os.MkdirTemp(o.Dir, "boxoffice-faults-"+name+"-")
	if err != nil {
		return nil, err
	}
	c := &cluster{o: o, name: name, dir: dir, logs: filepath.Join(dir, "logs"), aof: aof, nextID: map[string]int{}, concerts: o.concerts()}
	for _, d := range []string{c.logs, filepath.Join(dir, "redis"), filepath.Join(dir, "services")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	c.probeMember.Store(probeMembers)
	if o.Cluster {
		err = c.multiPorts()
	} else {
		var ports []int
		ports, err = freePorts(4)
		if err == nil {
			c.redisPort, c.mysqlPort, c.kafkaPort, c.kafkaCPort = ports[0], ports[1], ports[2], ports[3]
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.startReaper(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// reaper is a shell in a session of its own that outlives this process: if
// it dies without cleaning up (kill -9, a test binary's timeout panic), the
// reaper kills what it started and stops the services, so that no broker or
// database is left running on the machine. A clean close removes the
// directory first, and the reaper then just exits.
// With --cluster, cluster.env (the ports) is there, and cluster.sh stops
// the Redis Cluster and the brokers, which run as daemons of their own.
const reaper = `parent=$1 dir=$2 services=$3 clustersh=$4
while kill -0 "$parent" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
[ -d "$dir" ] || exit 0
for p in $(cat "$dir/pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
if [ -f "$dir/cluster.env" ]; then
  (set -a; . "$dir/cluster.env"; BOX_KAFKA_STOP_TIMEOUT=10 timeout 120 bash "$clustersh" stop >/dev/null 2>&1)
fi
BOX_SERVICES_DIR="$dir/services" BOX_KAFKA_STOP_TIMEOUT=10 timeout 120 bash "$services" stop >/dev/null 2>&1
rm -rf "$dir"`

func (c *cluster) startReaper() error {
	if c.multi {
		// Written before anything starts, so that the reaper always knows
		// the ports of what cluster.sh may have started.
		var b strings.Builder
		for _, kv := range c.multiEnv() {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&b, "%s=%s\n", k, strconv.Quote(v))
		}
		if err := os.WriteFile(filepath.Join(c.dir, "cluster.env"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command("bash", "-c", reaper, "reaper", strconv.Itoa(os.Getpid()), c.dir, c.script("services.sh"), c.script("cluster.sh"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	return cmd.Process.Release()
}

func (c *cluster) script(name string) string { return filepath.Join(c.o.Scripts, name) }

// notePid records a child for the reaper.
func (c *cluster) notePid(pid int) {
	f, err := os.OpenFile(filepath.Join(c.dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintln(f, pid)
	f.Close()
}

// start brings up Redis, then MariaDB and Kafka through scripts/services.sh
// (which initialises a datadir with mariadb-install-db and runs mariadbd
// with its own my.cnf, and starts a named broker with scripts/kafka.sh), all
// on this cluster's ports and directory; it finds our Redis already
// answering and leaves it to us. Then the schema, two concerts and the
// topics (boxoffice seed).
func (c *cluster) start(ctx context.Context, probeCapacity int) error {
	if c.multi {
		if err := c.startMulti(ctx); err != nil {
			return err
		}
	} else {
		if err := c.startRedis(ctx); err != nil {
			return err
		}
		if err := c.services(ctx, "start"); err != nil {
			return err
		}
	}
	if err := c.runBin(ctx, "migrate"); err != nil {
		return err
	}
	// Concerts 1..c.concerts are the rush's (the harness resets them to
	// their capacity); the one after is the probes'.
	return c.runBin(ctx, "seed", "--concerts", strconv.Itoa(c.probeConcert()), "--capacity", strconv.Itoa(probeCapacity), "--members", "1")
}

// probeConcert is the probes' concert, after the rush's.
func (c *cluster) probeConcert() int { return c.concerts + 1 }

// services runs scripts/services.sh with this cluster's directory and ports
// (on the services named, default all three).
func (c *cluster) services(ctx context.Context, verb string, names ...string) error {
	return c.shell(ctx, "services.log", "bash", append([]string{c.script("services.sh"), verb}, names...)...)
}

// kafka runs scripts/kafka.sh on this cluster's broker (services.sh names it "main").
func (c *cluster) kafka(ctx context.Context, verb string) error {
	args := []string{c.script("kafka.sh"), verb, "main"}
	if verb == "start" {
		args = append(args, strconv.Itoa(c.kafkaPort), strconv.Itoa(c.kafkaCPort))
	}
	return c.shell(ctx, "services.log", "bash", args...)
}

func (c *cluster) shell(ctx context.Context, logName, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceTimeout)
	defer cancel()
	f, err := os.OpenFile(filepath.Join(c.dir, "logs", logName), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n$ %s %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = c.serviceEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w (see %s)", filepath.Base(args[0]), strings.Join(args[1:], " "), err, f.Name())
	}
	return nil
}

// cleanEnv is this process's environment without any BOX_* variable: those
// name the shared services, which no scenario may reach.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BOX_") {
			env = append(env, kv)
		}
	}
	return env
}

func (c *cluster) serviceEnv() []string {
	if c.multi {
		return append(cleanEnv(), c.multiEnv()...)
	}
	return append(cleanEnv(),
		"BOX_SERVICES_DIR="+filepath.Join(c.dir, "services"),
		"BOX_REDIS_PORT="+strconv.Itoa(c.redisPort),
		"BOX_MYSQL_PORT="+strconv.Itoa(c.mysqlPort),
		"BOX_KAFKA_PORT="+strconv.Itoa(c.kafkaPort),
		"BOX_KAFKA_CONTROLLER_PORT="+strconv.Itoa(c.kafkaCPort),
		// A stop that waits 30 s for a broker's clean shutdown would
		// stretch every scenario; 15 s is plenty for one node.
		"BOX_KAFKA_STOP_TIMEOUT=15",
	)
}

func (c *cluster) redisAddr() string {
	if c.multi {
		return strings.Join(c.redisNodes(), ",")
	}
	return "127.0.0.1:" + strconv.Itoa(c.redisPort)
}

func (c *cluster) kafkaAddr() string {
	if c.multi {
		return strings.Join(c.brokers(), ",")
	}
	return "127.0.0.1:" + strconv.Itoa(c.kafkaPort)
}
func (c *cluster) mysqlDSN() string {
	return "boxoffice:boxoffice@tcp(127.0.0.1:" + strconv.Itoa(c.mysqlPort) + ")/boxoffice?parseTime=true"
}

// binEnv is the environment of the boxoffice processes: this cluster's
// services and the scenario's grace.
func (c *cluster) binEnv() []string {
	env := append(cleanEnv(),
		"BOX_REDIS_ADDR="+c.redisAddr(),
		"BOX_KAFKA_BROKERS="+c.kafkaAddr(),
		"BOX_MYSQL_DSN="+c.mysqlDSN(),
		"BOX_INFLIGHT_GRACE="+c.o.Grace.String(),
	)
	if c.multi {
		// What scripts/cluster.sh env says: every partition on the three
		// brokers, a write acknowledged by two, so that one broker down
		// loses nothing and stops nothing.
		env = append(env, "BOX_REPLICATION_FACTOR=3", "BOX_MIN_INSYNC_REPLICAS=2")
	}
	return env
}

// runBin runs a boxoffice command to its end.
func (c *cluster) runBin(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	f, err := os.OpenFile(filepath.Join(c.logs, args[0]+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, c.o.Bin, args...)
	cmd.Env = c.binEnv()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("boxoffice %s: %w (see %s)", strings.Join(args, " "), err, f.Name())
	}
	return nil
}

// spawn starts a long-running child. It dies with this process
// (Pdeathsig), has a process group of its own (a Ctrl-C reaches this process
// first, which stops its children in order), and is known to the reaper.
func (c *cluster) spawn(kind, addr string, bin string, args []string, env []string) (*proc, error) {
	c.mu.Lock()
	c.nextID[kind]++
	name := fmt.Sprintf("%s-%d", kind, c.nextID[kind])
	c.mu.Unlock()
	f, err := os.Create(filepath.Join(c.logs, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c.notePid(cmd.Process.Pid)
	p := &proc{name: name, addr: addr, cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// startRedis starts redis-server on the cluster's port and directory. With
// aof, every write goes to an append-only file fsynced as o.AppendFsync says
// (everysec: once a second), and a restart replays it; without, nothing is
// kept.
func (c *cluster) startRedis(ctx context.Context) error {
	args := []string{"--port", strconv.Itoa(c.redisPort), "--bind", "127.0.0.1", "--dir", filepath.Join(c.dir, "redis"),
		"--save", "", "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "10000"}
	if c.aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", c.o.AppendFsync)
	} else {
		args = append(args, "--appendonly", "no")
	}
	p, err := c.spawn("redis", c.redisAddr(), "redis-server", args, cleanEnv())
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.redis = p
	c.mu.Unlock()
	return waitUntil(ctx, 30*time.Second, "redis answers PING", func() error {
		if !p.alive() {
			return errStop{fmt.Errorf("redis-server exited (see %s)", p.log.Name())}
		}
		return redisPing(c.redisAddr())
	})
}

// killRedis kills redis-server with SIGKILL: nothing is flushed.
func (c *cluster) killRedis() {
	c.mu.Lock()
	p := c.redis
	c.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// wipeRedis removes whatever Redis kept on disk (with aof off: nothing; the
// removal makes sure).
func (c *cluster) wipeRedis() error {
	d := filepath.Join(c.dir, "redis")
	if err := os.RemoveAll(d); err != nil {
		return err
	}
	return os.MkdirAll(d, 0o755)
}

// redisPing sends one PING over a plain connection (the fault suite does
// not speak Redis otherwise; stock does).
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		// A Redis loading its append-only file answers -LOADING.
		return fmt.Errorf("PING: %s", strings.TrimSpace(line))
	}
	return nil
}

// redisInfo reads fields of one INFO section over a plain connection.
func redisInfo(addr, section string) (map[string]string, error) {
	body, err := redisCmd(addr, "INFO", section)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(body, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// mysqlPid is mariadbd's pid, from the file services.sh has it write.
func (c *cluster) mysqlPid() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "services", "mariadb", "mariadbd.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stopMySQL stops mariadbd cleanly (SIGTERM, as services.sh stop does) and
// waits for it to exit.
func (c *cluster) stopMySQL(ctx context.Context) error {
	pid, err := c.mysqlPid()
	if err != nil {
		return fmt.Errorf("mariadbd pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop mariadbd: %w", err)
	}
	return waitUntil(ctx, serviceTimeout, "mariadbd exits", func() error {
		if syscall.Kill(pid, 0) == nil {
			return errors.New("still running")
		}
		return nil
	})
}

// startGateway starts a gateway and waits until /readyz answers 200.
func (c *cluster) startGateway(ctx context.Context) (*proc, error) {
	port, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port[0])
	p, err := c.spawn("gateway", addr, c.o.Bin, []string{"gateway"}, append(c.binEnv(), "BOX_HTTP_ADDR="+addr, "BOX_ADMIN_ADDR=127.0.0.1:0", "BOX_TRUST_BODY_MEMBER=true", "BOX_ADDRESS_RATE=0", "BOX_MAX_CONNS_PER_ADDRESS=0") /* a load generator: members from the body */)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.gateways = append(c.gateways, p)
	c.mu.Unlock()
	return p, waitHTTP(ctx, p, "http://"+addr+"/readyz")
}

// startWriter starts a writer of the group and waits until it serves /healthz.
func (c *cluster) startWriter(ctx context.Context) (*proc, error) {
	port, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port[0])
	p, err := c.spawn("writer", addr, c.o.Bin, []string{"writer"}, append(c.binEnv(), "BOX_METRICS_ADDR="+addr))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.writers = append(c.writers, p)
	c.mu.Unlock()
	return p, waitHTTP(ctx, p, "http://"+addr+"/healthz")
}

// groupBalanced waits until the writers' consumer group has want members
// and each holds a partition, as Kafka's own group tool describes it, so
// that a writer killed afterwards is known to have had partitions to lose.
func (c *cluster) groupBalanced(ctx context.Context, want int) error {
	return waitUntil(ctx, 90*time.Second, fmt.Sprintf("consumer group of %d writers, each with partitions", want), func() error {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(tctx, "bash", c.script("kafka.sh"), "tool", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
			"--bootstrap-server", c.kafkaAddr(), "--describe", "--group", "boxoffice-writer", "--members")
		cmd.Env = c.serviceEnv()
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("describe group: %w", err)
		}
		members, withPartitions := 0, 0
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 || f[0] != "boxoffice-writer" {
				continue
			}
			members++
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil && n > 0 {
				withPartitions++
			}
		}
		if members != want || withPartitions != want {
			return fmt.Errorf("%d members, %d with partitions", members, withPartitions)
		}
		return nil
	})
}

// liveGateways are the gateways still running.
func (c *cluster) liveGateways() []*proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*proc
	for _, g := range c.gateways {
		if g.alive() {
			out = append(out, g)
		}
	}
	return out
}

func waitHTTP(ctx context.Context, p *proc, url string) error {
	hc := &http.Client{Timeout: time.Second}
	return waitUntil(ctx, 90*time.Second, p.name+" ready", func() error {
		if !p.alive() {
			return errStop{fmt.Errorf("%s exited (see %s)", p.name, p.log.Name())}
		}
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	})
}

// stopProcs stops the gateways and writers (SIGTERM, kill after 10 s) and
// forgets them: a scenario of the --cluster set starts its own.
func (c *cluster) stopProcs() {
	c.mu.Lock()
	procs := append(append([]*proc{}, c.gateways...), c.writers...)
	c.gateways, c.writers = nil, nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(10 * time.Second) })
	}
	wg.Wait()
}

// close stops everything (processes, then the services), keeps the logs in
// o.LogDir/<scenario> when asked, and removes the directory.
func (c *cluster) close() {
	c.stopProcs()
	c.mu.Lock()
	redis := c.redis
	c.mu.Unlock()
	// A fresh context: close runs when the scenario's may be cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), serviceTimeout)
	defer cancel()
	var err error
	if c.multi {
		db := make(chan error, 1)
		go func() { db <- c.services(ctx, "stop", "mariadb") }()
		err = errors.Join(c.clusterSh(ctx, "stop"), <-db)
	} else {
		err = c.services(ctx, "stop")
	}
	if err != nil {
		fmt.Fprintf(c.o.Log, "  %s: %v\n", c.name, err)
	}
	if redis != nil {
		redis.kill()
	}
	if c.o.LogDir != "" {
		c.keepLogs()
	}
	os.RemoveAll(c.dir)
}

// keepLogs copies the processes' and services' logs out of the directory.
func (c *cluster) keepLogs() {
	dst := filepath.Join(c.o.LogDir, c.name)
	srcs, _ := filepath.Glob(filepath.Join(c.dir, "logs", "*"))
	if c.multi {
		// The set's: a folder a scenario, and services/ for what they share.
		for _, src := range srcs {
			_ = os.RemoveAll(filepath.Join(c.o.LogDir, filepath.Base(src)))
			copyLog(src, filepath.Join(c.o.LogDir, filepath.Base(src)))
		}
		srcs, dst = nil, filepath.Join(c.o.LogDir, "services")
	}
	_ = os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return
	}
	srcs = append(srcs,
		filepath.Join(c.dir, "services", "mariadb", "mariadbd.err"),
		filepath.Join(c.dir, "services", "kafka-main", "logs", "server.log"))
	if c.multi {
		for _, p := range c.redisPorts() {
			srcs = append(srcs, filepath.Join(c.dir, "services", "redis-cluster", strconv.Itoa(p), "redis.log"))
		}
		for n := 1; n <= 3; n++ {
			srcs = append(srcs, filepath.Join(c.dir, "services", "kafka-cluster-"+strconv.Itoa(n), "logs", "server.log"))
		}
	}
	for _, src := range srcs {
		copyLog(src, filepath.Join(dst, logName(c.dir, src)))
	}
}

// logName is a kept log's name: a scenario's folder keeps its name; a
// service's log is named for its service (redis-7101.log, kafka-cluster-2.log).
func logName(dir, src string) string {
	rel, err := filepath.Rel(filepath.Join(dir, "services"), src)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.Base(src)
	}
	parts := strings.Split(rel, string(filepath.Separator))
	switch {
	case parts[0] == "redis-cluster" && len(parts) > 1:
		return "redis-" + parts[1] + ".log"
	case strings.HasPrefix(parts[0], "kafka-cluster-"):
		return parts[0] + ".log"
	}
	return filepath.Base(src)
}

// copyLog copies a file, or a folder of them, if it is there.
func copyLog(src, dst string) {
	fi, err := os.Stat(src)
	if err != nil {
		return
	}
	if fi.IsDir() {
		if os.MkdirAll(dst, 0o755) != nil {
			return
		}
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			copyLog(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
		}
		return
	}
	if b, err := os.ReadFile(src); err == nil {
		_ = os.WriteFile(dst, b, 0o644)
	}
}

// freePorts returns n loopback ports nobody listens on right now, all
// different, taken below the kernel's ephemeral range: a port from that
// range (what listening on :0 gives) can be taken, between our check and the
// service's bind, by the source port of any outgoing connection — it
// happened to MariaDB here. Each listener is held until all are picked.
func freePorts(n int) ([]int, error) {
	low := ephemeralLow()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("no free port below the ephemeral range")
		}
		port := portFloor + rand.IntN(low-portFloor)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	return ports, nil
}

// portFloor keeps clear of the well-known and commonly configured ports
// (3306, 6379, 8080, 9090–9094, …).
const portFloor = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > portFloor+1000 {
				return n
			}
		}
	}
	return 32768
}

// errStop ends a waitUntil at once: waiting longer cannot help.
type errStop struct{ error }

func (e errStop) Unwrap() error { return e.error }

// waitUntil polls f every 100 ms until it returns nil, d passes or ctx ends.
func waitUntil(ctx context.Context, d time.Duration, what string, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s: %w", what, d, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
