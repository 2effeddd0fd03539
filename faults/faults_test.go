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
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite starts a broker and a database per scenario")
	}
	if missing := MissingBinaries(); len(missing) > 0 {
		servicetest.Unavailable(t, "programs for the scenarios' own services ("+strings.Join(missing, ", ")+")", exec.ErrNotFound)
	}
	root := servicetest.RepoRoot()
	bin := servicetest.Binary(t)
	o := Small()
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
