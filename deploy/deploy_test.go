package deploy

import (
	"bufio"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/go-sql-driver/mysql"

	"github.com/boxoffice/boxoffice/config"
)

// TestComposeServicesUseKnownSubcommandsAndFlags: every boxoffice service
// runs a real subcommand, passes only flags that subcommand knows, and every
// BOX_* variable it sets is one of those flags with a value the flag accepts.
func TestComposeServicesUseKnownSubcommandsAndFlags(t *testing.T) {
	groups := subcommandGroups(t)
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		services := c.boxofficeServices()
		if len(services) == 0 {
			t.Fatal("no service builds or uses the boxoffice image")
		}
		for _, name := range services {
			sub, _, problems := resolve(name, c.Services[name], groups)
			for _, p := range problems {
				t.Errorf("service %s (boxoffice %s): %s", name, sub, p)
			}
			for k := range c.Services[name].Environment {
				if !strings.HasPrefix(k, "BOX_") {
					t.Errorf("service %s: environment %s: boxoffice reads only BOX_* variables", name, k)
				}
			}
		}
		for _, sub := range []string{"migrate", "seed", "gateway", "writer"} {
			if len(c.servicesRunning(sub)) == 0 {
				t.Errorf("no service runs `boxoffice %s`", sub)
			}
		}
	})
}

// TestComposeFilesLoad: each file loads with compose's own loader (schema,
// interpolation, extends, consistency), and a plain `up` starts every
// service of it: none is hidden behind a profile, so `docker compose up` is
// the whole stack and nothing more.
func TestComposeFilesLoad(t *testing.T) {
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		if disabled := c.DisabledServiceNames(); len(disabled) > 0 {
			t.Errorf("services %v are only started with --profile; a plain up would leave them out", disabled)
		}
		all, err := loadProject(c.file, composeEnv, "*")
		if err != nil {
			t.Fatalf("with every profile: %v", err)
		}
		if got, want := sortedKeys(all.Services), c.serviceNames(); !slices.Equal(got, want) {
			t.Errorf("with every profile: services %v; without a profile %v", got, want)
		}
		for _, name := range c.serviceNames() {
			if s := c.Services[name]; s.Image == "" {
				t.Errorf("service %s: no image (extends or a typo lost it)", name)
			}
		}
	})
}

// TestComposeStartupOrder: depends_on names real services, each condition is
// one the target can meet, the one-shots run in order (migrate → seed →
// gateway, writer), no cycle, and every service a boxoffice process talks to
// (Redis, MySQL, Kafka, from its resolved configuration) is a compose service
// it waits for until healthy.
func TestComposeStartupOrder(t *testing.T) {
	groups := subcommandGroups(t)
	eachComposeFile(t, func(t *testing.T, c *composeFile) { checkStartupOrder(t, c, groups) })
}

func checkStartupOrder(t *testing.T, c *composeFile, groups map[string]int) {
	for _, name := range c.serviceNames() {
		for dep, d := range c.Services[name].DependsOn {
			cond := d.Condition
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
				continue
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if hc := target.HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
					t.Errorf("service %s waits for %s to be healthy, but %s has no health check", name, dep, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "no" {
					t.Errorf("service %s waits for %s to complete, but %s has restart %q (want \"no\": a one-shot)", name, dep, dep, target.Restart)
				}
			default:
				t.Errorf("service %s: depends_on %s: unknown condition %q", name, dep, cond)
			}
		}
	}
	if cycle := dependencyCycle(c); cycle != nil {
		t.Errorf("depends_on cycle: %s", strings.Join(cycle, " → "))
	}

	waitsToComplete := func(svc string, sub string) {
		for _, dep := range c.servicesRunning(sub) {
			if c.Services[svc].DependsOn[dep].Condition == "service_completed_successfully" {
				return
			}
		}
		t.Errorf("service %s must wait for a `boxoffice %s` service to complete (depends_on condition service_completed_successfully)", svc, sub)
	}
	for _, svc := range c.servicesRunning("seed") {
		waitsToComplete(svc, "migrate")
	}
	for _, sub := range []string{"gateway", "writer"} {
		for _, svc := range c.servicesRunning(sub) {
			waitsToComplete(svc, "seed")
		}
	}

	for _, name := range c.boxofficeServices() {
		s := c.Services[name]
		sub, cfg, problems := resolve(name, s, groups)
		if len(problems) > 0 {
			continue // reported by TestComposeServicesUseKnownSubcommandsAndFlags
		}
		g := groups[sub]
		var addrs []string
		if g&config.Redis != 0 {
			addrs = append(addrs, strings.Split(cfg.RedisAddr, ",")...) // a cluster's seed nodes
		}
		if g&config.Kafka != 0 {
			addrs = append(addrs, cfg.KafkaBrokers...)
		}
		if g&config.MySQL != 0 {
			dsn, err := mysql.ParseDSN(cfg.MySQLDSN)
			if err != nil {
				t.Errorf("service %s: BOX_MYSQL_DSN: %v", name, err)
				continue
			}
			addrs = append(addrs, dsn.Addr)
		}
		for _, addr := range addrs {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				t.Errorf("service %s: address %q: %v", name, addr, err)
				continue
			}
			if _, ok := c.Services[host]; !ok {
				t.Errorf("service %s talks to %s, and %s is not a compose service (set its BOX_* address)", name, addr, host)
				continue
			}
			if got := s.DependsOn[host].Condition; got != "service_healthy" {
				t.Errorf("service %s talks to %s but does not wait for it: depends_on %s condition %q, want service_healthy", name, host, host, got)
			}
		}
	}
}

