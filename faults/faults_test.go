package faults

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/servicetest"
)

// Every scenario at a small size (Small: 400 requests at 200/s): each on
// services of its own, so the test needs the programs, not the shared
// services. `make faults` runs the full size.
func TestFaults(t *testing.T) { runSuite(t, 0) }

// The same scenarios on a concert with numbered seats (rows of 20): each
// request, naming no seat, gets the best available one, and the audit must
// come out the same.
func TestFaultsSeated(t *testing.T) { runSuite(t, 20) }

func runSuite(t *testing.T, seatsPerRow int) {
	if testing.Short() {
		t.Skip("the fault suite starts a broker and a database per scenario")
	}
	if missing := MissingBinaries(); len(missing) > 0 {
		servicetest.Unavailable(t, "programs for the scenarios' own services ("+strings.Join(missing, ", ")+")", exec.ErrNotFound)
	}
	root := servicetest.RepoRoot()
	bin := servicetest.Binary(t)
	o := Small()
	o.SeatsPerRow = seatsPerRow
	o.Bin, o.Scripts = bin, filepath.Join(root, "scripts")
	o.LogDir = t.TempDir()
	var log bytes.Buffer
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, o)
	t.Logf("progress:\n%s", log.String())
	if rep != nil {
		var table bytes.Buffer
		PrintTable(&table, rep)
		t.Logf("%d scenarios in %s:\n%s", len(rep.Scenarios), time.Since(start).Round(time.Second), table.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != len(scenarios) {
		t.Fatalf("%d results for %d scenarios", len(rep.Scenarios), len(scenarios))
	}
	for _, r := range rep.Scenarios {
		want := []string{StatusOK}
		switch r.Scenario {
		case "redis-aof-kill":
			// appendfsync everysec may lose the last writes before the
			// kill; the audit bounds them (README: Faults).
			want = append(want, StatusBounded)
		}
		if !slices.Contains(want, r.Status) {
			t.Errorf("%s: %s, want %v: %v", r.Scenario, r.Status, want, r.Problems)
		}
		if r.Accepted == 0 || r.Rows == 0 {
			t.Errorf("%s: %d 202s, %d rows: the load did not get through", r.Scenario, r.Accepted, r.Rows)
		}
	}
}

// The cluster set at a small size (ClusterSmall: 600 requests at 200/s over
// 12 concerts; a writer, a Redis master whose replica is behind, a broker
// killed): one Redis Cluster and three brokers of its own for the three
// scenarios, 3 gateways, 2 writers. `make faults-cluster` runs the full size.
func TestFaultsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster set starts six Redis nodes, three brokers and a database")
	}
	if missing := MissingClusterBinaries(); len(missing) > 0 {
		servicetest.Unavailable(t, "programs for the cluster set's own services ("+strings.Join(missing, ", ")+")", exec.ErrNotFound)
	}
	o := ClusterSmall()
	o.Bin, o.Scripts = servicetest.Binary(t), filepath.Join(servicetest.RepoRoot(), "scripts")
	o.LogDir = t.TempDir()
	var log bytes.Buffer
	o.Log = &log
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, o)
	t.Logf("progress:\n%s", log.String())
	if rep != nil {
		var table bytes.Buffer
		PrintTable(&table, rep)
		t.Logf("%d scenarios in %s (services up in %.0f s):\n%s", len(rep.Scenarios), time.Since(start).Round(time.Second), rep.ServicesS, table.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.ConcertsPerMaster) != 3 {
		t.Errorf("concerts per master %v, want slots on all 3", rep.ConcertsPerMaster)
	}
	if len(rep.Scenarios) != len(o.Scenarios) {
		t.Fatalf("%d results for %d scenarios", len(rep.Scenarios), len(o.Scenarios))
	}
	for _, r := range rep.Scenarios {
		want := []string{StatusOK}
		switch r.Scenario {
		case "cluster-redis-master-kill", "cluster-replica-behind":
			// The promoted replica may have missed its master's last
			// admissions; the audit bounds them (README: Faults).
			want = append(want, StatusBounded)
			if r.PromotedS == nil {
				t.Errorf("%s: no promotion measured", r.Scenario)
			}
		}
		// Held back a quarter of a second, the replica misses admissions
		// for sure: the audit and reconcile must both see them.
		if r.Scenario == "cluster-replica-behind" && len(r.ReplicaMissed) == 0 {
			t.Errorf("%s: the replica held back %s missed nothing the audit saw", r.Scenario, replicaBehind)
		}
		if !slices.Contains(want, r.Status) {
			t.Errorf("%s: %s, want %v: %v", r.Scenario, r.Status, want, r.Problems)
		}
		if r.Accepted == 0 || r.Rows == 0 {
			t.Errorf("%s: %d 202s, %d rows: the load did not get through", r.Scenario, r.Accepted, r.Rows)
		}
		if len(r.Reconciled) != len(r.ReplicaMissed) || len(r.ReconciledAfter) != 0 {
			t.Errorf("%s: reconcile named %v (after --fix %v), the audit found %v drifted", r.Scenario, r.Reconciled, r.ReconciledAfter, r.ReplicaMissed)
		}
	}
}

