// Command boxoffice-dev is `boxoffice dev`: the whole system in one process on
// in-process stand-ins (package dev). It is a binary of its own because the
// stand-ins cost every process that links them: go-mysql-server's regex
// package compiles a WebAssembly module at start-up, and a gateway linking it
// sat at 97 MB RSS idle against 31 MB without (binary 120 MB → 50 MB).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/boxoffice/boxoffice/dev"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "boxoffice dev:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	slog.SetDefault(log)
	o, err := dev.Parse(args, os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	o.Stdout, o.Log = os.Stdout, log
	return dev.Run(ctx, o)
}