func dependencyCycle(c *composeFile) []string {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string) []string
	visit = func(n string) []string {
		switch state[n] {
		case visiting:
			i := slices.Index(stack, n)
			return append(slices.Clone(stack[i:]), n)
		case done:
			return nil
		}
		state[n] = visiting
		stack = append(stack, n)
		if s, ok := c.Services[n]; ok {
			for _, dep := range sortedKeys(s.DependsOn) {
				if cycle := visit(dep); cycle != nil {
					return cycle
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range c.serviceNames() {
		if cycle := visit(n); cycle != nil {
			return cycle
		}
	}
	return nil
}

// TestComposeServicesAgreeOnAddresses: the broker address the boxoffice
// services use is one Kafka advertises, and the MySQL DSN's user, password
// and database are the ones the MySQL service creates.
func TestComposeServicesAgreeOnAddresses(t *testing.T) {
	groups := subcommandGroups(t)
	eachComposeFile(t, func(t *testing.T, c *composeFile) { checkAddresses(t, c, groups) })
}

func checkAddresses(t *testing.T, c *composeFile, groups map[string]int) {
	for _, name := range c.boxofficeServices() {
		sub, cfg, problems := resolve(name, c.Services[name], groups)
		if len(problems) > 0 {
			continue
		}
		if groups[sub]&config.Kafka != 0 {
			for _, b := range cfg.KafkaBrokers {
				host, _, _ := net.SplitHostPort(b)
				k, ok := c.Services[host]
				if !ok {
					continue // reported by TestComposeStartupOrder
				}
				if adv := env(k)["KAFKA_ADVERTISED_LISTENERS"]; !strings.Contains(adv, "://"+b) {
					t.Errorf("service %s uses broker %s, but %s advertises %q: the client would be sent elsewhere after bootstrap", name, b, host, adv)
				}
			}
		}
		if groups[sub]&config.MySQL != 0 {
			dsn, err := mysql.ParseDSN(cfg.MySQLDSN)
			if err != nil {
				continue
			}
			host, _, _ := net.SplitHostPort(dsn.Addr)
			m, ok := c.Services[host]
			if !ok {
				continue
			}
			for key, want := range map[string]string{"MYSQL_USER": dsn.User, "MYSQL_PASSWORD": dsn.Passwd, "MYSQL_DATABASE": dsn.DBName} {
				if got := env(m)[key]; got != want {
					t.Errorf("service %s connects with %s %q, but service %s sets %s=%q", name, strings.ToLower(strings.TrimPrefix(key, "MYSQL_")), want, host, key, got)
				}
			}
		}
	}
}

// TestComposePortsLineUp: the gateway's API listens where it is published
// (BOX_HTTP_ADDR) and is not scraped — its metrics are on the admin listener
// (BOX_ADMIN_ADDR), published and scraped, as are the writer's
// (BOX_METRICS_ADDR); Prometheus and Grafana are on their usual host ports.
func TestComposePortsLineUp(t *testing.T) {
	c := loadCompose(t)
	groups := subcommandGroups(t)
	prom := loadPrometheus(t)
	targets := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				targets[tg] = true
			}
		}
	}
	check := func(sub, hostPort string, scraped bool, listen func(config.Config) string) {
		services := c.servicesRunning(sub)
		if len(services) == 0 {
			t.Errorf("no `boxoffice %s` service", sub)
		}
		for _, name := range services {
			_, cfg, problems := resolve(name, c.Services[name], groups)
			if len(problems) > 0 {
				t.Errorf("service %s: %s", name, strings.Join(problems, "; "))
				continue
			}
			p := addrPort(t, listen(cfg))
			if got := publishes(c.Services[name], p); got != hostPort {
				t.Errorf("service %s listens on %s: published on host port %q, want %s", name, p, got, hostPort)
			}
			if scraped && !targets[name+":"+p] {
				t.Errorf("service %s listens on %s, but Prometheus does not scrape %s:%s (targets %v)", name, p, name, p, sortedKeys(targets))
			}
			if !scraped && targets[name+":"+p] {
				t.Errorf("Prometheus scrapes %s:%s, the public API: the gateway's metrics are on its admin listener", name, p)
			}
		}
	}
	check("gateway", "8080", false, func(c config.Config) string { return c.HTTPAddr })
	check("gateway", "9095", true, func(c config.Config) string { return c.AdminAddr })
	check("writer", "9091", true, func(c config.Config) string { return c.MetricsAddr })

	for svc, want := range map[string]string{"prometheus": "9090", "grafana": "3000"} {
		s, ok := c.Services[svc]
		if !ok {
			t.Errorf("no %s service", svc)
			continue
		}
		if got := publishes(s, want); got != want {
			t.Errorf("service %s: container port %s published on host port %q, want %s", svc, want, got, want)
		}
	}

	// Every scrape target is a compose service.
	for tg := range targets {
		host, _, err := net.SplitHostPort(tg)
		if err != nil {
			t.Errorf("prometheus target %q: %v", tg, err)
			continue
		}
		if _, ok := c.Services[host]; !ok {
			t.Errorf("prometheus target %s: no compose service %s", tg, host)
		}
	}
}

