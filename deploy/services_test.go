package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/servicetest"
)

// servicesScript runs scripts/services.sh with args on a state folder and a
// Redis port of the test's own (never the shared services'), and returns its
// progress output.
func servicesScript(t *testing.T, dir string, port int, fsync string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{repoPath("scripts", "services.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "BOX_SERVICES_DIR="+dir, fmt.Sprintf("BOX_REDIS_PORT=%d", port), "BOX_REDIS_APPENDFSYNC="+fsync)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// redisConfig reads settings of the running Redis on port.
func redisConfig(t *testing.T, rdb *redis.Client, names ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	got := map[string]string{}
	for _, n := range names {
		m, err := rdb.ConfigGet(ctx, n).Result()
		if err != nil {
			t.Fatalf("config get %s: %v", n, err)
		}
		got[n] = m[n]
	}
	return got
}

// TestServicesRedisAppendOnly: a Redis that `make services` starts keeps an
// append-only file, fsynced as BOX_REDIS_APPENDFSYNC says (everysec unless
// set), so what it acknowledged survives a restart; a Redis it reuses is
// left as it is, with a warning when its settings differ; a value Redis
// does not know is refused before anything starts.
func TestServicesRedisAppendOnly(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			servicetest.Unavailable(t, bin+" (for a Redis of the test's own)", err)
		}
	}
	dir := t.TempDir()
	port := servicetest.FreePort(t)
	t.Cleanup(func() {
		if out, err := servicesScript(t, dir, port, "", "stop", "redis"); err != nil {
			t.Errorf("services.sh stop redis: %v\n%s", err, out)
		}
	})
	start := func(fsync string) string {
		t.Helper()
		out, err := servicesScript(t, dir, port, fsync, "start", "redis")
		if err != nil {
			t.Fatalf("services.sh start redis (BOX_REDIS_APPENDFSYNC=%q): %v\n%s", fsync, err, out)
		}
		return out
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	start("always")
	want := map[string]string{"appendonly": "yes", "appendfsync": "always", "dir": filepath.Join(dir, "redis"), "save": ""}
	if got := redisConfig(t, rdb, "appendonly", "appendfsync", "dir", "save"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("BOX_REDIS_APPENDFSYNC=always: Redis runs with %v, want %v", got, want)
	}
	if err := rdb.Set(ctx, "kept", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Reused as is, and said so.
	if out := start("everysec"); !strings.Contains(out, "WARNING: it runs with appendonly yes, appendfsync always") {
		t.Errorf("a reused Redis whose appendfsync differs: no warning in\n%s", out)
	}
	if got := redisConfig(t, rdb, "appendfsync"); got["appendfsync"] != "always" {
		t.Errorf("the reused Redis was changed: appendfsync %s", got["appendfsync"])
	}

	if out, err := servicesScript(t, dir, port, "", "stop", "redis"); err != nil {
		t.Fatalf("services.sh stop redis: %v\n%s", err, out)
	}
	start("") // the default
	if got := redisConfig(t, rdb, "appendonly", "appendfsync"); got["appendonly"] != "yes" || got["appendfsync"] != "everysec" {
		t.Errorf("default: Redis runs with %v, want appendonly yes, appendfsync everysec", got)
	}
	if v, err := rdb.Get(ctx, "kept").Result(); err != nil || v != "1" {
		t.Errorf("a key written before the restart: %q, %v; the append-only file should have kept it", v, err)
	}

	other := servicetest.FreePort(t)
	out, err := servicesScript(t, t.TempDir(), other, "sometimes", "start", "redis")
	if err == nil || !strings.Contains(out, "BOX_REDIS_APPENDFSYNC=sometimes: use always, everysec or no") {
		t.Errorf("BOX_REDIS_APPENDFSYNC=sometimes: err %v, output\n%s", err, out)
	}
}
