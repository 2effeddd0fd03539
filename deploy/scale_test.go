package deploy

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/servicetest"
)

// The tests of docker-compose.scale.yml's own parts: what makes --scale
// possible, the Redis Cluster, the three brokers, HAProxy and Prometheus's
// discovery of the replicas. The checks both files share (flags, start-up
// order, addresses, volumes, loopback ports) are in deploy_test.go.

// scaled are the subcommands whose services `--scale` multiplies.
var scaled = []string{"gateway", "writer"}

// TestComposeScaleReplicable: a service that --scale starts several of has
// no container name and no host port (either would clash at the second
// replica) and no fixed address on the network.
func TestComposeScaleReplicable(t *testing.T) {
	c := loadScale(t)
	for _, sub := range scaled {
		services := c.servicesRunning(sub)
		if len(services) == 0 {
			t.Errorf("no `boxoffice %s` service", sub)
		}
		for _, name := range services {
			s := c.Services[name]
			if s.ContainerName != "" {
				t.Errorf("service %s: container_name %q: a second replica could not start", name, s.ContainerName)
			}
			for _, p := range s.Ports {
				t.Errorf("service %s publishes %s:%d on the host: a second replica could not bind it (HAProxy is the way in; Prometheus reaches it on the network)", name, p.Published, p.Target)
			}
			for net, n := range s.Networks {
				if n != nil && (n.Ipv4Address != "" || n.Ipv6Address != "") {
					t.Errorf("service %s: fixed address on network %s: a second replica could not have it", name, net)
				}
			}
		}
	}
}

// TestComposeScaleGatewaysShareTheQueueKey: the gateways behind HAProxy
// sign and verify waiting-room passes with one key (BOX_QUEUE_SECRET, or the
// auth secret it is derived from); without it each replica would pick a
// random key and refuse the passes of the others.
func TestComposeScaleGatewaysShareTheQueueKey(t *testing.T) {
	c := loadScale(t)
	for _, name := range c.servicesRunning("gateway") {
		env := c.Services[name].Environment
		has := func(k string) bool { v, ok := env[k]; return ok && v != nil && *v != "" }
		if !has("BOX_QUEUE_SECRET") && !has("BOX_QUEUE_SECRET_FILE") && !has("BOX_AUTH_SECRET") && !has("BOX_AUTH_SECRET_FILE") {
			t.Errorf("service %s: no BOX_QUEUE_SECRET(_FILE) nor an auth secret: each replica would sign passes with a key of its own", name)
		}
	}
}

