package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/boxoffice/boxoffice/hostile"
)

// runHostile runs the hostile-client suite. It starts services of its own,
// so no BOX_* address is read.
func runHostile(ctx context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) error {
	return hostile.Main(ctx, args, stdout, stderr)
}
