package hostile

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/servicetest"
)

// Every attack at a small size (Small: 300 slow and 300 idle connections,
// a burst of 600, the idle and header timeouts at 3 s, 32 admissions in
// flight), on services of its own, so the test needs the programs, not the
// shared services. `make hostile` runs the full size.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("the hostile suite starts a broker and a database")
	}
	if missing := MissingBinaries(); len(missing) > 0 {
		servicetest.Unavailable(t, "programs for the suite's own services ("+strings.Join(missing, ", ")+")", exec.ErrNotFound)
	}
	root := servicetest.RepoRoot()
	bin := servicetest.Binary(t)
	o := Small()
	o.Bin, o.Scripts = bin, filepath.Join(root, "scripts")
	o.LogDir = t.TempDir()
	var log bytes.Buffer
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, o)
	t.Logf("progress:\n%s", log.String())
	if rep != nil {
		var table bytes.Buffer
		PrintTable(&table, rep)
		t.Logf("%d phases in %s:\n%s", len(rep.Phases), time.Since(start).Round(time.Second), table.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Phases) != len(phases) {
		t.Fatalf("%d phases ran of %d", len(rep.Phases), len(phases))
	}
	if rep.WellBehaved.Statuses["202"] == 0 {
		t.Errorf("the well-behaved client got no 202: %v", rep.WellBehaved.Statuses)
	}
}

func TestCheck(t *testing.T) {
	var p Phase
	p.Statuses = map[string]int64{}
	for _, c := range []struct {
		a    answer
		want []string
		ok   bool
	}{
		{answer{status: 400, code: "invalid_request"}, []string{"400/invalid_request"}, true},
		{answer{status: 431, code: "text"}, []string{"431/*", "400/*"}, true},
		{answer{status: 500, code: "text"}, []string{"431/*", "400/*"}, false},
		{answer{status: 202}, []string{"4xx"}, false},
		{answer{status: 418, code: "teapot"}, []string{"4xx"}, true},
		{answer{err: context.DeadlineExceeded}, []string{"4xx"}, false},
		{answer{status: http.StatusAccepted}, []string{"202"}, true},
	} {
		if got := p.check("case", c.a, c.want...); got != c.ok {
			t.Errorf("check(%s, %v) = %v, want %v", c.a.key(), c.want, got, c.ok)
		}
	}
}

func TestTamperKeepsTheSignature(t *testing.T) {
	tok := jwtOf(map[string]any{"alg": "HS256"}, map[string]any{"sub": "1"}, hs256([]byte("k")))
	got := tamper(tok, map[string]any{"sub": "2"})
	if strings.Split(got, ".")[2] != strings.Split(tok, ".")[2] || got == tok {
		t.Fatalf("tamper(%s) = %s", tok, got)
	}
}
