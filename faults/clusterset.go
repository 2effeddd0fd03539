package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/boxoffice/boxoffice/bench"
)

// The cluster set (boxoffice faults --cluster, issue 15): three gateways
// and two writers of one group on a Redis Cluster and three brokers, a rush
// over concerts whose slots are on every master, and one node killed per
// scenario. The services start once for the set (three JVMs take ~40 s on
// two cores); what a scenario killed is started again before the next.
var clusterScenarios = []scenario{
	{
		name: "cluster-writer-kill", fault: "kill -9 one of two writers of the group mid-batch (not restarted: the other takes its partitions)",
		gateways: 3, writers: 2,
		inject: func(ctx context.Context, r *run) error {
			w := r.c.writers[0]
			r.res.Killed = w.name
			w.kill()
			r.faultEnded()
			return nil
		},
	},
	{
		name: "cluster-redis-master-kill", fault: "kill -9 the Redis master of the probes' concert (its replica is promoted after cluster-node-timeout 2 s)",
		gateways: 3, writers: 2, replicaLag: true,
		inject: func(ctx context.Context, r *run) error { return killMaster(ctx, r, 0) },
	},
	{
		name: "cluster-replica-behind", fault: fmt.Sprintf("the same kill, its replica %s behind: stopped (SIGSTOP) and cut off from the master, which admits alone, then killed; the replica resumes and is promoted without those writes", replicaBehind),
		gateways: 3, writers: 2, replicaLag: true,
		inject: func(ctx context.Context, r *run) error { return killMaster(ctx, r, replicaBehind) },
	},
	{
		name: "cluster-broker-kill", fault: "kill -9 one of three brokers (not restarted: replication factor 3, min.insync.replicas 2)",
		gateways: 3, writers: 2,
		inject: func(ctx context.Context, r *run) error {
			r.res.Killed = "broker 2 of 3 (" + r.c.brokers()[1] + ")"
			if err := r.c.killBroker(ctx, 2); err != nil {
				return err
			}
			r.faultEnded()
			return nil
		},
	},
}

// replicaBehind is how far cluster-replica-behind holds the replica back.
// On loopback a replica is microseconds behind its master, and the natural
// kill found it had missed nothing (README: Faults); a quarter of a second
// of admissions makes what asynchronous replication may lose certain, so
// that the audit and reconcile are seen to find and bound it.
const replicaBehind = 250 * time.Millisecond

// killMaster kills the Redis master of the probes' concert. With behind >
// 0 its replica first misses that long of writes: it is stopped (so that it
// cannot reconnect, nor be reported failing: behind is well under
// cluster-node-timeout), its link is cut on the master, and it resumes
// after the kill. Recovery is the probes' (their concert is on this master);
// the promotion is measured beside it.
func killMaster(ctx context.Context, r *run, behind time.Duration) error {
	masters, err := r.c.concertMasters(r.c.probeConcert())
	if err != nil {
		return err
	}
	victim := masters[r.c.probeConcert()]
	r.victimConcerts = map[int]bool{}
	for id, m := range masters {
		if m == victim && id <= r.c.concerts {
			r.victimConcerts[id] = true
		}
	}
	r.res.Killed = fmt.Sprintf("master %s (%d of %d concerts, and the probes')", victim, len(r.victimConcerts), r.c.concerts)
	resume := func() {}
	if behind > 0 {
		replica, err := r.c.replicaOf(victim)
		if err != nil {
			return err
		}
		pid, err := redisPid(replica)
		if err != nil {
			return err
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return fmt.Errorf("stop replica %s: %w", replica, err)
		}
		resume = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
		defer resume() // whatever happens below
		if _, err := redisCmd(victim, "CLIENT", "KILL", "TYPE", "replica"); err != nil {
			return fmt.Errorf("cut the replica's link: %w", err)
		}
		r.res.Killed += ", its replica " + replica + " " + behind.String() + " behind"
		if err := sleep(ctx, behind); err != nil {
			return err
		}
	}
	if err := r.c.killRedisNode(ctx, victim); err != nil {
		return err
	}
	killed := time.Now()
	resume()
	r.faultEnded()
	if err := r.c.allSlotsServed(ctx, time.Minute, victim); err != nil {
		return fmt.Errorf("no replica took over from %s: %w", victim, err)
	}
	v := round2(time.Since(killed).Seconds())
	r.res.PromotedS = &v
	return nil
}

