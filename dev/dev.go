// Package dev is `boxoffice dev`: the whole system in one process with no
// services installed. It starts in-process stand-ins for Redis (miniredis),
// Kafka (kfake, the real wire protocol) and MySQL (go-mysql-server's memory
// engine behind its MySQL-protocol server), each on a free loopback port,
// then runs the real gateway and writer against them, migrates, seeds a demo
// concert and prints what to try. A service named by BOX_REDIS_ADDR,
// BOX_KAFKA_BROKERS or BOX_MYSQL_DSN (or the matching flag) is used instead of
// its stand-in. README.md in this folder lists what the stand-ins cannot do.
package dev

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
)

// Groups are the configuration flags `boxoffice dev` accepts (besides --demo):
// everything the gateway, the writer and seed take.
const Groups = config.Redis | config.Kafka | config.MySQL | config.Gateway | config.AuthKey | config.Writer | config.Seed | config.Holds

// Options is one `boxoffice dev` run.
type Options struct {
	Config config.Config // the services not embedded are taken from here
	Embed  Embed         // which services run in this process
	// Demo fires a short rush through the bench harness once everything is
	// up, prints its table and audit, then keeps serving.
	Demo   bool
	Stdout io.Writer // the banner and the demo's table
	Stderr io.Writer // the demo's progress
	Log    *slog.Logger
}

// Parse reads the flags of `boxoffice dev` (args after the subcommand name)
// and the BOX_* environment. A service is embedded unless its flag or
// variable is set.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	o := Options{Config: config.Default(), Stderr: stderr}
	// The writer's metrics move to a free loopback port (the banner prints
	// it), so that dev never clashes with a real writer on :9091.
	o.Config.MetricsAddr = "127.0.0.1:0"
	fs := flag.NewFlagSet("boxoffice dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Register(fs, &o.Config, Groups)
	fs.BoolVar(&o.Demo, "demo", false, "once up, fire a short rush through the bench harness and print its table and audit, then keep serving")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: boxoffice dev [--demo] [flags]

Runs the gateway and the writer in one process against in-process stand-ins
for Redis, Kafka and MySQL on free loopback ports. Set BOX_REDIS_ADDR,
BOX_KAFKA_BROKERS or BOX_MYSQL_DSN (or the flag) to use a real server instead.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := config.ApplyEnv(fs, getenv); err != nil {
		return o, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	set := func(name string) bool { return given[name] || getenv(config.EnvName(name)) != "" }
	if !set("trust-body-member") {
		// dev is for trying things with curl: members come from the body
		// unless a key is given (then the token's, as in production).
		o.Config.TrustBodyMember = !o.Config.HasAuthKey()
	}
	// dev runs on one machine for one person, whose curl and bench all
	// come from one address.
	if !set("address-rate") {
		o.Config.AddressRate = 0
	}
	if !set("max-conns-per-address") {
		o.Config.MaxConnsPerAddress = 0
	}
	o.Embed = Embed{Redis: !set("redis-addr"), Kafka: !set("kafka-brokers"), MySQL: !set("mysql-dsn")}
	return o, o.Config.Validate()
}

// drainWait bounds how long shutdown waits for the writer to catch up with
// what the gateway accepted, so that a stop right after a rush still writes
// every accepted reservation (the embedded servers keep nothing afterwards).
const drainWait = 10 * time.Second

// Run starts everything, prints what to try and serves until ctx ends; then
// it stops the gateway, lets the writer write what was accepted, stops the
// writer and last the embedded servers.
func Run(ctx context.Context, o Options) (err error) {
	defer func() {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = nil // interrupted while starting: a normal stop
		}
	}()
	log := o.Log
	if err := checkPorts(o.Config); err != nil {
		return err
	}
	svc, cfg, err := Start(o.Config, o.Embed, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()
	cfg.Log(log, "dev", Groups)

	if err := migrateAndSeed(ctx, cfg, o.Embed, log); err != nil {
		return err
	}
	g, err := app.OpenGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()
	w, err := openWriter(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer w.Close()

	p := serve(g, w)
	defer p.cancel()
	if o.Demo {
		if err := demo(ctx, cfg, g.Addr, o.Stdout, o.Stderr, log); err != nil && ctx.Err() == nil {
			// The demo is a show; a failed one is reported and the system keeps serving.
			fmt.Fprintf(o.Stdout, "demo: %v\n", err)
		}
	}
	if ctx.Err() == nil {
		printBanner(o.Stdout, cfg, o.Embed, g.Addr, g.AdminAddr, w.Addr)
	}
	runErr := p.wait(ctx)
	log.Info("stopping")
	// Events still in the embedded broker die with it; a real broker keeps
	// them for the next writer.
	if err := p.shutdown(o.Embed.Kafka, log); err != nil && runErr == nil {
		runErr = err
	}
	log.Info("stopped")
	return runErr
}

// checkPorts fails before anything starts when a listen port is taken, most
// often :8080 by a gateway already running.
func checkPorts(cfg config.Config) error {
	for flagName, addr := range map[string]string{"http-addr": cfg.HTTPAddr, "metrics-addr": cfg.MetricsAddr, "admin-addr": cfg.AdminAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--%s %s: %w (is a gateway or writer already running? pick another with --%s)", flagName, addr, err, flagName)
		}
		ln.Close()
	}
	return nil
}

// migrateAndSeed creates the schema and seeds the demo concerts.
func migrateAndSeed(ctx context.Context, cfg config.Config, embed Embed, log *slog.Logger) error {
	if err := app.Migrate(ctx, cfg, log); err != nil {
		return err
	}
	if embed.MySQL && !embed.Redis {
		// The embedded database starts empty, so stock a real Redis kept
		// from an earlier run would disagree with it: start it over.
		cfg.Reset = true
	}
	return app.Seed(ctx, cfg, log)
}

// openWriter opens the writer without a pprof listener of its own: one
// process, one pprof, and the gateway's --debug-addr profiles the writer too.
func openWriter(ctx context.Context, cfg config.Config, log *slog.Logger) (*app.Writer, error) {
	cfg.DebugAddr = ""
	return app.OpenWriter(ctx, cfg, log)
}

// processes are the gateway and the writer running, each under a context of
// its own so that shutdown can stop them in order.
type processes struct {
	g                       *app.Gateway
	stopGateway, stopWriter context.CancelFunc
	gdone, wdone            chan error
}

// serve runs the gateway and the writer in goroutines of their own.
func serve(g *app.Gateway, w *app.Writer) *processes {
	gctx, stopGateway := context.WithCancel(context.Background())
	wctx, stopWriter := context.WithCancel(context.Background())
	p := &processes{g: g, stopGateway: stopGateway, stopWriter: stopWriter, gdone: make(chan error, 1), wdone: make(chan error, 1)}
	go func() { p.gdone <- g.Run(gctx) }()
	go func() { p.wdone <- w.Run(wctx) }()
	return p
}

// cancel stops both at once; after shutdown it does nothing.
func (p *processes) cancel() {
	p.stopGateway()
	p.stopWriter()
}

// wait returns when ctx ends (nil) or either process stops by itself (why).
// The stopped one's result is put back for shutdown to read.
func (p *processes) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-p.gdone:
		p.gdone <- err
		return fmt.Errorf("gateway stopped: %w", err)
	case err := <-p.wdone:
		p.wdone <- err
		return fmt.Errorf("writer stopped: %w", err)
	}
}