// clusterScript is scripts/cluster.sh, the reference for the cluster's
// settings.
func clusterScript(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoPath("scripts", "cluster.sh"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scriptValue returns the first submatch of re in scripts/cluster.sh.
func scriptValue(t *testing.T, script, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("scripts/cluster.sh: no match for %s (the test reads the cluster's settings from there)", re)
	}
	return m[1]
}

// redisNodes returns the services that run redis-server in the scale file.
func redisNodes(t *testing.T, c *composeFile) []string {
	t.Helper()
	var nodes []string
	for _, name := range c.servicesWithImage("redis") {
		if cmd := c.Services[name].Command; len(cmd) > 0 && cmd[0] == "redis-server" {
			nodes = append(nodes, name)
		}
	}
	return nodes
}

// TestComposeScaleRedisCluster: six nodes of the single Redis's image, each
// with scripts/cluster.sh's cluster settings, announcing its service name to
// clients and its fixed address (inside the network's subnet, outside the
// range Docker allocates from) to its peers; a one-shot that creates the
// cluster from those addresses with a replica per master; and every
// boxoffice service that talks to Redis seeded with all six and started
// only after the cluster is made.
func TestComposeScaleRedisCluster(t *testing.T) {
	c := loadScale(t)
	script := clusterScript(t)
	want := map[string]string{
		"cluster-enabled":                 "yes",
		"cluster-node-timeout":            scriptValue(t, script, `NODE_TIMEOUT=\$\{BOX_CLUSTER_NODE_TIMEOUT:-(\d+)\}`),
		"cluster-require-full-coverage":   scriptValue(t, script, `(?m)^cluster-require-full-coverage (\S+)$`),
		"cluster-preferred-endpoint-type": "hostname",
		"protected-mode":                  "no", // no password; the network is the boundary
	}
	if !strings.Contains(script, "cluster-node-timeout $NODE_TIMEOUT") {
		t.Fatal("scripts/cluster.sh no longer writes cluster-node-timeout $NODE_TIMEOUT; update this test")
	}
	replicas := scriptValue(t, script, `--cluster-replicas (\d+)`)

	nodes := redisNodes(t, c)
	if len(nodes) != 6 {
		t.Fatalf("%d redis-server services %v, want 6 (3 masters, 3 replicas, as scripts/cluster.sh)", len(nodes), nodes)
	}
	single := loadCompose(t).Services["redis"].Image
	subnet, allocated := defaultNetworkPools(t, c)
	var nodeAddrs, seeds []string
	for _, name := range nodes {
		s := c.Services[name]
		if s.Image != single {
			t.Errorf("service %s: image %s; docker-compose.yml's Redis is %s", name, s.Image, single)
		}
		got := redisSettings(t, c, name)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("service %s: %s %q, want %q", name, k, got[k], v)
			}
		}
		if got["cluster-announce-hostname"] != name {
			t.Errorf("service %s: cluster-announce-hostname %q, want its service name (what Docker's DNS resolves)", name, got["cluster-announce-hostname"])
		}
		port := got["port"]
		if port == "" {
			port = "6379"
		}
		n := s.Networks["default"]
		if n == nil || n.Ipv4Address == "" {
			t.Errorf("service %s: no fixed ipv4_address on the default network: the cluster bus's addresses in nodes.conf would change on every up", name)
			continue
		}
		ip, err := netip.ParseAddr(n.Ipv4Address)
		if err != nil {
			t.Errorf("service %s: ipv4_address %q: %v", name, n.Ipv4Address, err)
			continue
		}
		if !subnet.Contains(ip) || allocated.Contains(ip) {
			t.Errorf("service %s: address %s must be in the network's subnet %s and outside its ip_range %s (where Docker hands out the others' addresses)", name, ip, subnet, allocated)
		}
		if got["cluster-announce-ip"] != ip.String() {
			t.Errorf("service %s: cluster-announce-ip %q, want its fixed address %s", name, got["cluster-announce-ip"], ip)
		}
		nodeAddrs = append(nodeAddrs, net.JoinHostPort(ip.String(), port))
		seeds = append(seeds, net.JoinHostPort(name, port))
	}

	// The one-shot that makes the cluster.
	var inits []string
	for _, name := range c.servicesWithImage("redis") {
		if strings.Contains(strings.Join(c.Services[name].Command, " "), "--cluster create") {
			inits = append(inits, name)
		}
	}
	if len(inits) != 1 {
		t.Fatalf("services running redis-cli --cluster create: %v, want one", inits)
	}
	init := inits[0]
	is := c.Services[init]
	if is.Restart != "no" {
		t.Errorf("service %s: restart %q, want \"no\" (a one-shot)", init, is.Restart)
	}
	create := regexp.MustCompile(`--cluster create ((?:\S+:\d+ )+)`).FindStringSubmatch(strings.Join(is.Command, " "))
	if create == nil {
		t.Fatalf("service %s: cannot read the addresses of --cluster create in %q", init, is.Command)
	}
	if got := strings.Fields(create[1]); !sameSet(got, nodeAddrs) {
		t.Errorf("service %s: --cluster create %v, want the six nodes' fixed addresses %v (CLUSTER MEET takes IP addresses)", init, got, nodeAddrs)
	}
	if !strings.Contains(strings.Join(is.Command, " "), "--cluster-replicas "+replicas) {
		t.Errorf("service %s: want --cluster-replicas %s, as scripts/cluster.sh", init, replicas)
	}
	for _, name := range nodes {
		if got := is.DependsOn[name].Condition; got != "service_healthy" {
			t.Errorf("service %s: depends_on %s condition %q, want service_healthy", init, name, got)
		}
	}

	groups := subcommandGroups(t)
	for _, name := range c.boxofficeServices() {
		sub, cfg, problems := resolve(name, c.Services[name], groups)
		if len(problems) > 0 || groups[sub]&config.Redis == 0 {
			continue // problems: reported by TestComposeServicesUseKnownSubcommandsAndFlags
		}
		if got := strings.Split(cfg.RedisAddr, ","); !sameSet(got, seeds) {
			t.Errorf("service %s: BOX_REDIS_ADDR %v, want every node %v", name, got, seeds)
		}
		if !c.waitsFor(name, init) {
			t.Errorf("service %s talks to the cluster but does not wait (through depends_on) for %s to complete", name, init)
		}
	}
}

