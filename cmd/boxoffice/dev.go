package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/boxoffice/boxoffice/dev"
)

// runDev is `boxoffice dev`. It parses its own flags because --demo is not a
// configuration flag shared with the other commands.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	o, err := dev.Parse(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	o.Stdout, o.Log = stdout, log
	return dev.Run(ctx, o)
}
