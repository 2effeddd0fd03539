package boxoffice_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/boxoffice/boxoffice"

// outside are the clients of the outside systems the package map names.
var outside = map[string]string{
	"go-redis":     "github.com/redis/go-redis",
	"sarama":       "github.com/IBM/sarama",
	"sqlx":         "github.com/jmoiron/sqlx",
	"mysql-driver": "github.com/go-sql-driver/mysql",
	"fasthttp":     "github.com/valyala/fasthttp",
	"prometheus":   "github.com/prometheus/client_golang",
}

// packageMap reads the table of docs/ARCHITECTURE.md: package → what it may
// import (our packages by path below the module, "boxoffice" for the root;
// outside clients by the names above).
func packageMap(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `([^`]+)` \\|.*\\| ([^|]*) \\|$")
	name := regexp.MustCompile("`([^`]+)`")
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var may []string
		for _, n := range name.FindAllStringSubmatch(m[2], -1) {
			may = append(may, n[1])
		}
		out[m[1]] = may
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no package map found in docs/ARCHITECTURE.md")
	}
	return out
}

// imports returns, per package directory, what its non-test files import:
// our packages (as in the map) and the outside clients (by name).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if base := d.Name(); path != "." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(filepath.Dir(path))
		if pkg == "." {
			pkg = "boxoffice"
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, spec := range file.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			var dep string
			switch {
			case p == module:
				dep = "boxoffice"
			case strings.HasPrefix(p, module+"/"):
				dep = strings.TrimPrefix(p, module+"/")
			default:
				for n, prefix := range outside {
					if p == prefix || strings.HasPrefix(p, prefix+"/") {
						dep = n
					}
				}
			}
			if dep != "" && !slices.Contains(out[pkg], dep) {
				out[pkg] = append(out[pkg], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every package is in docs/ARCHITECTURE.md's map and imports only what its
// row allows: Redis only through stock, MySQL only through store, and so on.
func TestPackageMap(t *testing.T) {
	allowed := packageMap(t)
	actual := imports(t)
	for pkg, deps := range actual {
		may, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s is not in docs/ARCHITECTURE.md's package map", pkg)
			continue
		}
		for _, d := range deps {
			if !slices.Contains(may, d) {
				t.Errorf("%s imports %s, which its row in docs/ARCHITECTURE.md does not allow", pkg, d)
			}
		}
	}
	for pkg := range allowed {
		if _, ok := actual[pkg]; !ok {
			t.Errorf("docs/ARCHITECTURE.md lists %s, which has no Go files", pkg)
		}
	}
}

// The scripts are stock's alone: no package named lua (or any other) holds
// them outside stock/.
func TestScriptsLiveInStock(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".lua") && !strings.HasPrefix(filepath.ToSlash(path), "stock/scripts/") {
			t.Errorf("%s: Redis scripts belong in stock/scripts/", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
