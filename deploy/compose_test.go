package deploy

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/boxoffice/boxoffice/config"
)

// This file reads the deployment files into small typed models. Compose
// allows several spellings for most fields (a list or a map, a short string
// or a long mapping); each type below accepts the spellings compose accepts.

// repoPath is a path relative to the repository root (tests run in deploy/).
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

// composeFile is the part of docker-compose.yml the tests look at.
type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       *build       `yaml:"build"`
	Command     words        `yaml:"command"`
	Environment environment  `yaml:"environment"`
	Ports       []port       `yaml:"ports"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
	Volumes     []volume     `yaml:"volumes"`
	Restart     string       `yaml:"restart"`
}

// build is `build: .` or `build: {context: ., dockerfile: ...}`.
type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain build
	return n.Decode((*plain)(b))
}

// words is a command: a list, or a string split on spaces.
type words []string

func (w *words) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*w = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*w = l
	return nil
}

// environment is a map, or a list of KEY=VALUE.
type environment map[string]string

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	out := environment{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			out[k] = v
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			out[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	*e = out
	return nil
}

// port is "[ip:]host:container[/proto]" or the long form.
type port struct {
	HostIP    string
	Published string
	Target    string
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			HostIP    string `yaml:"host_ip"`
			Published string `yaml:"published"`
			Target    string `yaml:"target"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		*p = port{HostIP: long.HostIP, Published: long.Published, Target: long.Target}
		return nil
	}
	s, _, _ := strings.Cut(n.Value, "/")
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 1:
		*p = port{Target: parts[0]}
	case 2:
		*p = port{Published: parts[0], Target: parts[1]}
	case 3:
		*p = port{HostIP: parts[0], Published: parts[1], Target: parts[2]}
	default:
		return fmt.Errorf("line %d: cannot read port %q", n.Line, n.Value)
	}
	return nil
}

// dependsOn is a list of names (condition service_started) or a map of
// name → {condition}.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	out := dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, name := range l {
			out[name] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := n.Decode(&m); err != nil {
			return err
		}
		for name, v := range m {
			c := v.Condition
			if c == "" {
				c = "service_started"
			}
			out[name] = c
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a list or a map", n.Line)
	}
	*d = out
	return nil
}

type healthcheck struct {
	Test    words `yaml:"test"`
	Disable bool  `yaml:"disable"`
}

// volume is "source:target[:mode]" or the long form.
type volume struct {
	Source string
	Target string
}

func (v *volume) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var long struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		}
		if err := n.Decode(&long); err != nil {
			return err
		}
		*v = volume{Source: long.Source, Target: long.Target}
		return nil
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) == 1 {
		*v = volume{Target: parts[0]}
		return nil
	}
	*v = volume{Source: parts[0], Target: parts[1]}
	return nil
}

// isBind reports whether the volume mounts a path of the repository.
func (v volume) isBind() bool {
	return strings.HasPrefix(v.Source, ".") || strings.HasPrefix(v.Source, "/")
}

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, repoPath("docker-compose.yml"), &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return &c
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

// interpolate resolves compose's variable references in s the way compose
// does: ${VAR:-default} (default when unset or empty), ${VAR-default}
// (when unset), ${VAR} and $VAR, and $$ for a dollar sign.
func interpolate(s string, lookup func(string) (string, bool)) string {
	return composeVar.ReplaceAllStringFunc(s, func(ref string) string {
		m := composeVar.FindStringSubmatch(ref)
		switch {
		case ref == "$$":
			return "$"
		case m[4] != "":
			v, _ := lookup(m[4])
			return v
		}
		v, set := lookup(m[1])
		switch m[2] {
		case ":-":
			if v == "" {
				return m[3]
			}
		case "-":
			if !set {
				return m[3]
			}
		}
		return v
	})
}

var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// serviceNames returns the services in a stable order.
func (c *composeFile) serviceNames() []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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

// publishes returns the host port that publishes the service's container
// port target, or "" when it is not published.
func (s *service) publishes(target string) string {
	for _, p := range s.Ports {
		if p.Target == target {
			if p.Published == "" {
				return target
			}
			return p.Published
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
func resolve(name string, s *service, groups map[string]int) (sub string, cfg config.Config, problems []string) {
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
	for _, k := range sortedKeys(s.Environment) {
		if !known[k] {
			problems = append(problems, fmt.Sprintf("environment %s is not a flag of `boxoffice %s` (it knows %s)", k, sub, strings.Join(knownNames, ", ")))
		}
	}
	if err := fs.Parse(s.Command[1:]); err != nil {
		problems = append(problems, fmt.Sprintf("command %q: %v", s.Command, err))
	} else if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("command %q: unexpected arguments %q", s.Command, fs.Args()))
	}
	if err := config.ApplyEnv(fs, func(k string) string { return s.Environment[k] }); err != nil {
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
