// Package app wires each boxoffice process from its configuration: it builds
// the clients (Redis, Kafka, MySQL), hands them to the gateway, writer and
// seed code, and owns their lifetimes. Adapters never read the environment;
// everything they need arrives from here.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// startupWait bounds how long a process waits for its services at start-up
// (docker-compose starts them in parallel).
const startupWait = 60 * time.Second

func openRedis(ctx context.Context, cfg config.Config) (*stock.Store, error) {
	st := stock.Dial(stock.Options{Addr: cfg.RedisAddr, Mode: cfg.RedisMode, Prefix: cfg.RedisPrefix, Timeout: cfg.RedisTimeout})
	err := waitFor(ctx, "redis", st.Ping)
	if err == nil {
		err = st.LoadScripts(ctx)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func openMySQL(ctx context.Context, cfg config.Config, conns int) (*store.Store, error) {
	var db *store.Store
	err := waitFor(ctx, "mysql", func(ctx context.Context) error {
		var err error
		db, err = store.Open(ctx, cfg.MySQLDSN, conns, cfg.DBTimeout)
		return err
	})
	return db, err
}

// waitFor retries f with backoff until it succeeds or startupWait passes.
func waitFor(ctx context.Context, what string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not reachable: %w", what, err)
		case <-time.After(backoff):
		}
		slog.Default().Info("waiting for service", "service", what, "err", err)
		backoff = min(2*backoff, 2*time.Second)
	}
}
