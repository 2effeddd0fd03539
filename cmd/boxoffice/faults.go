package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/boxoffice/boxoffice/faults"
)

// runFaults runs the fault suite. Each scenario starts services of its own,
// so no BOX_* address is read.
func runFaults(ctx context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) error {
	return faults.Main(ctx, args, stdout, stderr)
}