// TestComposeVolumesExist: every bind mount names a path of the repository
// and every named volume is declared.
func TestComposeVolumesExist(t *testing.T) {
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		for _, name := range c.serviceNames() {
			for _, v := range c.Services[name].Volumes {
				switch {
				case v.Source == "":
				case v.Type == types.VolumeTypeBind:
					rel, ok := repoSource(t, v)
					if !ok {
						t.Errorf("service %s: bind mount %s is outside the repository; mount a path of it, relative to the file", name, v.Source)
						continue
					}
					if _, err := os.Stat(repoPath(rel)); err != nil {
						t.Errorf("service %s: bind mount %s: %v", name, rel, err)
					}
				default:
					if _, ok := c.Volumes[v.Source]; !ok {
						t.Errorf("service %s: named volume %s is not declared under volumes:", name, v.Source)
					}
				}
			}
		}
	})
}

// TestComposeRedisAppendOnly: every Redis of both stacks (the single one,
// the six cluster nodes) keeps an append-only file on a named volume,
// fsynced each second unless BOX_REDIS_APPENDFSYNC says otherwise, and the
// value that variable passes is one Redis accepts.
func TestComposeRedisAppendOnly(t *testing.T) {
	for _, file := range composeFiles {
		t.Run(file, func(t *testing.T) {
			for _, tc := range []struct {
				env  map[string]string
				want string
			}{
				{nil, "everysec"},
				{map[string]string{"BOX_REDIS_APPENDFSYNC": ""}, "everysec"},
				{map[string]string{"BOX_REDIS_APPENDFSYNC": "always"}, "always"},
			} {
				e := maps.Clone(composeEnv)
				maps.Copy(e, tc.env)
				p, err := loadProject(file, e)
				if err != nil {
					t.Fatalf("env %v: %v", tc.env, err)
				}
				c := &composeFile{file: file, Project: p}
				nodes := c.servicesWithImage("redis")
				if len(nodes) == 0 {
					t.Fatal("no redis service")
				}
				for _, name := range nodes {
					if !slices.Contains(c.Services[name].Command, "redis-server") {
						continue // a one-shot with redis-cli (redis-cluster-init)
					}
					args := redisSettings(t, c, name)
					if args["appendonly"] != "yes" {
						t.Errorf("env %v: %s: appendonly %q, want yes", tc.env, name, args["appendonly"])
					}
					if args["appendfsync"] != tc.want {
						t.Errorf("env %v: %s: appendfsync %q, want %s", tc.env, name, args["appendfsync"], tc.want)
					}
				}
			}

			c := loadComposeFile(t, file)
			for _, name := range c.servicesWithImage("redis") {
				s := c.Services[name]
				if !slices.Contains(s.Command, "redis-server") {
					continue
				}
				dir := redisSettings(t, c, name)["dir"]
				if dir == "" {
					dir = "/data" // the redis image's working directory
				}
				kept := false
				for _, v := range s.Volumes {
					if v.Target == dir && v.Source != "" && v.Type == types.VolumeTypeVolume {
						kept = true
					}
				}
				if !kept {
					t.Errorf("%s writes its append-only file in %s, and no named volume is mounted there (volumes %+v): it would not survive the container", name, dir, s.Volumes)
				}
			}
		})
	}
}