// shutdown stops the gateway, then (when drain is set) waits for the writer
// to write what the gateway accepted, then stops the writer. It returns the
// first of their errors.
func (p *processes) shutdown(drain bool, log *slog.Logger) error {
	var first error
	p.stopGateway()
	if err := <-p.gdone; err != nil {
		first = fmt.Errorf("gateway: %w", err)
	}
	if drain {
		waitDrained(p.g, log)
	}
	p.stopWriter()
	if err := <-p.wdone; err != nil && first == nil {
		first = fmt.Errorf("writer: %w", err)
	}
	return first
}

// waitDrained waits until no reservation is in flight (accepted by the
// gateway, not yet written), or drainWait passes.
func waitDrained(g *app.Gateway, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), drainWait)
	defer cancel()
	for {
		n, err := inFlight(ctx, g)
		if err == nil && n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			log.Warn("stopping with reservations still in flight", "in_flight", n, "err", err)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func inFlight(ctx context.Context, g *app.Gateway) (int64, error) {
	concerts, err := g.Stock.Concerts(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, c := range concerts {
		n, err := g.Stock.InFlightCount(ctx, c)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// printBanner tells the user what runs where and what to try.
func printBanner(out io.Writer, cfg config.Config, embed Embed, gatewayAddr, adminAddr, writerAddr string) {
	base := "http://" + hostPort(gatewayAddr)
	where := func(embedded bool, what string) string {
		if embedded {
			return "embedded " + what
		}
		return "real server"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nboxoffice dev is up: gateway and writer in this process.\n")
	fmt.Fprintf(&b, "  redis  %s (%s)\n", cfg.RedisAddr, where(embed.Redis, "miniredis"))
	fmt.Fprintf(&b, "  kafka  %s (%s)\n", strings.Join(cfg.KafkaBrokers, ","), where(embed.Kafka, "kfake"))
	dsn := cfg.MySQLDSN
	if !embed.MySQL {
		dsn = config.MaskDSN(dsn) // the embedded one's password is no secret
	}
	fmt.Fprintf(&b, "  mysql  %s (%s)\n", dsn, where(embed.MySQL, "go-mysql-server, in memory"))
	fmt.Fprintf(&b, "  seed   %d concert(s) of %d seats, members 1..%d\n", cfg.Concerts, cfg.Capacity, cfg.Members)
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  curl -i -X POST %s/api/reservations/async -H 'Content-Type: application/json' -d '{\"concertId\":1,\"memberId\":1}'\n", base)
	fmt.Fprintf(&b, "  curl %s/api/reservations/<reservationId from the answer>\n", base)
	fmt.Fprintf(&b, "  curl %s/api/concerts/1\n", base)
	fmt.Fprintf(&b, "  BOX_REDIS_ADDR=%s BOX_MYSQL_DSN='%s' boxoffice bench rush --rate 500 --target %s\n", cfg.RedisAddr, dsn, base)
	fmt.Fprintf(&b, "\nMetrics:\n")
	if adminAddr != "" { // the gateway's metrics are on its admin listener, not the public one
		fmt.Fprintf(&b, "  gateway  http://%s/metrics\n", hostPort(adminAddr))
	}
	fmt.Fprintf(&b, "  writer   http://%s/metrics\n", hostPort(writerAddr))
	if embed.Any() {
		fmt.Fprintf(&b, "\nThe embedded services keep everything in memory: it is gone when you stop.\n")
	}
	if embed.MySQL {
		fmt.Fprintf(&b, "The pessimistic and unsafe strategies need real MySQL locking (see dev/README.md).\n")
	}
	fmt.Fprintf(&b, "Stop with Ctrl-C (SIGINT) or SIGTERM.\n\n")
	io.WriteString(out, b.String())
}

// hostPort turns a listen address into one a client can dial: an
// unspecified host (":8080", "[::]:8080") becomes 127.0.0.1.
func hostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
