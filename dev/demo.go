package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/config"
)

// The demo rush: 2,000 members rush 500 seats at 500 requests/s, so it sells
// out in about a second (the rush ends at the first sold_out). 500/s is about
// what the embedded stand-ins serve on two cores at millisecond latencies
// (at 1,000/s the median went from ~1 ms to ~300 ms): the demo shows how the
// system behaves, not how fast it is; boxoffice bench against the real
// services is for that.
const (
	demoCapacity = 500
	demoMembers  = 2000
	demoRate     = 500
	demoDuration = "3s"
)

// demo fires a short rush at the gateway through the bench harness, which
// prints its table and audit on stdout, then restores the seed of cfg so that
// the lines the banner suggests work on a fresh concert.
func demo(ctx context.Context, cfg config.Config, gatewayAddr string, stdout, stderr io.Writer, log *slog.Logger) error {
	env, err := app.OpenBenchEnv(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer env.Close()
	fmt.Fprintf(stdout, "\ndemo: %d members rush %d seats of concert 1 at %d requests/s for %s (boxoffice bench rush)\n\n",
		demoMembers, demoCapacity, demoRate, demoDuration)
	args := []string{"rush",
		"--target", "http://" + hostPort(gatewayAddr),
		"--concerts", "1",
		"--capacity", strconv.Itoa(demoCapacity),
		"--members", strconv.Itoa(demoMembers),
		"--rate", strconv.Itoa(demoRate),
		"--duration", demoDuration,
		"--drain-timeout", "30s",
	}
	runErr := bench.Run(ctx, args, stdout, stderr, env)
	if ctx.Err() != nil {
		return runErr
	}
	if err := env.Reset(ctx, cfg.Concerts, cfg.Capacity, cfg.Members); err != nil {
		return fmt.Errorf("restore the seed after the demo: %w", err)
	}
	log.Info("demo done; seed restored", "concerts", cfg.Concerts, "capacity", cfg.Capacity)
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(stdout, "\ndemo done: concerts 1..%d are back to %d free seats.\n", cfg.Concerts, cfg.Capacity)
	return nil
}
