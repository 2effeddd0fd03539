package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/config"
)

// runBench drives a running gateway. Its own flags are the harness's; the
// database and Redis used to seed and audit come from the same BOX_*
// variables as the other subcommands. Without them reachable it runs
// unaudited and says so; the ceiling needs neither.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	if bench.IsWriter(args) {
		return app.RunWriterBench(ctx, args, stdout, stderr, log)
	}
	cfg, err := config.Parse("bench", config.Redis|config.MySQL, nil, os.Getenv, stderr)
	if err != nil {
		return err
	}
	var env bench.Env
	if !wantsHelp(args) && bench.NeedsEnv(args) {
		e, err := app.OpenBenchEnv(ctx, cfg, log)
		if err != nil {
			log.Warn("no seeding or audit: MySQL/Redis not reachable", "err", err)
		} else {
			defer e.Close()
			env = e
		}
	}
	return bench.Run(ctx, args, stdout, stderr, env)
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" || a == "help" {
			return true
		}
	}
	return false
}
