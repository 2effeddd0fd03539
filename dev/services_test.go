package dev

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
)

func TestParseEmbedsWhatIsNotSet(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want Embed
	}{
		{"nothing set", nil, nil, Embed{Redis: true, Kafka: true, MySQL: true}},
		{"redis from env", nil, map[string]string{"BOX_REDIS_ADDR": "127.0.0.1:6379"}, Embed{Kafka: true, MySQL: true}},
		{"kafka from a flag", []string{"--kafka-brokers", "127.0.0.1:9092"}, nil, Embed{Redis: true, MySQL: true}},
		{"mysql from env", nil, map[string]string{"BOX_MYSQL_DSN": "u:p@tcp(127.0.0.1:3306)/db"}, Embed{Redis: true, Kafka: true}},
		{"other variables change nothing", nil, map[string]string{"BOX_HTTP_ADDR": "127.0.0.1:0", "BOX_CAPACITY": "5"}, Embed{Redis: true, Kafka: true, MySQL: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.Embed != c.want {
				t.Errorf("embed %+v, want %+v", o.Embed, c.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	o, err := Parse([]string{"--demo", "--capacity", "7"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Demo || o.Config.Capacity != 7 {
		t.Errorf("demo %v capacity %d, want true 7", o.Demo, o.Config.Capacity)
	}
	if o.Config.HTTPAddr != ":8080" || o.Config.MetricsAddr != "127.0.0.1:0" {
		t.Errorf("http-addr %q metrics-addr %q, want :8080 (like the gateway) and a free loopback port", o.Config.HTTPAddr, o.Config.MetricsAddr)
	}
	if _, err := Parse([]string{"extra"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("a stray argument was accepted")
	}
}

func TestStartNothingChangesNothing(t *testing.T) {
	cfg := config.Default()
	s, got, err := Start(cfg, Embed{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("config changed with nothing embedded:\n%+v\n%+v", got, cfg)
	}
}

func TestStartEmbedsOnLoopback(t *testing.T) {
	s, cfg, err := Start(config.Default(), Embed{Redis: true, Kafka: true, MySQL: true}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	def := config.Default()
	if !cfg.Embedded {
		t.Error("Embedded not set with MySQL embedded")
	}
	addrs := append([]string{cfg.RedisAddr, mysqlAddr(t, cfg.MySQLDSN)}, cfg.KafkaBrokers...)
	for _, a := range addrs {
		if !strings.HasPrefix(a, "127.0.0.1:") || a == def.RedisAddr || a == def.KafkaBrokers[0] || strings.HasSuffix(a, ":3306") {
			t.Errorf("embedded service at %s: want a free loopback port", a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.Reachable(ctx, cfg.KafkaBrokers); err != nil {
		t.Errorf("kafka: %v", err)
	}

	// Leases (SET NX PX) must run out with the clock, as in Redis.
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	defer rdb.Close()
	if err := rdb.Set(ctx, "lease", "x", 100*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := rdb.Get(ctx, "lease").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("a 100 ms key still there after 300 ms: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	closed = true
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
}

func mysqlAddr(t *testing.T, dsn string) string {
	t.Helper()
	start, end := strings.Index(dsn, "tcp("), strings.Index(dsn, ")/")
	if start < 0 || end < start {
		t.Fatalf("dsn %q", dsn)
	}
	return dsn[start+4 : end]
}

// dev takes members from the body unless a key is given; then the token's.
func TestParseTrustsTheBodyUnlessGivenAKey(t *testing.T) {
	none := func(string) string { return "" }
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--auth-secret", "0123456789abcdef0123456789abcdef"}, false},
		{[]string{"--trust-body-member=false"}, false},
	} {
		o, err := Parse(c.args, none, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if o.Config.TrustBodyMember != c.want {
			t.Errorf("%q: trust-body-member %v, want %v", c.args, o.Config.TrustBodyMember, c.want)
		}
	}
}
