package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
)

// runRoom is boxoffice room set|show|list|off: a concert's waiting room.
func runRoom(ctx context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) error {
	if len(args) == 0 || !slices.Contains(app.RoomActions, args[0]) {
		fmt.Fprintf(stderr, `usage: boxoffice room <%s> [flags]

  set   --concert N --opens-at 2026-12-24T10:00:00Z|+10m|now [--rate 1000] [--max-active 10000] [--pass-ttl 10m]
  show  --concert N     the room's settings and where its queue stands (JSON)
  list                  every room
  off   --concert N     remove the room: the concert's sale is open to every member again

boxoffice room set -h lists every flag.
`, strings.Join(app.RoomActions, "|"))
		return fmt.Errorf("boxoffice room: want one of %s", strings.Join(app.RoomActions, ", "))
	}
	cfg, err := config.Parse("room "+args[0], config.Redis|config.MySQL|config.Room, args[1:], os.Getenv, stderr)
	if err != nil {
		return err
	}
	return app.Room(ctx, cfg, args[0], stdout)
}
