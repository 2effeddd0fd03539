package deploy

import (
	"context"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/boxoffice/boxoffice/config"
)

// This file loads the compose files with compose-go, the loader Docker
// Compose itself uses: the same interpolation, profiles, extends, merge
// keys and the Compose Specification's schema and consistency checks, so
// the tests see a service exactly as `docker compose up` would start it.

// repoPath is a path relative to the repository root (tests run in deploy/).
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

// The compose files, each a project of its own: the default stack and the
// scale-out one (docker compose -f docker-compose.scale.yml up --scale ...).
const (
	defaultComposeFile = "docker-compose.yml"
	scaleComposeFile   = "docker-compose.scale.yml"
)

var composeFiles = []string{defaultComposeFile, scaleComposeFile}

// composeEnv is the environment the tests load the files with: what they
// require and nothing of the shell running the tests, so a variable set
// there cannot change what is checked.
var composeEnv = map[string]string{"GRAFANA_ADMIN_PASSWORD": "compose-test"}

// composeFile is one compose file as compose loads it.
type composeFile struct {
	file string // relative to the repository
	*types.Project
}

// loadProject loads file as `docker compose -f file [--profile ...] config`
// would, with exactly environ as the environment.
func loadProject(file string, environ map[string]string, profiles ...string) (*types.Project, error) {
	root, err := filepath.Abs(repoPath())
	if err != nil {
		return nil, err
	}
	var list []string
	for k, v := range environ {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, file)},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(list),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return opts.LoadProject(ctx)
}

// loadComposeFile loads file with composeEnv and no profile: the services a
// plain `up` starts.
func loadComposeFile(t *testing.T, file string) *composeFile {
	t.Helper()
	p, err := loadProject(file, composeEnv)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(p.Services) == 0 {
		t.Fatalf("%s: no services", file)
	}
	return &composeFile{file: file, Project: p}
}

// loadCompose loads docker-compose.yml.
func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	return loadComposeFile(t, defaultComposeFile)
}

// loadScale loads docker-compose.scale.yml.
func loadScale(t *testing.T) *composeFile {
	t.Helper()
	return loadComposeFile(t, scaleComposeFile)
}

// eachComposeFile runs check as a subtest on every compose file.
func eachComposeFile(t *testing.T, check func(t *testing.T, c *composeFile)) {
	for _, f := range composeFiles {
		t.Run(f, func(t *testing.T) { check(t, loadComposeFile(t, f)) })
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// serviceNames returns the services in a stable order.
func (c *composeFile) serviceNames() []string {
	return sortedKeys(c.Services)
}

// boxofficeImages are the images built from this repository.
func (c *composeFile) boxofficeImages() map[string]bool {
	images := map[string]bool{}
	for _, s := range c.Services {
		if s.Build != nil && s.Image != "" {
			images[s.Image] = true
		}
	}
	return images
}

// boxofficeServices returns the services that run the boxoffice binary:
// built here, or using the image a service builds here.
func (c *composeFile) boxofficeServices() []string {
	images := c.boxofficeImages()
	var out []string
	for _, name := range c.serviceNames() {
		s := c.Services[name]
		if s.Build != nil || images[s.Image] {
			out = append(out, name)
		}
	}
	return out
}

// servicesRunning returns the boxoffice services whose subcommand is sub.
func (c *composeFile) servicesRunning(sub string) []string {
	var out []string
	for _, name := range c.boxofficeServices() {
		if cmd := c.Services[name].Command; len(cmd) > 0 && cmd[0] == sub {
			out = append(out, name)
		}
	}
	return out
}

// servicesWithImage returns the services that run image (any tag of it when
// image has none).
func (c *composeFile) servicesWithImage(image string) []string {
	var out []string
	for _, name := range c.serviceNames() {
		img := c.Services[name].Image
		if img == image || (!strings.Contains(image, ":") && strings.HasPrefix(img, image+":")) {
			out = append(out, name)
		}
	}
	return out
}

// env returns the service's environment as the container gets it (a
// variable listed without a value and unset is left out, as compose does).
func env(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// publishes returns the host port that publishes the service's container
// port target, or "" when it is not published.
func publishes(s types.ServiceConfig, target string) string {
	for _, p := range s.Ports {
		if strconv.FormatUint(uint64(p.Target), 10) == target {
			if p.Published == "" {
				return target
			}
			return p.Published
		}
	}
	return ""
}

// repoSource returns the bind mount's source relative to the repository
// (compose resolves it to an absolute path), and whether it is a bind mount
// of a path inside the repository at all.
func repoSource(t *testing.T, v types.ServiceVolumeConfig) (string, bool) {
	t.Helper()
	if v.Type != types.VolumeTypeBind {
		return "", false
	}
	root, err := filepath.Abs(repoPath())
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, v.Source)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return v.Source, false
	}
	return filepath.ToSlash(rel), true
}

// mountedFrom returns the repository file the service mounts at target, or "".
func mountedFrom(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if rel, ok := repoSource(t, v); ok && v.Target == target {
			return rel
		}
	}
	return ""
}

