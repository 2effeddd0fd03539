package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
)

// runToken mints a member's token. A tool rather than a command: its one
// line of output is the token, on stdout, with no configuration log.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) error {
	cfg, err := config.Parse("token", config.AuthKey|config.Token, args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	return app.Token(cfg, stdout)
}
