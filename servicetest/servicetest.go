// Package servicetest gives integration tests their own slice of the real
// services: a fresh MySQL database, a Redis key prefix, Kafka topic and
// consumer group names, all unique per test, read from the same BOX_*
// variables as the binary. When a service is missing the test fails if
// BOX_REQUIRE_SERVICES=1 (CI) and is skipped with the reason otherwise.
package servicetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
)

// Unavailable fails or skips the test because a service is missing.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s is not reachable (%v); start it with `make services`", service, err)
	if os.Getenv("BOX_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Config returns a configuration pointing at the real services, with a fresh
// database (dropped at the end), and a Redis prefix, topic and group of its own.
func Config(t testing.TB) config.Config {
	t.Helper()
	cfg, err := config.Parse("test", config.Redis|config.Kafka|config.MySQL|config.Gateway|config.AuthKey|config.Writer|config.Seed, nil, os.Getenv, os.Stderr)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	name := "t" + RandomHex(5)
	cfg.RedisPrefix = "bo-" + name
	cfg.Topic = "reservations-" + name
	cfg.Group = "writer-" + name
	cfg.NotificationsTopic = "notifications-" + name
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.AdminAddr = "127.0.0.1:0"
	// Every comparison strategy, as the tests written before --strategies
	// expect; a test of the default sets it back to async.
	cfg.Strategies = "async,pessimistic,distlock"
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.NotifierMetricsAddr = "127.0.0.1:0"
	cfg.RankerGroup = "ranker-" + name
	cfg.RankerMetricsAddr = "127.0.0.1:0"
	cfg.Partitions = 2
	// Members from the body, as every test written before tokens expects;
	// a test of identity sets a key and turns this off.
	cfg.TrustBodyMember = true
	// Every test sends from 127.0.0.1, many of them as one member over and
	// over; a test of the limits sets them.
	cfg.OneAddress()
	cfg.MemberRate = 0

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		Unavailable(t, "redis at "+cfg.RedisAddr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, cfg.RedisPrefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	if err := kafka.Reachable(ctx, cfg.KafkaBrokers); err != nil {
		Unavailable(t, "kafka at "+strings.Join(cfg.KafkaBrokers, ","), err)
	}
	cfg.MySQLDSN = Database(t, cfg.MySQLDSN, "boxoffice_"+name)
	return cfg
}

// Database creates a fresh database on the server of dsn, drops it when the
// test ends, and returns a DSN for it.
func Database(t testing.TB, dsn, name string) string {
	t.Helper()
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("mysql dsn: %v", err)
	}
	mc.DBName = ""
	root, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		t.Fatalf("mysql: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := root.PingContext(ctx); err != nil {
		root.Close()
		Unavailable(t, "mysql at "+mc.Addr, err)
	}
	if _, err := root.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
		root.Close()
	})
	mc.DBName = name
	mc.ParseTime = true
	return mc.FormatDSN()
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Binary builds the boxoffice command into a temporary directory and returns
// its path, for the tests that run it as a user or an operator would.
func Binary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "boxoffice")
	build := exec.Command("go", "build", "-o", bin, "./cmd/boxoffice")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// Eventually polls cond every 20 ms until it holds or d passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s (last error: %v)", what, d, lastErr)
}

// Get fetches url and returns its status and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
