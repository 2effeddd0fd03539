package servicetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/config"
)

// Redis returns a client of the test Redis (BOX_REDIS_ADDR) and a key prefix
// of the test's own, for tests that need Redis alone; every key under the
// prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	cfg, err := config.Parse("test", config.Redis, nil, os.Getenv, os.Stderr)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, PoolSize: 256})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		Unavailable(t, "redis at "+cfg.RedisAddr, err)
	}
	prefix := "bo-t" + RandomHex(5)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return rdb, prefix
}

// MySQLDSN returns a DSN (BOX_MYSQL_DSN) of a fresh database of the test's
// own, for tests that need MySQL alone; it is dropped when the test ends.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	cfg, err := config.Parse("test", config.MySQL, nil, os.Getenv, os.Stderr)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return Database(t, cfg.MySQLDSN, "boxoffice_t"+RandomHex(5))
}
