package faults

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PrintTable writes the results as a Markdown table, one row a scenario.
// The cluster set's has a column more: what a promoted replica missed and
// what reconcile made of it.
func PrintTable(w io.Writer, rep *Report) {
	head, rule := "", ""
	if rep.Cluster {
		head, rule = " replica missed → reconcile |", " --- |"
	}
	fmt.Fprintln(w, "| scenario | requests | 202 | rows | oversold | leaked | lost | duplicated | recovery s |"+head+" note |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"+rule+" --- |")
	for _, r := range rep.Scenarios {
		leaked := "-"
		if r.Leaked != nil {
			leaked = strconv.FormatInt(*r.Leaked, 10)
		}
		extra := ""
		if rep.Cluster {
			extra = " " + reconciled(r) + " |"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %s | %d | %d | %s |%s %s |\n", r.Scenario, thousands(r.Requests), thousands(r.Accepted),
			thousands(r.Rows), r.Oversold, leaked, r.Lost, r.Duplicated, recoveryText(r), extra, note(r))
	}
}

// reconciled is the cluster table's column: the concerts whose Redis side
// drifted, the seats, and what reconcile named and mended.
func reconciled(r Result) string {
	if r.Status == StatusError && r.Rows == 0 {
		return "-"
	}
	missed := fmt.Sprintf("%d concerts / %d seats", len(r.ReplicaMissed), r.MissedSeats)
	if len(r.ReplicaMissed) == 0 {
		missed = "0"
	}
	switch {
	case len(r.Reconciled) == 0:
		return missed + " → reconcile: nothing"
	case len(r.ReconciledAfter) == 0:
		return fmt.Sprintf("%s → reconcile named %d, --fix mended %d", missed, len(r.Reconciled), len(r.Fixed))
	default:
		return fmt.Sprintf("%s → reconcile named %d, %d still after --fix", missed, len(r.Reconciled), len(r.ReconciledAfter))
	}
}

// note is the table's last column: the fault, the status when not ok, the
// problems and bounds, and the notes that explain the figures.
func note(r Result) string {
	parts := []string{r.Fault}
	if r.Killed != "" {
		parts = append(parts, "killed "+r.Killed)
	}
	if r.PromotedS != nil {
		parts = append(parts, fmt.Sprintf("every slot served again %.1f s after the kill", *r.PromotedS))
	}
	if r.Status != StatusOK {
		parts = append(parts, "**"+r.Status+"**")
	}
	parts = append(parts, r.Problems...)
	parts = append(parts, r.Bounded...)
	parts = append(parts, r.Notes...)
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", "/")
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// WriteJSON writes the report to path.
func WriteJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// uname is `uname -a`, for the report's machine line.
func uname() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "uname", "-a").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// lookPath finds a program on PATH, or mariadbd in /usr/sbin (Debian's
// place for it, often not on a user's PATH).
func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	if alt := filepath.Join("/usr/sbin", name); name == "mariadbd" {
		if _, serr := os.Stat(alt); serr == nil {
			return alt, nil
		}
	}
	return "", err
}

func clusterDefaults() string {
	c := ClusterFull()
	return fmt.Sprintf("--requests %d --rate %g --concerts %d --capacity %d", c.Requests, c.Rate, c.Concerts, c.Capacity)
}

// Main is `boxoffice faults`: it parses args, runs the scenarios, prints the
// table on stdout and progress on stderr, and writes --json.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := Full()
	fs := flag.NewFlagSet("boxoffice faults", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scenarios, jsonPath string
	exe, _ := os.Executable()
	fs.StringVar(&o.Bin, "bin", exe, "boxoffice binary whose gateways and writers the scenarios run (default: this one)")
	fs.StringVar(&o.Scripts, "scripts", "scripts", "the repository's scripts/ folder (services.sh and kafka.sh start each scenario's own services)")
	fs.IntVar(&o.Requests, "requests", o.Requests, "requests per scenario, one member each")
	fs.Float64Var(&o.Rate, "rate", o.Rate, "requests per second (the fault comes half-way through)")
	fs.IntVar(&o.Capacity, "capacity", o.Capacity, "seats of each rushed concert; all of them fewer than --requests, so that the last seats are fought over (--cluster: 600)")
	fs.DurationVar(&o.Grace, "inflight-grace", o.Grace, "the gateways' and writers' --inflight-grace: short, so that the sweeper completes a dead gateway's reservations within the run")
	fs.StringVar(&o.AppendFsync, "appendfsync", o.AppendFsync, "redis-aof-kill: Redis's appendfsync, everysec or always (to compare what each loses)")
	fs.DurationVar(&o.KafkaDown, "kafka-down", o.KafkaDown, "how long kafka-stop keeps the broker down")
	fs.IntVar(&o.SeatsPerRow, "seats-per-row", o.SeatsPerRow, "give the rushed concert numbered seats in rows of this many (each request gets the best available seat); 0: general admission")
	fs.DurationVar(&o.Recovery, "recovery-timeout", o.Recovery, "longest wait for the probes to get through after a fault")
	fs.DurationVar(&o.Settle, "settle-timeout", o.Settle, "longest wait, after the load, for nothing to be in flight")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(Names(), ", ")+"; with --cluster: "+strings.Join(ClusterNames(), ", ")+")")
	fs.BoolVar(&o.Cluster, "cluster", false, "run the cluster set instead: one Redis Cluster (3 masters, 3 replicas) and three brokers of scripts/cluster.sh on free ports for all its scenarios, 3 gateways, 2 writers in one group, the rush over --concerts (defaults then: "+clusterDefaults()+")")
	fs.IntVar(&o.Concerts, "concerts", o.Concerts, "concerts rushed at once, --capacity seats each, the requests spread over them (default 1; --cluster: 24)")
	fs.StringVar(&o.Dir, "dir", "", "where each scenario's temporary directory goes (default: the system's)")
	fs.StringVar(&o.LogDir, "logs", "", "keep each scenario's logs (processes, services, the accepted ids) in DIR/<scenario>")
	fs.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Cluster {
		// The cluster set's own size, for what the command line left alone.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		c := ClusterFull()
		for name, p := range map[string][2]*int{"requests": {&o.Requests, &c.Requests}, "capacity": {&o.Capacity, &c.Capacity}, "concerts": {&o.Concerts, &c.Concerts}} {
			if !set[name] {
				*p[0] = *p[1]
			}
		}
		if !set["rate"] {
			o.Rate = c.Rate
		}
	}
	if scenarios != "" {
		o.Scenarios = strings.Split(scenarios, ",")
	}
	missing := MissingBinaries()
	if o.Cluster {
		missing = MissingClusterBinaries()
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing programs: %s (make services installs them)", strings.Join(missing, ", "))
	}
	o.Log = stderr
	rep, err := Run(ctx, o)
	if rep == nil {
		return err
	}
	rep.Command = strings.TrimSpace("boxoffice faults " + strings.Join(args, " "))
	PrintTable(stdout, rep)
	if jsonPath != "" {
		if werr := WriteJSON(jsonPath, rep); werr != nil {
			err = errors.Join(err, fmt.Errorf("--json: %w", werr))
		}
	}
	return err
}
