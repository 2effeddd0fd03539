// Command standins serves the stand-ins of `boxoffice dev` (miniredis, kfake,
// go-mysql-server) on free 127.0.0.1 ports and nothing else, for running the
// integration tests against them. It prints their BOX_* variables as export
// lines on stdout and serves until SIGINT or SIGTERM:
//
//	go build -o /tmp/standins ./dev/standins && /tmp/standins > env &
//
// scripts/standins-test.sh (make test-standins) is its user.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/boxoffice/boxoffice/dev"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dev.StandIns(ctx, os.Stdout, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "standins:", err)
		os.Exit(1)
	}
}
