package config_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/boxoffice/boxoffice/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want func(config.Config) bool
	}{
		{"default", nil, nil, func(c config.Config) bool { return c.HTTPAddr == ":8080" && c.BatchSize == 1000 }},
		{"env replaces default", nil, map[string]string{"BOX_HTTP_ADDR": ":9000", "BOX_BATCH_WAIT": "5ms"}, func(c config.Config) bool {
			return c.HTTPAddr == ":9000" && c.BatchWait == 5*time.Millisecond
		}},
		{"flag wins over env", []string{"--http-addr", ":7000"}, map[string]string{"BOX_HTTP_ADDR": ":9000"}, func(c config.Config) bool { return c.HTTPAddr == ":7000" }},
		{"broker list", nil, map[string]string{"BOX_KAFKA_BROKERS": "a:1, b:2"}, func(c config.Config) bool {
			return len(c.KafkaBrokers) == 2 && c.KafkaBrokers[1] == "b:2"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.Parse("x", config.Kafka|config.Gateway|config.Writer, c.args, env(c.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !c.want(got) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestRejects(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad env value", nil, map[string]string{"BOX_BATCH_SIZE": "many"}, "BOX_BATCH_SIZE"},
		{"zero batch", []string{"--batch-size", "0"}, nil, "batch-size must be positive"},
		{"negative body", []string{"--max-body", "-1"}, nil, "max-body must be positive"},
		{"unknown flag", []string{"--nope"}, nil, "not defined"},
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
		{"bad prefix", []string{"--redis-prefix", "a b"}, nil, "redis-prefix"},
		{"bad redis mode", []string{"--redis-mode", "sentinel"}, nil, "redis-mode \"sentinel\""},
		{"single with a list", []string{"--redis-mode", "single", "--redis-addr", "a:1,b:2"}, nil, "redis-mode single takes one address"},
		{"zero grace", []string{"--inflight-grace", "0"}, nil, "inflight-grace must be positive"},
		{"negative grace", []string{"--inflight-grace", "-1s"}, nil, "inflight-grace must be positive"},
		{"negative leeway", []string{"--auth-leeway", "-1s"}, nil, "auth-leeway must not be negative"},
		{"zero payment window", []string{"--payment-window", "0"}, nil, "payment-window must be positive"},
		{"secret twice", []string{"--auth-secret", "x", "--auth-secret-file", "f"}, nil, "not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("x", config.Redis|config.Gateway|config.Writer|config.AuthKey, c.args, env(c.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestTopicReplication: the topics' replication flags default to one
// broker's values, take a cluster's, and refuse what no broker could honour,
// in seed and in the notifier (both create topics).
func TestTopicReplication(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		rf, isr  int
		rejected string
	}{
		{name: "defaults: one broker", rf: 1, isr: 1},
		{name: "three brokers", args: []string{"--replication-factor", "3", "--min-insync-replicas", "2"}, rf: 3, isr: 2},
		{name: "from the environment", env: map[string]string{"BOX_REPLICATION_FACTOR": "3", "BOX_MIN_INSYNC_REPLICAS": "3"}, rf: 3, isr: 3},
		{name: "zero replicas", args: []string{"--replication-factor", "0"}, rejected: "replication-factor must be at least 1"},
		{name: "too many for an int16", args: []string{"--replication-factor", "40000", "--min-insync-replicas", "1"}, rejected: "replication-factor must be at least 1 (and at most 32767), got 40000"},
		{name: "zero in sync", args: []string{"--min-insync-replicas", "0"}, rejected: "min-insync-replicas must be at least 1, got 0"},
		{name: "more in sync than replicas", args: []string{"--replication-factor", "2", "--min-insync-replicas", "3"}, rejected: "min-insync-replicas (3) must not exceed replication-factor (2)"},
		{name: "more in sync than the default replicas", env: map[string]string{"BOX_MIN_INSYNC_REPLICAS": "2"}, rejected: "min-insync-replicas (2) must not exceed replication-factor (1)"},
	}
	for _, groups := range []struct {
		name string
		g    int
	}{{"seed", config.Redis | config.Kafka | config.MySQL | config.Seed}, {"notifier", config.Kafka | config.Notifier}} {
		for _, c := range cases {
			t.Run(groups.name+"/"+c.name, func(t *testing.T) {
				got, err := config.Parse(groups.name, groups.g, c.args, env(c.env), io.Discard)
				if c.rejected != "" {
					if err == nil || !strings.Contains(err.Error(), c.rejected) {
						t.Fatalf("err %v, want it to mention %q", err, c.rejected)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.ReplicationFactor != c.rf || got.MinInsyncReplicas != c.isr {
					t.Fatalf("replication-factor %d, min-insync-replicas %d; want %d, %d", got.ReplicationFactor, got.MinInsyncReplicas, c.rf, c.isr)
				}
			})
		}
	}
}

func TestMaskDSN(t *testing.T) {
	if got := config.MaskDSN("u:secret@tcp(h:3306)/db"); strings.Contains(got, "secret") {
		t.Fatalf("password shown: %s", got)
	}
}

// The README's configuration table lists every flag with its variable.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	// The notifier's and the ranker's groups apart: their --metrics-addr is
	// the writer's flag name on a field of its own.
	for _, groups := range []int{config.Redis | config.Kafka | config.MySQL | config.Gateway | config.Writer | config.Seed | config.Holds | config.Reconcile | config.AuthKey | config.Token | config.Ranking, config.Notifier, config.Ranker} {
		fs := flag.NewFlagSet("all", flag.ContinueOnError)
		config.Register(fs, &c, groups)
		fs.VisitAll(func(f *flag.Flag) {
			row := "| `--" + f.Name + "` | `" + config.EnvName(f.Name) + "` |"
			if !strings.Contains(string(readme), row) {
				t.Errorf("README has no row starting %s", row)
			}
		})
	}
}

// Secrets never reach the start-up log line.
func TestLogMasksSecrets(t *testing.T) {
	c := config.Default()
	c.AuthSecret, c.PaymentSecret = "auth-secret-value", "payment-secret-value"
	var out strings.Builder
	c.Log(slog.New(slog.NewTextHandler(&out, nil)), "gateway", config.Gateway|config.AuthKey)
	if strings.Contains(out.String(), "secret-value") {
		t.Fatalf("a secret is logged: %s", out.String())
	}
	if !strings.Contains(out.String(), "auth-secret=***") {
		t.Fatalf("auth-secret not shown masked: %s", out.String())
	}
}

func TestSecret(t *testing.T) {
	f := t.TempDir() + "/s"
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ inline, file, want string }{{"x", "", "x"}, {"", f, "from-file"}, {"", "", ""}} {
		got, err := config.Secret(c.inline, c.file)
		if err != nil || string(got) != c.want {
			t.Errorf("Secret(%q, %q) = %q, %v; want %q", c.inline, c.file, got, err, c.want)
		}
	}
	if _, err := config.Secret("", f+".missing"); err == nil {
		t.Error("a missing file gave no error")
	}
}

func TestStrategyNames(t *testing.T) {
	cases := []struct {
		strategies string
		unsafe     bool
		want       string // joined by ","; "" when refused
	}{
		{"async", false, "async"},
		{"async, pessimistic,distlock", false, "async,pessimistic,distlock"},
		{"async,async", false, "async"},
		{"async", true, "async,unsafe"},
		{"async,unsafe", true, "async,unsafe"},
		{"async,unsafe", false, ""}, // unsafe needs --enable-unsafe as well
		{"async,optimistic", false, ""},
		{"", false, ""},
	}
	for _, c := range cases {
		got, err := config.Config{Strategies: c.strategies, EnableUnsafe: c.unsafe}.StrategyNames()
		if c.want == "" {
			if err == nil {
				t.Errorf("%q unsafe=%v: %v, want refused", c.strategies, c.unsafe, got)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("%q unsafe=%v: %v %v, want %s", c.strategies, c.unsafe, got, err, c.want)
		}
	}
	if d, _ := config.Parse("gateway", config.Gateway, nil, env(nil), io.Discard); d.Strategies != "async" || d.AdminAddr != "127.0.0.1:9095" {
		t.Errorf("defaults: --strategies %q --admin-addr %q, want async and 127.0.0.1:9095", d.Strategies, d.AdminAddr)
	}
}

// The ranker's flags: its own metrics address default, and a top that a
// dashboard can show.
func TestRankerFlags(t *testing.T) {
	c, err := config.Parse("ranker", config.Redis|config.Kafka|config.Ranking|config.Ranker, nil, env(nil), io.Discard)
	if err != nil || c.RankerMetricsAddr != ":9096" || c.RankerGroup != "boxoffice-ranker" || c.RankingTop != 10 || c.RankingRedisAddr != "" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = config.Parse("ranker", config.Redis|config.Ranking|config.Ranker, []string{"--metrics-addr", ":7000", "--ranking-redis-addr", "r:1"}, env(nil), io.Discard)
	if err != nil || c.RankerMetricsAddr != ":7000" || c.MetricsAddr != ":9091" || c.RankingRedisAddr != "r:1" {
		t.Fatalf("flags: ranker metrics %q, writer's %q, ranking redis %q, %v", c.RankerMetricsAddr, c.MetricsAddr, c.RankingRedisAddr, err)
	}
	for _, top := range []string{"0", "101"} {
		if _, err := config.Parse("ranker", config.Ranker, []string{"--ranking-top", top}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "ranking-top") {
			t.Errorf("--ranking-top %s: %v", top, err)
		}
	}
}