// redisSettings returns the settings a redis-server service starts with:
// those of its configuration file (a file of this repository it mounts),
// overridden by its --name value options, as redis-server reads them.
func redisSettings(t *testing.T, c *composeFile, name string) map[string]string {
	t.Helper()
	cmd := c.Services[name].Command
	if len(cmd) == 0 || cmd[0] != "redis-server" {
		t.Fatalf("%s: command %q: want redis-server with options", name, cmd)
	}
	args := map[string]string{}
	rest := cmd[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "--") {
		src := mountedFrom(t, c.Services[name], rest[0])
		if src == "" {
			t.Fatalf("%s: redis-server reads %s, which is no file of the repository it mounts", name, rest[0])
		}
		maps.Copy(args, redisConfFile(t, repoPath(src)))
		rest = rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		opt, ok := strings.CutPrefix(rest[i], "--")
		if !ok || i+1 >= len(rest) {
			t.Fatalf("%s: command %q: cannot read option %q", name, cmd, rest[i])
		}
		args[opt] = rest[i+1]
		i++
	}
	return args
}

// redisConfFile reads a redis.conf: one "name value" a line, # comments.
func redisConfFile(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		out[strings.ToLower(name)] = strings.Trim(strings.TrimSpace(value), `"`)
	}
	return out
}

// promConfig is the part of prometheus.yml the tests look at.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		ScrapeInterval string `yaml:"scrape_interval"`
		MetricsPath    string `yaml:"metrics_path"`
		StaticConfigs  []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

var prometheusConfigPath = repoPath("deploy", "prometheus", "prometheus.yml")

// prometheusConfigTarget is where the Prometheus image reads its configuration.
const prometheusConfigTarget = "/etc/prometheus/prometheus.yml"

func loadPrometheus(t *testing.T) *promConfig {
	t.Helper()
	return loadPrometheusFile(t, prometheusConfigPath)
}

func loadPrometheusFile(t *testing.T, path string) *promConfig {
	t.Helper()
	var p promConfig
	readYAML(t, path, &p)
	return &p
}

// mountedPrometheusConfig returns the repository file the compose file's
// Prometheus reads as its configuration.
func mountedPrometheusConfig(t *testing.T, c *composeFile) string {
	t.Helper()
	for _, name := range c.servicesWithImage("prom/prometheus") {
		if src := mountedFrom(t, c.Services[name], prometheusConfigTarget); src != "" {
			return src
		}
	}
	t.Fatalf("no prom/prometheus service mounts a file of the repository at %s", prometheusConfigTarget)
	return ""
}

