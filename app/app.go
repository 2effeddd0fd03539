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

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// startupWait bounds how long a process waits for its services at start-up
// (docker-compose starts them in parallel).
const startupWait = 60 * time.Second

func openRedis(ctx context.Context, cfg config.Config) (*stock.Store, error) {
	rdb := redis.NewClient(&redis.Options{
		Addr:         cfg.RedisAddr,
		DialTimeout:  cfg.RedisTimeout,
		ReadTimeout:  cfg.RedisTimeout,
		WriteTimeout: cfg.RedisTimeout,
		// Enough connections for a burst of concurrent requests on 2 cores;
		// each Lua call holds one for ~100 µs.
		PoolSize: 256,
	})
	st := stock.New(rdb, cfg.RedisPrefix, cfg.RedisTimeout)
	err := waitFor(ctx, "redis", func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, cfg.RedisTimeout)
		defer cancel()
		return rdb.Ping(pctx).Err()
	})
	if err == nil {
		err = st.LoadScripts(ctx)
	}
	if err != nil {
		rdb.Close()
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