func TestDefinitive(t *testing.T) {
	for code, want := range map[string]bool{
		"503/unavailable": true, "503/overloaded": true, "429/rate_limited": true, "404/concert_not_found": true, "400/invalid_request": true,
		"conn/refused": true, "503/in_doubt": false, "conn/timeout": false, "conn/closed": false, "500/unknown": false,
	} {
		if got := definitive(code); got != want {
			t.Errorf("definitive(%q) = %v, want %v", code, got, want)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseNodes(t *testing.T) {
	// A cluster after a failover: 7102 was killed, 7105 took over its slots.
	out := "a1 127.0.0.1:7101@17101 myself,master - 0 0 1 connected 0-5460\n" +
		"a2 127.0.0.1:7102@17102 master,fail - 0 0 2 disconnected\n" +
		"a3 127.0.0.1:7103@17103 master - 0 0 3 connected 10923-16383 [42->-a1]\n" +
		"a4 127.0.0.1:7104@17104 slave a1 0 0 1 connected\n" +
		"a5 127.0.0.1:7105@17105 master - 0 0 7 connected 5461-10922\n" +
		"a6 127.0.0.1:7106@17106 slave a3 0 0 3 connected\n"
	nodes := parseNodes(out)
	if len(nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(nodes))
	}
	for slot, want := range map[int]string{0: "127.0.0.1:7101", 5460: "127.0.0.1:7101", 5461: "127.0.0.1:7105", 10922: "127.0.0.1:7105", 16383: "127.0.0.1:7103"} {
		if got := masterOfSlot(nodes, slot); got != want {
			t.Errorf("slot %d: %q, want %q", slot, got, want)
		}
	}
	if !nodes[1].failed || len(nodes[1].slots) != 0 {
		t.Errorf("the killed master: %+v", nodes[1])
	}
	if nodes[3].master || nodes[3].of != "a1" {
		t.Errorf("a replica: %+v", nodes[3])
	}
}

func TestReconciledColumn(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Status: StatusOK, Rows: 10}, "0 → reconcile: nothing"},
		{Result{Status: StatusBounded, Rows: 10, ReplicaMissed: map[string]int64{"2": 3, "5": 4}, MissedSeats: 7,
			Reconciled: map[string][]string{"2": {"oversold 3"}, "5": {"oversold 4"}}, Fixed: []int64{2, 5}},
			"2 concerts / 7 seats → reconcile named 2, --fix mended 2"},
		{Result{Status: StatusFailed, Rows: 10, Reconciled: map[string][]string{"2": {"leaked 1"}}, Fixed: []int64{2},
			ReconciledAfter: map[string][]string{"2": {"leaked 1"}}}, "0 → reconcile named 1, 1 still after --fix"},
		{Result{Status: StatusError}, "-"},
	} {
		if got := reconciled(c.r); got != c.want {
			t.Errorf("reconciled(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}