// runCluster starts the set's services, runs each scenario of set on them
// (healing the cluster in between) and hands each result to add.
func runCluster(ctx context.Context, o Options, set []scenario, rep *Report, add func(scenario, Result, *bench.Machine)) error {
	rep.Cluster, rep.Concerts = true, o.concerts()
	fmt.Fprintf(o.Log, "faults: starting a Redis Cluster (3 masters, 3 replicas), three brokers and MariaDB for the %d scenarios\n", len(set))
	t0 := time.Now()
	c, err := newCluster(o, "cluster", false)
	if err == nil {
		defer c.close()
		err = c.start(ctx, probeCapacity)
	}
	if err == nil {
		rep.ConcertsPerMaster, err = c.spread()
	}
	rep.ServicesS = round2(time.Since(t0).Seconds())
	if err != nil {
		for _, s := range set {
			res := newResult(o, s)
			res.finish(fmt.Errorf("the cluster's services: %w", err))
			add(s, res, nil)
		}
		return nil
	}
	fmt.Fprintf(o.Log, "faults: services up in %.0f s; concerts per master %v\n", rep.ServicesS, rep.ConcertsPerMaster)
	for i, s := range set {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(o.Log, "faults: %s: %s\n", s.name, s.fault)
		err := c.setScenario(s.name)
		if err == nil && i > 0 {
			t := time.Now()
			if err = c.heal(ctx); err == nil {
				fmt.Fprintf(o.Log, "faults: %s: the cluster whole again in %.0f s\n", s.name, time.Since(t).Seconds())
			} else {
				err = fmt.Errorf("starting again what the previous scenario killed: %w", err)
			}
		}
		if err != nil {
			res := newResult(o, s)
			res.finish(err)
			add(s, res, nil)
			continue
		}
		res, machine := runScenario(ctx, o, s, c)
		add(s, res, machine)
	}
	return nil
}

// spread counts the rush's concerts per master; the set needs them on all
// three, or a master's kill would prove nothing about the others.
func (c *cluster) spread() (map[string]int, error) {
	masters, err := c.concertMasters(c.concerts)
	if err != nil {
		return nil, err
	}
	per := map[string]int{}
	for _, m := range masters {
		per[m]++
	}
	if len(per) != 3 || per[""] > 0 {
		return per, fmt.Errorf("the %d concerts' slots are on %d masters (%v), want all 3: rush more concerts", c.concerts, len(per), per)
	}
	return per, nil
}

// auditConcerts is the cluster set's audit of each concert on its own, then
// reconcile's: it must name exactly the concerts the audit found drifted
// (none, unless a promoted replica missed writes), and --fix must mend them.
// It replaces the sums of audit by per-concert ones and sets r.replicaOK.
func (r *run) auditConcerts(ctx context.Context) error {
	res := r.res
	per, err := r.concertCounts(ctx)
	if err != nil {
		return err
	}
	var leaked int64
	res.Oversold, res.RedisBehind, res.DBMismatch, res.Duplicated = 0, 0, 0, 0
	res.ReplicaMissed = map[string]int64{}
	var where []string
	drifted := map[int]bool{}
	for i, c := range per {
		id := i + 1
		var bad []string
		if n := max(0, c.Rows-c.Capacity, c.RedisTaken-c.Capacity); n > 0 {
			res.Oversold += n
			bad = append(bad, fmt.Sprintf("oversold %d", n))
		}
		if n := c.RedisTaken - c.Rows - c.InFlight; n > 0 {
			leaked += n
			bad = append(bad, fmt.Sprintf("leaked %d", n))
		}
		if n := c.Rows + c.InFlight - c.RedisTaken; n > 0 {
			res.RedisBehind += n
			res.ReplicaMissed[strconv.Itoa(id)] = n
			bad = append(bad, fmt.Sprintf("Redis behind by %d", n))
		}
		if n := (c.Capacity - c.DBRemaining) - c.Rows; n != 0 {
			res.DBMismatch += abs(n)
			bad = append(bad, fmt.Sprintf("concerts.remaining off by %d", n))
		}
		res.Duplicated += c.Duplicates
		if len(bad) > 0 {
			drifted[id] = true
			where = append(where, fmt.Sprintf("concert %d: %s", id, strings.Join(bad, ", ")))
		}
	}
	res.Leaked = &leaked
	res.MissedSeats = res.RedisBehind
	if len(where) > 0 {
		r.note("per concert: %s", strings.Join(where, "; "))
	}
	r.replicaOK = r.s.replicaLag && res.RedisBehind <= int64(r.o.Rate) && leaked == 0 && res.Oversold == 0 && res.DBMismatch == 0
	for id := range drifted {
		if !r.victimConcerts[id] {
			r.replicaOK = false
			if r.s.replicaLag {
				r.problem("concert %d drifted although its master was not the one killed", id)
			}
		}
	}

	found, _, err := r.reconcile(ctx, false, "reconcile")
	if err != nil {
		return err
	}
	res.Reconciled = found
	named := map[int]bool{}
	for k := range found {
		id, _ := strconv.Atoi(k)
		named[id] = true
	}
	if !maps.Equal(named, drifted) {
		r.replicaOK = false
		r.problem("reconcile named concerts %v, the audit found %v drifted", sortedIDs(named), sortedIDs(drifted))
	}
	if len(found) == 0 {
		return nil
	}
	_, fixed, err := r.reconcile(ctx, true, "reconcile-fix")
	if err != nil {
		return fmt.Errorf("reconcile --fix: %w", err)
	}
	res.Fixed = fixed
	after, _, err := r.reconcile(ctx, false, "reconcile-after-fix")
	if err != nil {
		return err
	}
	res.ReconciledAfter = after
	if len(after) > 0 {
		r.replicaOK = false
		r.problem("after reconcile --fix, reconcile still names %v", slices.Sorted(maps.Keys(after)))
	}
	per, err = r.concertCounts(ctx)
	if err != nil {
		return err
	}
	for i, c := range per {
		if c.Rows+c.InFlight != c.RedisTaken || c.Capacity-c.DBRemaining != c.Rows {
			r.replicaOK = false
			r.problem("after reconcile --fix, concert %d: Redis taken %d, rows %d, in flight %d, MySQL remaining %d", i+1, c.RedisTaken, c.Rows, c.InFlight, c.DBRemaining)
		}
	}
	return nil
}