// subcommandGroups reads the flag groups of each subcommand from the commands
// table in cmd/boxoffice/main.go, so this test and the binary cannot drift.
func subcommandGroups(t *testing.T) map[string]int {
	t.Helper()
	path := repoPath("cmd", "boxoffice", "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	groupNames := map[string]int{
		"Redis": config.Redis, "Kafka": config.Kafka, "MySQL": config.MySQL,
		"Gateway": config.Gateway, "Writer": config.Writer, "Seed": config.Seed,
		"Notifier": config.Notifier, "Holds": config.Holds, "Reconcile": config.Reconcile,
		"AuthKey": config.AuthKey, "Token": config.Token,
		"Ranking": config.Ranking, "Ranker": config.Ranker,
	}
	var eval func(e ast.Expr) (int, error)
	eval = func(e ast.Expr) (int, error) {
		switch e := e.(type) {
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.BinaryExpr:
			if e.Op != token.OR {
				return 0, fmt.Errorf("operator %s", e.Op)
			}
			x, err := eval(e.X)
			if err != nil {
				return 0, err
			}
			y, err := eval(e.Y)
			return x | y, err
		case *ast.SelectorExpr:
			if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "config" {
				if g, ok := groupNames[e.Sel.Name]; ok {
					return g, nil
				}
			}
			return 0, fmt.Errorf("unknown flag group %s (add it to groupNames in this test)", e.Sel.Name)
		}
		return 0, fmt.Errorf("unexpected expression %T", e)
	}
	out := map[string]int{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if name.Name != "commands" || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.CompositeLit)
			if !ok {
				continue
			}
			// Each element is {"name", groups, help, run}.
			for _, el := range lit.Elts {
				val, ok := el.(*ast.CompositeLit)
				if !ok || len(val.Elts) < 2 {
					continue
				}
				name, ok := val.Elts[0].(*ast.BasicLit)
				if !ok {
					continue
				}
				sub, err := strconv.Unquote(name.Value)
				if err != nil {
					continue
				}
				g, err := eval(val.Elts[1])
				if err != nil {
					t.Fatalf("%s: subcommand %q: %v", path, sub, err)
				}
				out[sub] = g
			}
		}
		return false
	})
	for _, sub := range []string{"gateway", "writer", "migrate", "seed"} {
		if _, ok := out[sub]; !ok {
			t.Fatalf("%s: no subcommand %q in the commands table (has %v); the test reads the flag groups from there", path, sub, out)
		}
	}
	return out
}

// resolve builds the configuration a boxoffice service would run with: the
// subcommand's flags from its command line and its BOX_* environment, exactly
// as config.Parse does. Every problem is returned, not just the first.
func resolve(name string, s types.ServiceConfig, groups map[string]int) (sub string, cfg config.Config, problems []string) {
	if len(s.Command) == 0 {
		return "", cfg, []string{"no command: name the subcommand (gateway, writer, migrate, seed)"}
	}
	sub = s.Command[0]
	g, ok := groups[sub]
	if !ok {
		return sub, cfg, []string{fmt.Sprintf("command %q is not a boxoffice subcommand", sub)}
	}
	cfg = config.Default()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.Register(fs, &cfg, g)
	known := map[string]bool{}
	var knownNames []string
	fs.VisitAll(func(f *flag.Flag) {
		known[config.EnvName(f.Name)] = true
		knownNames = append(knownNames, config.EnvName(f.Name))
	})
	environment := env(s)
	for _, k := range sortedKeys(environment) {
		if !known[k] {
			problems = append(problems, fmt.Sprintf("environment %s is not a flag of `boxoffice %s` (it knows %s)", k, sub, strings.Join(knownNames, ", ")))
		}
	}
	if err := fs.Parse(s.Command[1:]); err != nil {
		problems = append(problems, fmt.Sprintf("command %q: %v", s.Command, err))
	} else if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("command %q: unexpected arguments %q", s.Command, fs.Args()))
	}
	if err := config.ApplyEnv(fs, func(k string) string { return environment[k] }); err != nil {
		problems = append(problems, err.Error())
	}
	if err := cfg.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	return sub, cfg, problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addrPort returns the port of a listen address such as ":8080".
func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}