// TestPrometheusConfig: in each stack's Prometheus configuration every job
// is scraped every 5 s at /metrics and the gateway and writer jobs exist;
// docker-compose.yml's Prometheus mounts deploy/prometheus/prometheus.yml
// (the file prometheus_test.go runs), and promtool (when installed) accepts
// each.
func TestPrometheusConfig(t *testing.T) {
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		src := mountedPrometheusConfig(t, c)
		if c.file == defaultComposeFile && src != "deploy/prometheus/prometheus.yml" {
			t.Errorf("Prometheus reads %s, want deploy/prometheus/prometheus.yml", src)
		}
		file := repoPath(src)
		p := loadPrometheusFile(t, file)
		jobs := map[string]bool{}
		for _, sc := range p.ScrapeConfigs {
			jobs[sc.JobName] = true
			interval := sc.ScrapeInterval
			if interval == "" {
				interval = p.Global.ScrapeInterval
			}
			if interval != "5s" {
				t.Errorf("%s: job %s: scrape interval %q, want 5s", src, sc.JobName, interval)
			}
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				t.Errorf("%s: job %s: metrics_path %q; every process serves /metrics", src, sc.JobName, sc.MetricsPath)
			}
		}
		for _, j := range []string{"gateway", "writer"} {
			if !jobs[j] {
				t.Errorf("%s: no scrape job %q", src, j)
			}
		}

		promtool, err := exec.LookPath("promtool")
		if err != nil {
			t.Log("promtool not installed: syntax check skipped")
			return
		}
		if out, err := exec.Command(promtool, "check", "config", file).CombinedOutput(); err != nil {
			t.Errorf("promtool check config %s: %v\n%s", src, err, out)
		}
	})
}

// grafanaMounts returns the container paths where the Grafana service mounts
// the repository's grafana/provisioning and grafana/dashboards.
func grafanaMounts(t *testing.T, c *composeFile) (provisioning, dashboards string) {
	t.Helper()
	for _, s := range c.Services {
		for _, v := range s.Volumes {
			rel, _ := repoSource(t, v)
			switch rel {
			case "grafana/provisioning":
				provisioning = v.Target
			case "grafana/dashboards":
				dashboards = v.Target
			}
		}
	}
	if provisioning == "" || dashboards == "" {
		t.Fatalf("no service mounts both ./grafana/provisioning and ./grafana/dashboards (got %q, %q)", provisioning, dashboards)
	}
	return provisioning, dashboards
}

type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name string `yaml:"name"`
		UID  string `yaml:"uid"`
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

// provisionedDatasources returns uid → type of every provisioned datasource.
func provisionedDatasources(t *testing.T) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(repoPath("grafana", "provisioning", "datasources", "*.y*ml"))
	if len(files) == 0 {
		t.Fatal("no grafana/provisioning/datasources/*.yml")
	}
	out := map[string]string{}
	for _, f := range files {
		var d grafanaDatasources
		readYAML(t, f, &d)
		for _, ds := range d.Datasources {
			if ds.UID == "" {
				t.Errorf("%s: datasource %q has no uid; dashboards could not name it", f, ds.Name)
			}
			out[ds.UID] = ds.Type
		}
	}
	return out
}

// TestGrafanaProvisioning: the datasource points at the Prometheus service,
// the dashboard provider reads the folder compose mounts the dashboards into,
// and the home dashboard exists.
func TestGrafanaProvisioning(t *testing.T) {
	eachComposeFile(t, checkGrafanaProvisioning)
}

