package deploy

import (
	"bufio"
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

	"github.com/go-sql-driver/mysql"

	"github.com/boxoffice/boxoffice/config"
)

// TestComposeServicesUseKnownSubcommandsAndFlags: every boxoffice service
// runs a real subcommand, passes only flags that subcommand knows, and every
// BOX_* variable it sets is one of those flags with a value the flag accepts.
func TestComposeServicesUseKnownSubcommandsAndFlags(t *testing.T) {
	c := loadCompose(t)
	groups := subcommandGroups(t)
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
}

// TestComposeStartupOrder: depends_on names real services, each condition is
// one the target can meet, the one-shots run in order (migrate → seed →
// gateway, writer), no cycle, and every service a boxoffice process talks to
// (Redis, MySQL, Kafka, from its resolved configuration) is a compose service
// it waits for until healthy.
func TestComposeStartupOrder(t *testing.T) {
	c := loadCompose(t)
	groups := subcommandGroups(t)
	for _, name := range c.serviceNames() {
		for dep, cond := range c.Services[name].DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
				continue
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if hc := target.Healthcheck; hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
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
			if c.Services[svc].DependsOn[dep] == "service_completed_successfully" {
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
			addrs = append(addrs, cfg.RedisAddr)
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
			if s.DependsOn[host] != "service_healthy" {
				t.Errorf("service %s talks to %s but does not wait for it: depends_on %s condition %q, want service_healthy", name, host, host, s.DependsOn[host])
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
	c := loadCompose(t)
	groups := subcommandGroups(t)
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
				if adv := k.Environment["KAFKA_ADVERTISED_LISTENERS"]; !strings.Contains(adv, "://"+b) {
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
				if got := m.Environment[key]; got != want {
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
			if got := c.Services[name].publishes(p); got != hostPort {
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
		if got := s.publishes(want); got != want {
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
	c := loadCompose(t)
	for _, name := range c.serviceNames() {
		for _, v := range c.Services[name].Volumes {
			switch {
			case v.Source == "":
			case v.isBind():
				if filepath.IsAbs(v.Source) {
					t.Errorf("service %s: bind mount %s is an absolute path; use one relative to the repository", name, v.Source)
					continue
				}
				if _, err := os.Stat(repoPath(v.Source)); err != nil {
					t.Errorf("service %s: bind mount %s: %v", name, v.Source, err)
				}
			default:
				if _, ok := c.Volumes[v.Source]; !ok {
					t.Errorf("service %s: named volume %s is not declared under volumes:", name, v.Source)
				}
			}
		}
	}
}

// TestComposeRedisAppendOnly: compose's Redis keeps an append-only file on
// a named volume, fsynced each second unless BOX_REDIS_APPENDFSYNC says
// otherwise, and the value that variable passes is one Redis accepts.
func TestComposeRedisAppendOnly(t *testing.T) {
	c := loadCompose(t)
	s, ok := c.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "everysec"},
		{map[string]string{"BOX_REDIS_APPENDFSYNC": ""}, "everysec"},
		{map[string]string{"BOX_REDIS_APPENDFSYNC": "always"}, "always"},
	} {
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		var cmd []string
		for _, w := range s.Command {
			cmd = append(cmd, interpolate(w, lookup))
		}
		args := redisArgs(t, cmd)
		if args["appendonly"] != "yes" {
			t.Errorf("env %v: redis command %q: appendonly %q, want yes", tc.env, cmd, args["appendonly"])
		}
		if args["appendfsync"] != tc.want {
			t.Errorf("env %v: redis command %q: appendfsync %q, want %s", tc.env, cmd, args["appendfsync"], tc.want)
		}
	}
	dir := redisArgs(t, s.Command)["dir"]
	if dir == "" {
		dir = "/data" // the redis image's working directory
	}
	for _, v := range s.Volumes {
		if v.Target == dir && v.Source != "" && !v.isBind() {
			return
		}
	}
	t.Errorf("redis writes its append-only file in %s, and no named volume is mounted there (volumes %+v): it would not survive the container", dir, s.Volumes)
}

// redisArgs reads redis-server's --name value options.
func redisArgs(t *testing.T, cmd []string) map[string]string {
	t.Helper()
	if len(cmd) == 0 || cmd[0] != "redis-server" {
		t.Fatalf("redis command %q: want redis-server with options", cmd)
	}
	args := map[string]string{}
	for i := 1; i < len(cmd); i++ {
		name, ok := strings.CutPrefix(cmd[i], "--")
		if !ok || i+1 >= len(cmd) {
			t.Fatalf("redis command %q: cannot read option %q", cmd, cmd[i])
		}
		args[name] = cmd[i+1]
		i++
	}
	return args
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
	} `yaml:"scrape_configs"`
}

var prometheusConfigPath = repoPath("deploy", "prometheus", "prometheus.yml")

func loadPrometheus(t *testing.T) *promConfig {
	t.Helper()
	var p promConfig
	readYAML(t, prometheusConfigPath, &p)
	return &p
}

// TestPrometheusConfig: every job is scraped every 5 s at /metrics, the
// gateway and writer jobs exist, Prometheus mounts this very file, and
// promtool (when installed) accepts it.
func TestPrometheusConfig(t *testing.T) {
	p := loadPrometheus(t)
	jobs := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		jobs[sc.JobName] = true
		interval := sc.ScrapeInterval
		if interval == "" {
			interval = p.Global.ScrapeInterval
		}
		if interval != "5s" {
			t.Errorf("job %s: scrape interval %q, want 5s", sc.JobName, interval)
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q; both processes serve /metrics", sc.JobName, sc.MetricsPath)
		}
	}
	for _, j := range []string{"gateway", "writer"} {
		if !jobs[j] {
			t.Errorf("no scrape job %q", j)
		}
	}

	c := loadCompose(t)
	mounted := false
	for _, s := range c.Services {
		for _, v := range s.Volumes {
			if v.isBind() && path.Clean(v.Source) == "deploy/prometheus/prometheus.yml" {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Error("no compose service mounts ./deploy/prometheus/prometheus.yml")
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: syntax check skipped")
		return
	}
	if out, err := exec.Command(promtool, "check", "config", prometheusConfigPath).CombinedOutput(); err != nil {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// grafanaMounts returns the container paths where the Grafana service mounts
// the repository's grafana/provisioning and grafana/dashboards.
func grafanaMounts(t *testing.T, c *composeFile) (provisioning, dashboards string) {
	t.Helper()
	for _, s := range c.Services {
		for _, v := range s.Volumes {
			switch path.Clean(v.Source) {
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
	c := loadCompose(t)
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
		home, ok := s.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
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

	c := loadCompose(t)
	for _, name := range c.serviceNames() {
		b := c.Services[name].Build
		if b == nil {
			continue
		}
		dockerfile := b.Dockerfile
		if dockerfile == "" {
			dockerfile = "Dockerfile"
		}
		if _, err := os.Stat(repoPath(b.Context, dockerfile)); err != nil {
			t.Errorf("service %s: build %s/%s: %v", name, b.Context, dockerfile, err)
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
	c := exec.Command(cmd[0], append(cmd[1:], "-f", "docker-compose.yml", "config", "--quiet")...)
	c.Dir = repoPath()
	c.Env = append(os.Environ(), "GRAFANA_ADMIN_PASSWORD=compose-config-test") // required by the file
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s config: %v\n%s", strings.Join(cmd, " "), err, out)
	}
}

// TestComposeBindsLoopback: every published port is bound to 127.0.0.1 —
// the stack trusts the body's member and has no TLS, so nothing of it may
// face a network.
func TestComposeBindsLoopback(t *testing.T) {
	c := loadCompose(t)
	for _, name := range c.serviceNames() {
		for _, p := range c.Services[name].Ports {
			if p.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes %s:%s on %q, want 127.0.0.1", name, p.Published, p.Target, p.HostIP)
			}
		}
	}
}

// TestComposeGatewayServesAsyncOnly: the default stack serves the product
// path only; the comparison strategies are turned on by hand.
func TestComposeGatewayServesAsyncOnly(t *testing.T) {
	c := loadCompose(t)
	groups := subcommandGroups(t)
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
}

// TestComposeGrafanaPasswordFromEnvironment: no password is written in the
// file, and compose refuses to start without one.
func TestComposeGrafanaPasswordFromEnvironment(t *testing.T) {
	c := loadCompose(t)
	g, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	pw, ok := g.Environment["GF_SECURITY_ADMIN_PASSWORD"]
	if !ok || !regexp.MustCompile(`^\$\{[A-Z_]+:\?[^}]*\}$`).MatchString(pw) {
		t.Errorf("GF_SECURITY_ADMIN_PASSWORD is %q, want ${VARIABLE:?message} (required from the environment)", pw)
	}
}