// defaultNetworkPools returns the subnet of the project's default network
// and the range Docker allocates containers' addresses from.
func defaultNetworkPools(t *testing.T, c *composeFile) (subnet, allocated netip.Prefix) {
	t.Helper()
	n, ok := c.Networks["default"]
	if !ok || len(n.Ipam.Config) != 1 {
		t.Fatalf("the default network needs one ipam pool with a subnet and an ip_range (got %+v)", n.Ipam)
	}
	pool := n.Ipam.Config[0]
	subnet, err := netip.ParsePrefix(pool.Subnet)
	if err != nil {
		t.Fatalf("default network subnet %q: %v", pool.Subnet, err)
	}
	allocated, err = netip.ParsePrefix(pool.IPRange)
	if err != nil {
		t.Fatalf("default network ip_range %q: %v (without one Docker may give a node's fixed address to another container)", pool.IPRange, err)
	}
	return subnet, allocated
}

// waitsFor reports whether service name starts only after dep, directly or
// through the services it waits for.
func (c *composeFile) waitsFor(name, dep string) bool {
	seen := map[string]bool{}
	var visit func(n string) bool
	visit = func(n string) bool {
		if seen[n] {
			return false
		}
		seen[n] = true
		for d := range c.Services[n].DependsOn {
			if d == dep || visit(d) {
				return true
			}
		}
		return false
	}
	return visit(name)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestComposeScaleRedisNodeStarts: the redis-server of this machine starts
// with a node's configuration file and command line (on a free loopback
// port instead of 6379) and runs with the cluster settings the file gives,
// so no option is misspelt or unknown to Redis 7.
func TestComposeScaleRedisNodeStarts(t *testing.T) {
	bin := lookRedis(t, "redis-server")
	c := loadScale(t)
	nodes := redisNodes(t, c)
	if len(nodes) == 0 {
		t.Fatal("no redis node")
	}
	name := nodes[0]
	want := redisSettings(t, c, name)
	port := servicetest.FreePort(t)
	rdb := startRedisNode(t, bin, append(nodeArgs(t, c, name), "--port", strconv.Itoa(port), "--bind", "127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if k == "port" || k == "maxclients" {
			continue // moved to a free port; lowered by Redis to the test's file limit
		}
		got, err := rdb.ConfigGet(ctx, k).Result()
		if err != nil {
			t.Errorf("CONFIG GET %s: %v", k, err)
			continue
		}
		if v, ok := got[k]; !ok || !strings.EqualFold(v, want[k]) {
			t.Errorf("%s: Redis runs with %q, the compose file says %q", k, v, want[k])
		}
	}
}

// TestComposeScaleRedisClusterAnnounce: six nodes with the compose file's
// configuration, announcing a host name as the compose nodes do (here
// "localhost", on loopback ports), made into a cluster by redis-cli as
// redis-cluster-init does: CLUSTER SLOTS and MOVED name the announced host,
// and go-redis's cluster client — the gateway's — seeded by name, follows
// them to every slot.
func TestComposeScaleRedisClusterAnnounce(t *testing.T) {
	bin := lookRedis(t, "redis-server")
	cliBin := lookRedis(t, "redis-cli")
	c := loadScale(t)
	nodes := redisNodes(t, c)
	if len(nodes) != 6 {
		t.Fatalf("%d redis nodes, want 6", len(nodes))
	}
	const host = "localhost"
	var seeds, ips []string
	var clients []*redis.Client
	for _, name := range nodes {
		args := nodeArgs(t, c, name)
		for i := 0; i+1 < len(args); i++ {
			switch args[i] {
			case "--cluster-announce-hostname":
				args[i+1] = host
			case "--cluster-announce-ip":
				args[i+1] = "127.0.0.1"
			}
		}
		port, bus := servicetest.FreePort(t), servicetest.FreePort(t)
		clients = append(clients, startRedisNode(t, bin, append(args,
			"--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1")))
		seeds = append(seeds, net.JoinHostPort(host, strconv.Itoa(port)))
		ips = append(ips, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := exec.CommandContext(ctx, cliBin, append(append([]string{"--cluster", "create"}, ips...), "--cluster-replicas", "1", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, rdb := range clients {
		for {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("cluster_state not ok: %v\n%s", err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	slots, err := clients[0].ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	masters := map[string]bool{}
	for _, s := range slots {
		for _, n := range s.Nodes {
			if h, _, _ := net.SplitHostPort(n.Addr); h != host {
				t.Errorf("CLUSTER SLOTS %d-%d names %s; want the announced host name %s (cluster-preferred-endpoint-type hostname): the name a gateway is seeded with and Docker resolves", s.Start, s.End, n.Addr, host)
			}
		}
		if len(s.Nodes) > 0 {
			masters[s.Nodes[0].Addr] = true
		}
	}
	if len(masters) != 3 {
		t.Errorf("%d masters %v, want 3", len(masters), sortedKeys(masters))
	}

	// A key another node owns: the redirect names the host too.
	moved := false
	for i := 0; i < 100 && !moved; i++ {
		err := clients[0].Get(ctx, fmt.Sprintf("k%d", i)).Err()
		if err != nil && strings.HasPrefix(err.Error(), "MOVED ") {
			moved = true
			if f := strings.Fields(err.Error()); len(f) != 3 || !strings.HasPrefix(f[2], host+":") {
				t.Errorf("redirect %q: want MOVED <slot> %s:<port>", err, host)
			}
		}
	}
	if !moved {
		t.Error("no MOVED from the first node in 100 keys")
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds, DialTimeout: 2 * time.Second})
	defer cc.Close()
	for i := range 100 {
		k := fmt.Sprintf("{c%d}:stock", i) // the hash tag of a concert's keys
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("cluster client SET %s: %v", k, err)
		}
		if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("cluster client GET %s: %d, %v", k, v, err)
		}
	}
}

// lookRedis finds a Redis binary (make services installs them).
func lookRedis(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		servicetest.Unavailable(t, name+" (for Redis nodes of the test's own)", err)
	}
	return bin
}

// nodeArgs returns the arguments of a node's redis-server, its
// configuration file replaced by the repository file it mounts.
func nodeArgs(t *testing.T, c *composeFile, name string) []string {
	t.Helper()
	args := slices.Clone(c.Services[name].Command[1:])
	conf, err := filepath.Abs(repoPath(mountedFrom(t, c.Services[name], args[0])))
	if err != nil {
		t.Fatal(err)
	}
	args[0] = conf
	return args
}

// startRedisNode runs redis-server with args (which name the port) in a
// directory of its own, the node's working directory as /data is in the
// image, until the test ends, and returns a client once it answers.
func startRedisNode(t *testing.T, bin string, args []string) *redis.Client {
	t.Helper()
	port := args[slices.Index(args, "--port")+1]
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(args, "--daemonize", "no")...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port, DialTimeout: time.Second})
	t.Cleanup(func() {
		rdb.Close()
		cmd.Process.Kill()
		<-exited
		logFile.Close()
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return rdb
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("redis-server %q exited: %v\n%s", args, waitErr, b)
		case <-ctx.Done():
			t.Fatalf("redis-server %q: no PONG in 10 s: %v", args, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestComposeScaleKafka: three brokers of the single broker's image, each
// broker and controller, one cluster id, a quorum that lists all three by
// the id and name each has; every topic at scripts/cluster.sh's replication
// factor and min.insync.replicas (3 and 2), seed creating the topics so,
// and every boxoffice service bootstrapping from all three.
func TestComposeScaleKafka(t *testing.T) {
	c := loadScale(t)
	script := clusterScript(t)
	rf := scriptValue(t, script, `BOX_KAFKA_REPLICATION=(\d+)`)
	isr := scriptValue(t, script, `BOX_KAFKA_MIN_ISR=(\d+)`)
	if rf != "3" || isr != "2" {
		t.Errorf("scripts/cluster.sh: replication %s, min ISR %s; the scale stack is built for 3 and 2", rf, isr)
	}

	image := loadCompose(t).Services["kafka"].Image
	brokers := c.servicesWithImage(image)
	if len(brokers) != 3 {
		t.Fatalf("services of %s: %v, want three brokers", image, brokers)
	}
	voters := map[string]string{} // node id → host:port
	var clusterID, voterList string
	var advertised []string
	for i, name := range brokers {
		e := env(c.Services[name])
		id := e["KAFKA_NODE_ID"]
		if _, dup := voters[id]; dup || id == "" {
			t.Errorf("service %s: KAFKA_NODE_ID %q is missing or not unique", name, id)
		}
		if roles := strings.Split(e["KAFKA_PROCESS_ROLES"], ","); !sameSet(roles, []string{"broker", "controller"}) {
			t.Errorf("service %s: KAFKA_PROCESS_ROLES %q, want broker,controller", name, e["KAFKA_PROCESS_ROLES"])
		}
		if i == 0 {
			clusterID, voterList = e["CLUSTER_ID"], e["KAFKA_CONTROLLER_QUORUM_VOTERS"]
		}
		if e["CLUSTER_ID"] != clusterID || clusterID == "" {
			t.Errorf("service %s: CLUSTER_ID %q; all three need the same (%q)", name, e["CLUSTER_ID"], clusterID)
		}
		if e["KAFKA_CONTROLLER_QUORUM_VOTERS"] != voterList {
			t.Errorf("service %s: KAFKA_CONTROLLER_QUORUM_VOTERS %q differs from %q", name, e["KAFKA_CONTROLLER_QUORUM_VOTERS"], voterList)
		}
		controller := listenerPort(t, name, e["KAFKA_LISTENERS"], e["KAFKA_CONTROLLER_LISTENER_NAMES"])
		voters[id] = net.JoinHostPort(name, controller)
		for _, l := range strings.Split(e["KAFKA_ADVERTISED_LISTENERS"], ",") {
			_, addr, _ := strings.Cut(l, "://")
			if host, _, _ := net.SplitHostPort(addr); host != name {
				t.Errorf("service %s advertises %s: clients on the network reach it as %s", name, l, name)
			}
			advertised = append(advertised, addr)
		}
		for _, k := range []string{"KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR"} {
			if e[k] != rf {
				t.Errorf("service %s: %s %q, want %s", name, k, e[k], rf)
			}
		}
		for _, k := range []string{"KAFKA_MIN_INSYNC_REPLICAS", "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR"} {
			if e[k] != isr {
				t.Errorf("service %s: %s %q, want %s", name, k, e[k], isr)
			}
		}
	}
	var quorum []string
	for id, addr := range voters {
		quorum = append(quorum, id+"@"+addr)
	}
	if got := strings.Split(voterList, ","); !sameSet(got, quorum) {
		t.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS %v, want each broker's id@name:controller-port %v", got, quorum)
	}

	groups := subcommandGroups(t)
	seeds := 0
	for _, name := range c.boxofficeServices() {
		sub, cfg, problems := resolve(name, c.Services[name], groups)
		if len(problems) > 0 {
			continue
		}
		if groups[sub]&config.Kafka != 0 && !sameSet(cfg.KafkaBrokers, advertised) {
			t.Errorf("service %s: BOX_KAFKA_BROKERS %v, want all three %v", name, cfg.KafkaBrokers, advertised)
		}
		if sub == "seed" {
			seeds++
			if want, _ := strconv.Atoi(rf); cfg.ReplicationFactor != want {
				t.Errorf("service %s creates the topics at replication factor %d, want %s", name, cfg.ReplicationFactor, rf)
			}
			if want, _ := strconv.Atoi(isr); cfg.MinInsyncReplicas != want {
				t.Errorf("service %s creates the topics with min.insync.replicas %d, want %s", name, cfg.MinInsyncReplicas, isr)
			}
		}
	}
	if seeds == 0 {
		t.Error("no `boxoffice seed` service: nothing creates the topics")
	}
}

// listenerPort returns the port of the listener named name in a
// KAFKA_LISTENERS value such as "INTERNAL://:19092,CONTROLLER://:9093".
func listenerPort(t *testing.T, service, listeners, name string) string {
	t.Helper()
	for _, l := range strings.Split(listeners, ",") {
		n, addr, ok := strings.Cut(l, "://")
		if ok && n == name {
			_, port, err := net.SplitHostPort(addr)
			if err == nil {
				return port
			}
		}
	}
	t.Fatalf("service %s: no %s listener in KAFKA_LISTENERS %q", service, name, listeners)
	return ""
}

// haproxyConfig is an haproxy.cfg as sections: "frontend public" → its lines.
type haproxyConfig map[string][][]string

const haproxyConfigTarget = "/usr/local/etc/haproxy/haproxy.cfg" // where the haproxy image reads it

func readHAProxy(t *testing.T, path string) haproxyConfig {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg := haproxyConfig{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			section = strings.Join(words, " ")
			cfg[section] = nil
			continue
		}
		cfg[section] = append(cfg[section], words)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lines returns the lines of section that start with keyword (several
// words: "http-request set-header").
func (h haproxyConfig) lines(section, keyword string) [][]string {
	k := strings.Fields(keyword)
	var out [][]string
	for _, l := range h[section] {
		if len(l) >= len(k) && slices.Equal(l[:len(k)], k) {
			out = append(out, l[len(k):])
		}
	}
	return out
}

// loadBalancer returns the HAProxy service of the scale file and the
// repository file it runs with.
func loadBalancer(t *testing.T, c *composeFile) (string, string) {
	t.Helper()
	lbs := c.servicesWithImage("haproxy")
	if len(lbs) != 1 {
		t.Fatalf("haproxy services %v, want one", lbs)
	}
	src := mountedFrom(t, c.Services[lbs[0]], haproxyConfigTarget)
	if src == "" {
		t.Fatalf("service %s mounts no file of the repository at %s", lbs[0], haproxyConfigTarget)
	}
	return lbs[0], src
}

// TestComposeScaleLoadBalancer: HAProxy is published where docker-compose.yml
// publishes the gateway (so the same curl works), sends every request to
// the gateway service's replicas, found through Docker's DNS, on the port
// the gateway listens on, health-checks them on /readyz, and overwrites the
// header the gateways read the client's address from.
func TestComposeScaleLoadBalancer(t *testing.T) {
	c := loadScale(t)
	lb, src := loadBalancer(t, c)
	h := readHAProxy(t, repoPath(src))
	groups := subcommandGroups(t)

	gateways := c.servicesRunning("gateway")
	if len(gateways) != 1 {
		t.Fatalf("`boxoffice gateway` services %v, want one (scaled with --scale)", gateways)
	}
	gw := gateways[0]
	_, cfg, problems := resolve(gw, c.Services[gw], groups)
	if len(problems) > 0 {
		t.Fatalf("service %s: %s", gw, strings.Join(problems, "; "))
	}
	if !c.waitsFor(lb, gw) {
		t.Errorf("service %s does not wait for %s", lb, gw)
	}

	binds := h.lines("frontend public", "bind")
	if len(binds) != 1 {
		t.Fatalf("%s: frontend public: bind %v, want one", src, binds)
	}
	_, port, err := net.SplitHostPort(binds[0][0])
	if err != nil {
		t.Fatalf("%s: bind %v: %v", src, binds[0], err)
	}
	defaultGateway := loadCompose(t).Services["gateway"]
	if got, want := publishes(c.Services[lb], port), publishes(defaultGateway, addrPort(t, cfg.HTTPAddr)); got != want || got == "" {
		t.Errorf("service %s: HAProxy's port %s published on host port %q, want %s (where docker-compose.yml publishes the gateway)", lb, port, got, want)
	}

	// The client's address, in the header the gateway trusts.
	if cfg.ClientIPHeader == "" {
		t.Errorf("service %s: no BOX_CLIENT_IP_HEADER: behind HAProxy every client would be HAProxy's address", gw)
	}
	found := false
	for _, l := range h.lines("frontend public", "http-request set-header") {
		if len(l) >= 2 && strings.EqualFold(l[0], cfg.ClientIPHeader) && l[1] == "%[src]" {
			found = true
		}
	}
	if !found {
		t.Errorf("%s: frontend public does not set %q to the client's address (http-request set-header %s %%[src]): the gateway would trust what the client sent", src, cfg.ClientIPHeader, cfg.ClientIPHeader)
	}

	backends := h.lines("frontend public", "default_backend")
	if len(backends) != 1 {
		t.Fatalf("%s: frontend public: default_backend %v, want one", src, backends)
	}
	backend := "backend " + backends[0][0]
	templates := h.lines(backend, "server-template")
	if len(templates) != 1 || len(templates[0]) < 3 {
		t.Fatalf("%s: %s: server-template %v, want one", src, backend, templates)
	}
	tpl := templates[0]
	if n, err := strconv.Atoi(tpl[1]); err != nil || n < 3 {
		t.Errorf("%s: server-template %v: %s slots; --scale gateway=3 needs at least 3", src, tpl, tpl[1])
	}
	host, tport, err := net.SplitHostPort(tpl[2])
	if err != nil {
		t.Fatalf("%s: server-template %v: %v", src, tpl, err)
	}
	if host != gw {
		t.Errorf("%s: server-template resolves %s, want the gateway service %s", src, host, gw)
	}
	if want := addrPort(t, cfg.HTTPAddr); tport != want {
		t.Errorf("%s: server-template port %s; the gateway listens on %s (BOX_HTTP_ADDR)", src, tport, want)
	}
	i := slices.Index(tpl, "resolvers")
	if i < 0 || i+1 >= len(tpl) {
		t.Fatalf("%s: server-template %v: no resolvers: HAProxy would resolve %s once, at start", src, tpl, host)
	}
	dns := false
	for _, l := range h.lines("resolvers "+tpl[i+1], "nameserver") {
		if len(l) == 2 && l[1] == "127.0.0.11:53" {
			dns = true
		}
	}
	if !dns {
		t.Errorf("%s: resolvers %s: no nameserver 127.0.0.11:53 (Docker's DNS, the one that knows every replica)", src, tpl[i+1])
	}
	if !slices.Contains(tpl, "check") {
		t.Errorf("%s: server-template %v: no health check: a replica that is not ready would get requests", src, tpl)
	}
	chk := h.lines(backend, "http-check send")
	if len(chk) != 1 || !slices.Equal(chk[0], []string{"meth", "GET", "uri", "/readyz"}) {
		t.Errorf("%s: %s: http-check send %v, want meth GET uri /readyz (the gateway's readiness)", src, backend, chk)
	}
}

// TestHAProxyConfigValid: HAProxy itself accepts deploy/haproxy/haproxy.cfg
// (`haproxy -c`: parses it and checks every reference, resolving nothing).
// .ci/run installs haproxy; in CI a missing one fails the test.
func TestHAProxyConfigValid(t *testing.T) {
	c := loadScale(t)
	_, src := loadBalancer(t, c)
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		msg := fmt.Sprintf("haproxy is not installed (%v): apt-get install haproxy (.ci/run does)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command(bin, "-c", "-f", repoPath(src)).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", src, err, out)
	}
	if strings.Contains(string(out), "[WARNING]") {
		t.Errorf("haproxy -c -f %s warns:\n%s", src, out)
	}
}

// TestComposeScalePrometheus: the scale stack's Prometheus finds every
// replica of the gateway (admin listener) and the writer (metrics port)
// through Docker's DNS (dns_sd_configs, A records of the service name), not
// a static target that would reach one of them; every static target is a
// compose service exposing that port.
func TestComposeScalePrometheus(t *testing.T) {
	c := loadScale(t)
	src := mountedPrometheusConfig(t, c)
	p := loadPrometheusFile(t, repoPath(src))
	groups := subcommandGroups(t)

	for _, tc := range []struct {
		sub    string
		listen func(config.Config) string
	}{
		{"gateway", func(c config.Config) string { return c.AdminAddr }},
		{"writer", func(c config.Config) string { return c.MetricsAddr }},
	} {
		for _, name := range c.servicesRunning(tc.sub) {
			_, cfg, problems := resolve(name, c.Services[name], groups)
			if len(problems) > 0 {
				t.Errorf("service %s: %s", name, strings.Join(problems, "; "))
				continue
			}
			port, _ := strconv.Atoi(addrPort(t, tc.listen(cfg)))
			found := false
			for _, sc := range p.ScrapeConfigs {
				for _, d := range sc.DNSSDConfigs {
					if slices.Contains(d.Names, name) && d.Type == "A" && d.Port == port {
						found = true
					}
				}
				for _, st := range sc.StaticConfigs {
					for _, tg := range st.Targets {
						if host, _, _ := net.SplitHostPort(tg); host == name {
							t.Errorf("%s: job %s scrapes %s statically: that reaches whichever replica DNS answers first, not each", src, sc.JobName, tg)
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: no dns_sd_configs job finds every replica of %s (names [%s], type A, port %d)", src, name, name, port)
			}
			if !slices.Contains(exposed(c.Services[name]), strconv.Itoa(port)) {
				t.Errorf("service %s: port %d, which Prometheus scrapes, is not in expose", name, port)
			}
		}
	}

	for _, sc := range p.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, port, err := net.SplitHostPort(tg)
				if err != nil {
					t.Errorf("%s: target %q: %v", src, tg, err)
					continue
				}
				s, ok := c.Services[host]
				if !ok {
					t.Errorf("%s: target %s: no compose service %s", src, tg, host)
					continue
				}
				if !slices.Contains(exposed(s), port) {
					t.Errorf("%s: target %s: service %s does not expose %s", src, tg, host, port)
				}
			}
		}
	}
}

// exposed returns the container ports a service declares (expose, ports).
func exposed(s types.ServiceConfig) []string {
	out := slices.Clone([]string(s.Expose))
	for _, p := range s.Ports {
		out = append(out, strconv.FormatUint(uint64(p.Target), 10))
	}
	return out
}
