package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/boxoffice/boxoffice/config"
)

// StandInsUp is the last line StandIns writes: a script waiting for the
// export lines knows from it that they are complete.
const StandInsUp = "# stand-ins up; stop with SIGINT or SIGTERM"

// StandIns starts all three stand-ins on free 127.0.0.1 ports, writes their
// BOX_* variables to out as shell export lines (then StandInsUp), and
// serves until ctx ends. Nothing of ours runs in this process: it is what
// the integration tests run against in the stand-in run of the contract
// matrix (scripts/standins-test.sh).
func StandIns(ctx context.Context, out io.Writer, log *slog.Logger) (err error) {
	svc, cfg, err := Start(config.Default(), Embed{Redis: true, Kafka: true, MySQL: true}, log)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()
	// One write, so that a reader polling a file never sees half of it.
	if _, err := io.WriteString(out, exportLines(cfg)+StandInsUp+"\n"); err != nil {
		return fmt.Errorf("writing the environment: %w", err)
	}
	<-ctx.Done()
	log.Info("stopping the stand-ins")
	return nil
}

// exportLines are the variables the tests read, as `eval`-able shell.
func exportLines(cfg config.Config) string {
	var b strings.Builder
	for _, kv := range [][2]string{
		{"BOX_REDIS_ADDR", cfg.RedisAddr},
		{"BOX_KAFKA_BROKERS", strings.Join(cfg.KafkaBrokers, ",")},
		{"BOX_MYSQL_DSN", cfg.MySQLDSN},
	} {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// shellQuote single-quotes s for a POSIX shell (a DSN holds '(' and '?').
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
