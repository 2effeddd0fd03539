package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The --cluster set's services: a Redis Cluster (3 masters, each with a
// replica) and three KRaft brokers started by scripts/cluster.sh on blocks
// of free ports in a state directory of the run's own — never the shared
// cluster's 7101/19101, whose nodes other tests use — and a MariaDB of
// services.sh. They are started once for the whole set; what a scenario
// killed is started again before the next (heal).

const (
	redisNodes = 6
	brokers    = 3
	// redisBusOffset: each node's cluster bus listens on its port + 10000.
	redisBusOffset = 10000
)

// multiPorts picks the blocks: six Redis ports (and their bus ports), three
// broker ports, three controller ports, and MariaDB's.
func (c *cluster) multiPorts() error {
	c.multi = true
	low := ephemeralLow()
	var err error
	// The bus ports too must stay below the ephemeral range.
	if c.redisBase, err = freeBlock(redisNodes, low-redisBusOffset-redisNodes, redisBusOffset); err != nil {
		return fmt.Errorf("redis ports: %w", err)
	}
	if c.kafkaBase, err = freeBlock(brokers, low-brokers); err != nil {
		return fmt.Errorf("kafka ports: %w", err)
	}
	for {
		if c.kafkaCBase, err = freeBlock(brokers, low-brokers); err != nil {
			return fmt.Errorf("kafka controller ports: %w", err)
		}
		if c.kafkaCBase+brokers <= c.kafkaBase || c.kafkaBase+brokers <= c.kafkaCBase {
			break
		}
	}
	for {
		p, err := freePorts(1)
		if err != nil {
			return err
		}
		if !c.inBlocks(p[0]) {
			c.mysqlPort = p[0]
			return nil
		}
	}
}

func (c *cluster) inBlocks(p int) bool {
	in := func(base, n int) bool { return p >= base && p < base+n }
	return in(c.redisBase, redisNodes) || in(c.redisBase+redisBusOffset, redisNodes) ||
		in(c.kafkaBase, brokers) || in(c.kafkaCBase, brokers)
}

