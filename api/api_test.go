package api_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/boxoffice/boxoffice/api/apitest"
)

// The file loads and is a valid OpenAPI 3.1 document.
func TestSpecIsValid(t *testing.T) {
	doc, err := apitest.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %s, want 3.1", doc.OpenAPI)
	}
}

// readmeTables reads the error tables of README's "## API" section (header
// `| status | `error` | when |`): each table's operations are the
// `METHOD /path` spans of the line just above it or, when it names none, of
// the heading it is under ({a|b} naming several paths); a table before the
// first heading answers for every endpoint. It returns the "status code"
// rows per operation ("—" for no code), and those that hold for all.
func readmeTables(t *testing.T) (tables map[string][]string, everywhere []string) {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	span := regexp.MustCompile("`((?:GET|POST) /[^`]*)`")
	code := regexp.MustCompile("`([a-z_]+)`")
	ops := func(line string) []string {
		var out []string
		for _, m := range span.FindAllStringSubmatch(line, -1) {
			method, path, _ := strings.Cut(m[1], " ")
			alt := regexp.MustCompile(`\{([a-z]+(?:\|[a-z]+)+)\}`).FindStringSubmatch(path)
			if alt == nil {
				out = append(out, method+" "+path)
				continue
			}
			for _, name := range strings.Split(alt[1], "|") {
				out = append(out, method+" "+strings.Replace(path, alt[0], name, 1))
			}
		}
		return out
	}
	tables = map[string][]string{}
	var inAPI bool
	var heading, above, current []string
	var prev string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inAPI = line == "## API"
			heading = nil
		case !inAPI:
		case strings.HasPrefix(line, "### "), strings.HasPrefix(line, "#### "):
			heading = ops(line)
		case line == "| status | `error` | when |":
			current = heading
			if above = ops(prev); above != nil {
				current = above
			}
			if current == nil {
				current = []string{"*"}
			}
		case strings.HasPrefix(line, "| ") && current != nil:
			cells := strings.Split(line, "|")
			status, answer := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
			if status == "---" {
				break
			}
			var rows []string
			switch {
			case answer == "—", answer == "(plain text)":
				rows = []string{status + " " + answer}
			default:
				for _, m := range code.FindAllStringSubmatch(answer, -1) {
					rows = append(rows, status+" "+m[1])
				}
			}
			for _, op := range current {
				if op == "*" {
					everywhere = append(everywhere, rows...)
				} else {
					tables[op] = append(tables[op], rows...)
				}
			}
		case !strings.HasPrefix(line, "|"):
			current = nil
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return tables, everywhere
}

// README's error tables say what api/openapi.yaml says: for each public
// endpoint, every (status, error code) row is a response of the spec's, and
// every response of the spec's is a row (of its table or of the table that
// holds for every endpoint).
func TestREADMEErrorTablesAreTheSpec(t *testing.T) {
	doc, err := apitest.Spec()
	if err != nil {
		t.Fatal(err)
	}
	tables, everywhere := readmeTables(t)
	if len(everywhere) == 0 {
		t.Error("README's API section has no table for every endpoint")
	}
	public := apitest.Operations(doc, apitest.Public)
	for op := range tables {
		if !slices.Contains(public, op) {
			t.Errorf("README has an error table for %s, which api/openapi.yaml does not have", op)
		}
	}
	for _, op := range public {
		rows, ok := tables[op]
		if !ok {
			t.Errorf("README has no error table for %s", op)
			continue
		}
		method, path, _ := strings.Cut(op, " ")
		answers := apitest.Answers(doc.Paths.Value(path).GetOperation(method))
		for _, r := range rows {
			if !slices.Contains(answers, r) {
				t.Errorf("%s: README's row %q is not in api/openapi.yaml", op, r)
			}
		}
		for _, r := range everywhere {
			if !slices.Contains(answers, r) {
				t.Errorf("%s: README's row %q for every endpoint is not in api/openapi.yaml", op, r)
			}
		}
		for _, a := range answers {
			if !slices.Contains(rows, a) && !slices.Contains(everywhere, a) {
				t.Errorf("%s: api/openapi.yaml answers %q, which README's tables do not have", op, a)
			}
		}
	}
}