func checkGrafanaProvisioning(t *testing.T, c *composeFile) {
	provisioning, dashboards := grafanaMounts(t, c)
	if provisioning != "/etc/grafana/provisioning" {
		t.Errorf("grafana/provisioning is mounted at %s; Grafana reads /etc/grafana/provisioning", provisioning)
	}

	files, _ := filepath.Glob(repoPath("grafana", "provisioning", "datasources", "*.y*ml"))
	for _, f := range files {
		var d grafanaDatasources
		readYAML(t, f, &d)
		if d.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", f, d.APIVersion)
		}
		for _, ds := range d.Datasources {
			if ds.Type != "prometheus" {
				continue
			}
			u, err := url.Parse(ds.URL)
			if err != nil || u.Hostname() == "" {
				t.Errorf("%s: datasource %s: url %q", f, ds.Name, ds.URL)
				continue
			}
			s, ok := c.Services[u.Hostname()]
			if !ok {
				t.Errorf("%s: datasource %s points at %s, not a compose service", f, ds.Name, u.Host)
				continue
			}
			if !slices.Contains(s.Command, "--web.listen-address=:"+u.Port()) && u.Port() != "9090" {
				t.Errorf("%s: datasource %s points at port %s; Prometheus listens on 9090", f, ds.Name, u.Port())
			}
			if !strings.HasPrefix(s.Image, "prom/prometheus") {
				t.Errorf("%s: datasource %s points at service %s (image %q), not Prometheus", f, ds.Name, u.Hostname(), s.Image)
			}
		}
	}
	if len(provisionedDatasources(t)) == 0 {
		t.Error("no datasource provisioned")
	}

	type providerFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name    string `yaml:"name"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	provFiles, _ := filepath.Glob(repoPath("grafana", "provisioning", "dashboards", "*.y*ml"))
	if len(provFiles) == 0 {
		t.Fatal("no grafana/provisioning/dashboards/*.yml")
	}
	found := false
	for _, f := range provFiles {
		var providers providerFile
		readYAML(t, f, &providers)
		for _, p := range providers.Providers {
			if p.Type != "file" {
				continue
			}
			if path.Clean(p.Options.Path) != path.Clean(dashboards) {
				t.Errorf("%s: provider %s reads %s, but the dashboards are mounted at %s", f, p.Name, p.Options.Path, dashboards)
				continue
			}
			found = true
		}
	}
	if !found {
		t.Error("no file provider reads the mounted dashboards")
	}

	for _, s := range c.Services {
		home, ok := env(s)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
		if !ok {
			continue
		}
		rel, ok := strings.CutPrefix(home, path.Clean(dashboards)+"/")
		if !ok {
			t.Errorf("home dashboard %s is not under the mounted %s", home, dashboards)
			continue
		}
		if _, err := os.Stat(repoPath("grafana", "dashboards", rel)); err != nil {
			t.Errorf("home dashboard %s: %v", home, err)
		}
	}
}

// TestDockerfile: a Go build stage on the go.mod toolchain producing a static
// binary of ./cmd/boxoffice, boxoffice as the entry point, a build context
// that exists, and a .dockerignore that keeps the bulky folders out.
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(df)
	gomod, err := os.ReadFile(repoPath("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goVersion == nil {
		t.Fatal("go.mod: no go directive")
	}
	if !regexp.MustCompile(`(?m)^FROM golang:` + regexp.QuoteMeta(goVersion[1]) + `\S* AS \w+`).MatchString(text) {
		t.Errorf("Dockerfile: want a build stage FROM golang:%s (go.mod says go %s)", goVersion[1], goVersion[1])
	}
	if !regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build .*-o /boxoffice \./cmd/boxoffice\s*$`).MatchString(text) {
		t.Error("Dockerfile: want RUN CGO_ENABLED=0 go build ... -o /boxoffice ./cmd/boxoffice")
	}
	if !regexp.MustCompile(`(?m)^COPY --from=\w+ /boxoffice `).MatchString(text) {
		t.Error("Dockerfile: the runtime stage must copy /boxoffice from the build stage")
	}
	if !regexp.MustCompile(`(?m)^ENTRYPOINT \["(/usr/local/bin/)?boxoffice"\]`).MatchString(text) {
		t.Error(`Dockerfile: want ENTRYPOINT ["boxoffice"]`)
	}
	if n := len(regexp.MustCompile(`(?m)^FROM `).FindAllString(text, -1)); n < 2 {
		t.Errorf("Dockerfile: %d stage(s), want a build stage and a small runtime stage", n)
	}

	for _, file := range composeFiles {
		c := loadComposeFile(t, file)
		for _, name := range c.serviceNames() {
			b := c.Services[name].Build
			if b == nil {
				continue
			}
			dockerfile := b.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			// compose resolves the context to an absolute path.
			if _, err := os.Stat(filepath.Join(b.Context, dockerfile)); err != nil {
				t.Errorf("%s: service %s: build %s/%s: %v", file, name, b.Context, dockerfile, err)
			}
		}
	}

	f, err := os.Open(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ignored := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			ignored[strings.Trim(line, "/")] = true
		}
	}
	for _, want := range []string{".git", "bin", ".services", "deploy/kafka/lib", "bench/report"} {
		if !ignored[want] {
			t.Errorf(".dockerignore: %s is not ignored", want)
		}
	}
}

