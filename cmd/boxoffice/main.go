// Command boxoffice runs the reservation gateway, the writer and their tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
)

// command is a subcommand that takes the shared configuration flags of its
// groups. help is its line in the usage.
type command struct {
	name   string
	groups int
	help   string
	run    func(ctx context.Context, cfg config.Config, log *slog.Logger) error
}

// commands, in the order the usage lists them.
var commands = []command{
	{"gateway", config.Redis | config.Kafka | config.MySQL | config.Gateway | config.AuthKey | config.Holds | config.Ranking, "serve the HTTP API", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		g, err := app.OpenGateway(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer g.Close()
		return g.Run(ctx)
	}},
	{"writer", config.Redis | config.Kafka | config.MySQL | config.Writer, "consume reservation events into MySQL", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		w, err := app.OpenWriter(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer w.Close()
		return w.Run(ctx)
	}},
	{"notifier", config.Kafka | config.Notifier, "deliver user notifications to a webhook (or the log)", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		n, err := app.OpenNotifier(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer n.Close()
		return n.Run(ctx)
	}},
	{"ranker", config.Redis | config.Kafka | config.MySQL | config.Ranking | config.Ranker, "keep the fast-selling ranking (GET /api/rankings) from the reservation events", func(ctx context.Context, cfg config.Config, log *slog.Logger) error {
		r, err := app.OpenRanker(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer r.Close()
		return r.Run(ctx)
	}},
	{"migrate", config.MySQL, "create or update the MySQL schema", app.Migrate},
	{"seed", config.Redis | config.Kafka | config.MySQL | config.Seed, "create concerts, members, stock and topics", app.Seed},
	{"reconcile", config.Redis | config.Kafka | config.MySQL | config.Reconcile, "compare Redis with MySQL per concert; --fix rebuilds Redis once the writer has caught up", app.Reconcile},
}

// tool is a subcommand that parses its own flags.
type tool struct {
	name string
	help string
	run  func(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error
}

// tools, listed after the commands.
var tools = []tool{
	{"bench", "drive a running gateway and report (see boxoffice bench -h)", runBench},
	{"dev", "everything in one process, nothing installed (see boxoffice dev -h)", runDev},
	{"token", "print a member's HS256 token: --member 42 --ttl 1h, signed with --auth-secret[-file]", runToken},
	{"room", "a concert's waiting room: set, show, list, off (see boxoffice room -h)", runRoom},
	{"dlq", "list, show and replay dead-lettered messages (see boxoffice dlq -h)", runDLQ},
	{"faults", "the fault suite: faults injected under load, then audited (see boxoffice faults -h)", runFaults},
	{"hostile", "the hostile-client suite: attacks beside a well-behaved client, then audited (see boxoffice hostile -h)", runHostile},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "boxoffice:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	slog.SetDefault(log)
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	name := args[0]
	if i := slices.IndexFunc(tools, func(t tool) bool { return t.name == name }); i >= 0 {
		return tools[i].run(ctx, args[1:], stdout, stderr, log)
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		usage(stderr)
		return fmt.Errorf("unknown command %q", name)
	}
	cmd := commands[i]
	cfg, err := config.Parse(name, cmd.groups, args[1:], os.Getenv, stderr)
	if err != nil {
		return err
	}
	cfg.Log(log, name, cmd.groups)
	return cmd.run(ctx, cfg, log)
}

func usage(w io.Writer) {
	fmt.Fprint(w, "usage: boxoffice <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.help)
	}
	for _, t := range tools {
		fmt.Fprintf(w, "  %-9s %s\n", t.name, t.help)
	}
	fmt.Fprint(w, `
Every flag can also be set with BOX_<FLAG> (--http-addr → BOX_HTTP_ADDR);
a flag on the command line wins. boxoffice <command> -h lists the flags.
`)
}