// concertCounts reads each rushed concert.
func (r *run) concertCounts(ctx context.Context) ([]bench.Counts, error) {
	var out []bench.Counts
	for id := 1; id <= r.c.concerts; id++ {
		c, err := r.env.AuditConcert(ctx, int64(id))
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// replicaBound is the line of the bounded figure: what the promoted
// replica missed, what it cost, and that reconcile found and mended it.
func (r *run) replicaBound() string {
	res := r.res
	sold := "no second sale of them reached MySQL's limit (0 202s FAILED)"
	if res.FailedRows > 0 {
		sold = fmt.Sprintf("%d more it had sold a second time, and MySQL refused those past the concert's seats (202s then FAILED; the seat Redis counted was never free, so it is not given back, which mends the stock by one each; no oversell)", res.FailedRows)
	}
	return fmt.Sprintf("the promoted replica had missed admissions of its master (replication is asynchronous): after the settle its stock still counted %d seats free that rows hold, on %d of the killed master's %d concerts %v (bound: a second of writes, %g); %s; "+
		"the marker came with the stock (one transaction, replicated whole), so the replica kept admitting: "+
		"reconcile named exactly those %d concerts (Redis would admit more than the database has room for) and --fix rebuilt them from MySQL",
		res.MissedSeats, len(res.ReplicaMissed), len(r.victimConcerts), res.ReplicaMissed, r.o.Rate, sold, len(res.Reconciled))
}

// reconcileReport is the part of `boxoffice reconcile --json` the set reads.
type reconcileReport struct {
	Concerts []struct {
		ID          int64 `json:"concert"`
		Differences []struct {
			Kind  string `json:"kind"`
			Count int64  `json:"count"`
		} `json:"differences"`
	} `json:"concerts"`
	Fixed []int64 `json:"fixed"`
}

// reconcile runs `boxoffice reconcile --json` (with --fix when fix) and
// returns the concerts it names, each with its differences' kinds, and
// those it rebuilt. Its exit status says whether differences remain, which
// the report says too.
// The report is kept in the scenario's logs as name.json.
func (r *run) reconcile(ctx context.Context, fix bool, name string) (map[string][]string, []int64, error) {
	args := []string{"reconcile", "--json"}
	if fix {
		args = append(args, "--fix")
	}
	out, runErr := r.c.runBinOut(ctx, args...)
	var rep reconcileReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, nil, fmt.Errorf("boxoffice %s: %v (report: %w)", strings.Join(args, " "), runErr, err)
	}
	found := map[string][]string{}
	for _, c := range rep.Concerts {
		for _, d := range c.Differences {
			k := strconv.FormatInt(c.ID, 10)
			found[k] = append(found[k], fmt.Sprintf("%s %d", d.Kind, d.Count))
		}
	}
	_ = os.WriteFile(filepath.Join(r.c.logs, name+".json"), out, 0o644)
	return found, rep.Fixed, nil
}

// runBinOut runs a boxoffice command to its end and returns its stdout
// (stderr goes to its log).
func (c *cluster) runBinOut(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	f, err := os.OpenFile(filepath.Join(c.logs, args[0]+".log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, c.o.Bin, args...)
	cmd.Env = c.binEnv()
	cmd.Stdout, cmd.Stderr = &out, f
	err = cmd.Run()
	return out.Bytes(), err
}

func sortedIDs(m map[int]bool) []int { return slices.Sorted(maps.Keys(m)) }

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
