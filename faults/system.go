package faults

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/boxoffice/boxoffice/app"
)

// System is what a fault scenario runs on — Redis, MariaDB and a Kafka
// broker of its own on free loopback ports, gateways and writers as
// processes of the binary, a reaper should this process die — offered to
// another suite (boxoffice hostile) that drives it its own way. Close stops
// everything it started.
type System struct {
	c *cluster
}

// SystemOptions place a System.
type SystemOptions struct {
	// Bin is the boxoffice binary; Scripts the repository's scripts/.
	Bin, Scripts string
	// Name names the temporary directory and, with LogDir, the folder the
	// logs are kept in (LogDir/Name).
	Name   string
	Dir    string
	LogDir string
	// Grace is the processes' --inflight-grace.
	Grace time.Duration
	// Log receives what goes wrong while stopping.
	Log io.Writer
}

// Process is a gateway or a writer of a System.
type Process struct{ p *proc }

// Addr is a gateway's API address or a writer's metrics address.
func (p Process) Addr() string { return p.p.addr }

// Pid is the process's id (its /proc/<pid>/status has VmRSS).
func (p Process) Pid() int { return p.p.cmd.Process.Pid }

// LogFile is where its stdout and stderr go.
func (p Process) LogFile() string { return p.p.log.Name() }

// StartSystem brings up the services, migrates and seeds concerts 1 and 2
// (boxoffice seed) and creates the topics; no gateway or writer runs yet.
func StartSystem(ctx context.Context, o SystemOptions) (*System, error) {
	scripts, err := filepath.Abs(o.Scripts)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	fo := Options{Bin: o.Bin, Scripts: scripts, Grace: o.Grace, AppendFsync: "everysec", Dir: o.Dir, LogDir: o.LogDir, Log: o.Log}
	if fo.Grace <= 0 {
		fo.Grace = 2 * time.Second
	}
	c, err := newCluster(fo, o.Name, false)
	if err != nil {
		return nil, err
	}
	s := &System{c: c}
	if err := c.start(ctx, probeCapacity); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Env connects the harness's seeding and audit (app.BenchEnv) to the
// system's Redis and MySQL; the caller closes it.
func (s *System) Env(ctx context.Context) (*app.BenchEnv, error) { return openEnv(ctx, s.c, 0) }

// StartGateway starts a gateway on a free loopback port with args after
// "gateway" and env added to the system's BOX_* variables (a later one
// wins), and waits until its public /readyz answers 200. Unlike the fault
// scenarios' gateways it trusts no body unless env says so.
func (s *System) StartGateway(ctx context.Context, args, env []string) (Process, error) {
	port, err := freePorts(1)
	if err != nil {
		return Process{}, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port[0])
	full := append(s.c.binEnv(), "BOX_HTTP_ADDR="+addr, "BOX_ADMIN_ADDR=127.0.0.1:0")
	p, err := s.c.spawn("gateway", addr, s.c.o.Bin, append([]string{"gateway"}, args...), append(full, env...))
	if err != nil {
		return Process{}, err
	}
	s.c.mu.Lock()
	s.c.gateways = append(s.c.gateways, p)
	s.c.mu.Unlock()
	if err := waitHTTP(ctx, p, "http://"+addr+"/readyz"); err != nil {
		return Process{p}, fmt.Errorf("gateway: %w", err)
	}
	return Process{p}, nil
}

// StartWriter starts a writer of the group and waits until it serves /healthz.
func (s *System) StartWriter(ctx context.Context) (Process, error) {
	p, err := s.c.startWriter(ctx)
	return Process{p}, err
}

// Close stops the processes and the services and removes the directory,
// keeping the logs in LogDir/Name when asked.
func (s *System) Close() { s.c.close() }
