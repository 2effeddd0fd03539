package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/servicetest"
)

// `boxoffice bench room` at a small size (issue 17's shape, a fiftieth of
// it: 2,000 arrivals, 200 before opening, 200/s, 100 seats, 200 SSE
// streams) against the real services, with the gateway and the writer of
// the real binary it starts itself on the test's database, prefix, topic and
// group: every audit holds, the seats are sold, sold out reaches every
// waiting stream, and the gateway's memory was read with the streams open.
func TestRoomBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway and a writer and runs a sale through a waiting room")
	}
	cfg := servicetest.Config(t)
	bin := servicetest.Binary(t)
	// The processes bench room starts read the services from the environment.
	for k, v := range map[string]string{
		"BOX_REDIS_ADDR": cfg.RedisAddr, "BOX_REDIS_PREFIX": cfg.RedisPrefix, "BOX_KAFKA_BROKERS": strings.Join(cfg.KafkaBrokers, ","),
		"BOX_TOPIC": cfg.Topic, "BOX_GROUP": cfg.Group, "BOX_NOTIFICATIONS_TOPIC": cfg.NotificationsTopic, "BOX_MYSQL_DSN": cfg.MySQLDSN,
	} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env, err := app.OpenBenchEnv(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	file := filepath.Join(t.TempDir(), "room.json")
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err = bench.Run(ctx, []string{"room", "--bin", bin, "--json", file, "--quiet",
		"--arrivals", "2000", "--pre-open", "200", "--rate", "200", "--capacity", "100", "--streams", "200",
		"--join-rate", "1000", "--open-delay", "2s", "--sold-out-wait", "10s", "--max-time", "2m"}, &stdout, &stderr, env)
	t.Logf("%s\nstdout:\n%s\nstderr:\n%s", time.Since(start).Round(time.Second), stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r bench.RoomResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.OK || len(r.Checks) < 10 {
		t.Errorf("ok %t with %d checks", r.OK, len(r.Checks))
	}
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	if r.Joined != 2000 || r.Drawn == 0 || r.Buys.Accepted != 100 {
		t.Errorf("joined %d, drawn %d, accepted %d: want 2000 joined, a draw, the 100 seats sold", r.Joined, r.Drawn, r.Buys.Accepted)
	}
	if r.StreamsPeak < 200 || r.SoldOutAfterOpenMs == nil || r.SoldOut.Never != 0 {
		t.Errorf("streams %d, sold out after %v ms, reach %+v", r.StreamsPeak, r.SoldOutAfterOpenMs, r.SoldOut)
	}
	if r.SoldOut.Waiters == 0 {
		// The counter ran past every stream before the buyers took the
		// seats (a loaded machine): nobody was left to tell.
		t.Log("no stream was waiting when the room sold out")
	}
	if g := r.Gateway; g.RSSMBBefore <= 0 || g.RSSMBStreamsOpen <= 0 || g.RSSMBAfter <= 0 || g.StreamsOpen == 0 {
		t.Errorf("gateway resources %+v", g)
	}
}