// freeBlock finds n consecutive free ports from portFloor to below top
// (each also free at +also, when given), holding none of them: scripts bind
// them a moment later.
func freeBlock(n, top int, also ...int) (int, error) {
	if top <= portFloor {
		return 0, errors.New("no room below the ephemeral range")
	}
	for tries := 0; tries < 200; tries++ {
		base := portFloor + rand.IntN(top-portFloor)
		ok := true
		for i := 0; i < n && ok; i++ {
			ok = portFree(base + i)
			for _, off := range also {
				ok = ok && portFree(base+i+off)
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports", n)
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// multiEnv is what scripts/cluster.sh and services.sh read for this run.
func (c *cluster) multiEnv() []string {
	return []string{
		"BOX_SERVICES_DIR=" + filepath.Join(c.dir, "services"),
		"BOX_CLUSTER_REDIS_PORT=" + strconv.Itoa(c.redisBase),
		"BOX_CLUSTER_KAFKA_PORT=" + strconv.Itoa(c.kafkaBase),
		"BOX_CLUSTER_KAFKA_CONTROLLER_PORT=" + strconv.Itoa(c.kafkaCBase),
		"BOX_MYSQL_PORT=" + strconv.Itoa(c.mysqlPort),
		// Brokers are stopped only at the end, their data thrown away:
		// a clean shutdown is not worth waiting 15 s for.
		"BOX_KAFKA_STOP_TIMEOUT=5",
	}
}

func (c *cluster) redisPorts() []int {
	var out []int
	for i := range redisNodes {
		out = append(out, c.redisBase+i)
	}
	return out
}

func (c *cluster) redisNodes() []string {
	var out []string
	for _, p := range c.redisPorts() {
		out = append(out, "127.0.0.1:"+strconv.Itoa(p))
	}
	return out
}

func (c *cluster) brokers() []string {
	var out []string
	for i := range brokers {
		out = append(out, "127.0.0.1:"+strconv.Itoa(c.kafkaBase+i))
	}
	return out
}

// clusterSh runs scripts/cluster.sh with this run's ports and directory.
func (c *cluster) clusterSh(ctx context.Context, verb string, names ...string) error {
	return c.shell(ctx, "services.log", "bash", append([]string{c.script("cluster.sh"), verb}, names...)...)
}

// startMulti starts the Redis Cluster and the brokers (cluster.sh forms
// the cluster while the JVMs start) beside MariaDB.
func (c *cluster) startMulti(ctx context.Context) error {
	db := make(chan error, 1)
	go func() { db <- c.services(ctx, "start", "mariadb") }()
	err := c.clusterSh(ctx, "start")
	return errors.Join(err, <-db)
}

// setScenario sends the processes' logs, the harness's ids and report of
// the next scenario to a folder of its own.
func (c *cluster) setScenario(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs = filepath.Join(c.dir, "logs", name)
	c.nextID = map[string]int{}
	return os.MkdirAll(c.logs, 0o755)
}

// node is one Redis Cluster node as CLUSTER NODES describes it.
type node struct {
	id, addr string
	master   bool
	failed   bool
	of       string // a replica's master's id
	slots    [][2]int
}

// clusterNodes asks the first node that answers for the cluster's view.
func (c *cluster) clusterNodes() ([]node, error) {
	var last error
	for _, addr := range c.redisNodes() {
		out, err := redisCmd(addr, "CLUSTER", "NODES")
		if err != nil {
			last = err
			continue
		}
		return parseNodes(out), nil
	}
	return nil, fmt.Errorf("no Redis node answers CLUSTER NODES: %w", last)
}

// parseNodes reads CLUSTER NODES: "<id> <ip:port@bus> <flags> <master id>
// <ping> <pong> <epoch> <link> <slot ranges...>" a line.
func parseNodes(out string) []node {
	var nodes []node
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := node{id: f[0], addr: strings.SplitN(f[1], "@", 2)[0], of: f[3]}
		flags := strings.Split(f[2], ",")
		n.master = slices.Contains(flags, "master")
		n.failed = slices.Contains(flags, "fail") || slices.Contains(flags, "fail?")
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				n.slots = append(n.slots, [2]int{a, b})
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// masterOfSlot is the live master serving slot ("" if none).
func masterOfSlot(nodes []node, slot int) string {
	for _, n := range nodes {
		if !n.master || n.failed {
			continue
		}
		for _, r := range n.slots {
			if slot >= r[0] && slot <= r[1] {
				return n.addr
			}
		}
	}
	return ""
}

// concertSlot is the hash slot of a concert's keys: they all carry the tag
// {c<id>} (stock's key scheme), whatever the prefix.
func (c *cluster) concertSlot(concert int) (int, error) {
	out, err := redisCmd(c.redisNodes()[0], "CLUSTER", "KEYSLOT", "{c"+strconv.Itoa(concert)+"}")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(out)
}

// concertMasters names the master of each concert 1..n.
func (c *cluster) concertMasters(n int) (map[int]string, error) {
	nodes, err := c.clusterNodes()
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for id := 1; id <= n; id++ {
		slot, err := c.concertSlot(id)
		if err != nil {
			return nil, err
		}
		out[id] = masterOfSlot(nodes, slot)
	}
	return out, nil
}

// allSlotsServed waits until live masters other than gone serve all 16384
// slots: after a master's kill (gone), until its replica has been promoted
// (the others see the kill only after cluster-node-timeout).
func (c *cluster) allSlotsServed(ctx context.Context, d time.Duration, gone string) error {
	return waitUntil(ctx, d, "every slot served by a live master", func() error {
		nodes, err := c.clusterNodes()
		if err != nil {
			return err
		}
		served := 0
		for _, n := range nodes {
			if n.master && !n.failed && n.addr != gone {
				for _, r := range n.slots {
					served += r[1] - r[0] + 1
				}
			}
		}
		if served != 16384 {
			return fmt.Errorf("%d of 16384 slots served", served)
		}
		return nil
	})
}

// replicaOf is the address of master's replica.
func (c *cluster) replicaOf(master string) (string, error) {
	nodes, err := c.clusterNodes()
	if err != nil {
		return "", err
	}
	var id string
	for _, n := range nodes {
		if n.addr == master {
			id = n.id
		}
	}
	for _, n := range nodes {
		if !n.master && id != "" && n.of == id && !n.failed {
			return n.addr, nil
		}
	}
	return "", fmt.Errorf("no live replica of %s", master)
}

// redisPid is a node's pid, from INFO server.
func redisPid(addr string) (int, error) {
	info, err := redisInfo(addr, "server")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(info["process_id"])
	if err != nil {
		return 0, fmt.Errorf("redis %s: no process_id in INFO server", addr)
	}
	return pid, nil
}

// killRedisNode kills the redis-server at addr with SIGKILL (its pid from
// INFO server) and waits for it to be gone.
func (c *cluster) killRedisNode(ctx context.Context, addr string) error {
	pid, err := redisPid(addr)
	if err != nil {
		return err
	}
	return killPid(ctx, pid)
}

// killBroker kills broker n (1..3) with SIGKILL, its pid from kafka.sh's file.
func (c *cluster) killBroker(ctx context.Context, n int) error {
	b, err := os.ReadFile(filepath.Join(c.dir, "services", "kafka-cluster-"+strconv.Itoa(n), "kafka.pid"))
	if err != nil {
		return fmt.Errorf("broker %d pid: %w", n, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("broker %d pid: %w", n, err)
	}
	return killPid(ctx, pid)
}

func killPid(ctx context.Context, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return waitUntil(ctx, 30*time.Second, "pid "+strconv.Itoa(pid)+" gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return errors.New("still running")
		}
		return nil
	})
}

// heal starts again whatever a scenario killed: cluster.sh start is
// idempotent, restarts a stopped Redis node from its own configuration (a
// killed master rejoins as a replica of the one that took over) and a
// stopped broker, and waits until the cluster is ok.
func (c *cluster) heal(ctx context.Context) error {
	if err := c.clusterSh(ctx, "start"); err != nil {
		return err
	}
	return c.allSlotsServed(ctx, time.Minute, "")
}

// redisCmd sends one command (arguments without spaces) over a plain
// connection and returns a simple, integer or bulk reply as text.
func redisCmd(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(conn, strings.Join(args, " ")+"\r\n"); err != nil {
		return "", err
	}
	rd := bufio.NewReader(conn)
	head, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimRight(head, "\r\n")
	if head == "" {
		return "", errors.New("empty reply")
	}
	switch head[0] {
	case '+', ':':
		return head[1:], nil
	case '-':
		return "", fmt.Errorf("%s: %s", strings.Join(args, " "), head[1:])
	case '$':
		n, err := strconv.Atoi(head[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: reply %q", args[0], head)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(rd, body); err != nil {
			return "", err
		}
		return string(body), nil
	}
	return "", fmt.Errorf("%s: reply %q", args[0], head)
}