// TestDockerBuildHasNoCgo: the Dockerfile builds with CGO_ENABLED=0 for a
// runtime image without libc; every package of ./cmd/boxoffice must load
// that way. (go list, not go build: a cold cgo-off build of the whole tree
// takes minutes on a 2-core machine.)
func TestDockerBuildHasNoCgo(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-e", "-f", "{{with .Error}}{{.}}{{end}}{{range .DepsErrors}}{{.}}{{end}}", "./cmd/boxoffice")
	cmd.Dir = repoPath()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("CGO_ENABLED=0 go list -deps ./cmd/boxoffice: %v\n%s", err, out)
	}
}

// TestComposeConfigCLI asks Docker Compose itself to validate the file when
// its CLI is installed (no engine needed).
func TestComposeConfigCLI(t *testing.T) {
	var cmd []string
	if docker, err := exec.LookPath("docker"); err == nil && exec.Command(docker, "compose", "version").Run() == nil {
		cmd = []string{docker, "compose"}
	} else if dc, err := exec.LookPath("docker-compose"); err == nil {
		cmd = []string{dc}
	} else {
		t.Skip("neither `docker compose` nor docker-compose is installed: compose's own validation skipped")
	}
	for _, file := range composeFiles {
		c := exec.Command(cmd[0], append(cmd[1:], "-f", file, "config", "--quiet")...)
		c.Dir = repoPath()
		c.Env = append(os.Environ(), "GRAFANA_ADMIN_PASSWORD=compose-config-test") // required by the files
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf("%s -f %s config: %v\n%s", strings.Join(cmd, " "), file, err, out)
		}
	}
}

// TestComposeBindsLoopback: every published port is bound to 127.0.0.1 —
// the stack trusts the body's member and has no TLS, so nothing of it may
// face a network.
func TestComposeBindsLoopback(t *testing.T) {
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		for _, name := range c.serviceNames() {
			for _, p := range c.Services[name].Ports {
				if p.HostIP != "127.0.0.1" {
					t.Errorf("service %s publishes %s:%d on %q, want 127.0.0.1", name, p.Published, p.Target, p.HostIP)
				}
			}
		}
	})
}

// TestComposeGatewayServesAsyncOnly: the default stack serves the product
// path only; the comparison strategies are turned on by hand.
func TestComposeGatewayServesAsyncOnly(t *testing.T) {
	groups := subcommandGroups(t)
	eachComposeFile(t, func(t *testing.T, c *composeFile) {
		services := c.servicesRunning("gateway")
		if len(services) == 0 {
			t.Fatal("no `boxoffice gateway` service")
		}
		for _, name := range services {
			_, cfg, problems := resolve(name, c.Services[name], groups)
			if len(problems) > 0 {
				t.Fatalf("service %s: %s", name, strings.Join(problems, "; "))
			}
			if got, err := cfg.StrategyNames(); err != nil || strings.Join(got, ",") != "async" {
				t.Errorf("service %s serves %v (%v), want async only", name, got, err)
			}
		}
	})
}

// TestComposeGrafanaPasswordFromEnvironment: no password is written in
// either file — Grafana gets the one in the environment — and compose
// refuses to load the file without one.
func TestComposeGrafanaPasswordFromEnvironment(t *testing.T) {
	for _, file := range composeFiles {
		t.Run(file, func(t *testing.T) {
			e := maps.Clone(composeEnv)
			e["GRAFANA_ADMIN_PASSWORD"] = "from-the-environment"
			p, err := loadProject(file, e)
			if err != nil {
				t.Fatal(err)
			}
			c := &composeFile{file: file, Project: p}
			grafana := c.servicesWithImage("grafana/grafana")
			if len(grafana) == 0 {
				t.Fatal("no grafana service")
			}
			for _, name := range grafana {
				if got := env(c.Services[name])["GF_SECURITY_ADMIN_PASSWORD"]; got != "from-the-environment" {
					t.Errorf("service %s: GF_SECURITY_ADMIN_PASSWORD is %q with GRAFANA_ADMIN_PASSWORD=from-the-environment; want it from the environment", name, got)
				}
			}

			delete(e, "GRAFANA_ADMIN_PASSWORD")
			if _, err := loadProject(file, e); err == nil || !strings.Contains(err.Error(), "GRAFANA_ADMIN_PASSWORD") {
				t.Errorf("loaded without GRAFANA_ADMIN_PASSWORD (err %v); compose must refuse to start Grafana without a password", err)
			}
		})
	}
}
