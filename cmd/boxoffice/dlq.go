package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/dlq"
)

// runDLQ lists, shows and replays dead-lettered messages. Each action takes
// its own flags next to those of Redis, Kafka and MySQL, so it is a tool,
// not one of the commands.
func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	cmd, err := dlq.Parse(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	return app.DLQ(ctx, cmd, stdout, log)
}
