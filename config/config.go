// Package config holds the one configuration struct of every boxoffice
// process. Values come from flags; a BOX_* environment variable named after the
// flag (--http-addr ↔ BOX_HTTP_ADDR) replaces the default, and a flag given on
// the command line wins over both.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Config is the whole configuration. Each subcommand registers the fields it uses.
type Config struct {
	// Services.
	RedisAddr string
	// RedisMode is "single", "cluster" or "auto" (cluster when RedisAddr
	// lists several comma-separated addresses).
	RedisMode    string
	RedisPrefix  string
	KafkaBrokers []string
	MySQLDSN     string
	Topic        string
	// NotificationsTopic carries the transitions a user cares about.
	NotificationsTopic string
	// HoldTTL is how long a written reservation is held for payment (HELD)
	// before it expires; 0 confirms on write.
	HoldTTL time.Duration

	// DebugAddr, when set, serves net/http/pprof (gateway and writer).
	DebugAddr string

	// Timeouts for network calls.
	RedisTimeout   time.Duration
	ProduceTimeout time.Duration
	DBTimeout      time.Duration

	// Gateway.
	HTTPAddr     string
	MaxBody      int
	DBPool       int
	LockLease    time.Duration
	LockWait     time.Duration
	EnableUnsafe bool
	// AdminAddr is the gateway's admin listener: /metrics, the detailed
	// /readyz and pprof; empty turns it off.
	AdminAddr string
	// Strategies names the reservation strategies the gateway serves.
	Strategies string
	// NoopEndpoint serves POST /api/noop, the ceiling bench ceiling measures.
	NoopEndpoint bool
	// MaxSeatsPerOrder bounds the numbered seats of one reservation.
	MaxSeatsPerOrder int

	// The edge (gateway): abuse limits and what one client may hold.
	MemberRate         float64
	MemberBurst        int
	AddressRate        float64
	AddressBurst       int
	ClientIPHeader     string
	MaxConns           int
	MaxConnsPerAddress int
	HeaderTimeout      time.Duration
	IdleTimeout        time.Duration
	ReduceIdleMemory   bool
	MaxAdmissions      int
	// ProduceLinger is the gateway producer's linger (kafka.Linger).
	ProduceLinger time.Duration
	// SoldOutTTL is how long the gateway trusts Redis's "sold out" for a
	// concert before asking again.
	SoldOutTTL time.Duration

	// Identity (gateway). Without a key the gateway refuses to start
	// unless TrustBodyMember says plainly that members come from the body.
	AuthSecret        string
	AuthSecretFile    string
	AuthPublicKeyFile string
	AuthLeeway        time.Duration
	TrustBodyMember   bool
	// The payment service's callback secret; confirm needs its signature.
	PaymentSecret     string
	PaymentSecretFile string
	PaymentWindow     time.Duration
	// The waiting rooms' key (passes and tickets) and tick.
	QueueSecret     string
	QueueSecretFile string
	QueueTick       time.Duration

	// A waiting room (boxoffice room set).
	RoomConcert   int64
	RoomOpensAt   string
	RoomRate      int
	RoomMaxActive int
	RoomPassTTL   time.Duration

	// Token (boxoffice token).
	TokenMember int64
	TokenTTL    time.Duration

	// Writer.
	Group         string
	BatchSize     int
	BatchWait     time.Duration
	MetricsAddr   string
	InflightGrace time.Duration

	// Embedded is set by boxoffice dev (not a flag): the services are the
	// in-process stand-ins, so features they cannot support are refused.
	Embedded bool

	// Notifier.
	WebhookURL     string
	WebhookTimeout time.Duration
	NotifierGroup  string
	// NotifierMetricsAddr is the notifier's --metrics-addr: a field of its
	// own so that its default differs from the writer's, which may run on
	// the same host.
	NotifierMetricsAddr string

	// The ranking (gateway and ranker). RankingRedisAddr is the ranking's
	// Redis; empty is RedisAddr's server, still on a client of its own.
	RankingRedisAddr string
	// Ranker.
	RankerGroup string
	// RankerMetricsAddr is the ranker's --metrics-addr (a field of its own,
	// as the notifier's, for a default of its own).
	RankerMetricsAddr string
	// RankingTop is how many concerts per window the ranker's gauges show.
	RankingTop int

	// Reconcile.
	ReconcileConcert int64
	Fix              bool
	JSON             bool
	FixWait          time.Duration

	// Seed.
	Concerts   int
	Capacity   int
	Members    int
	Partitions int
	Reset      bool
	// StockBuckets splits each seeded concert's stock over that many Redis
	// slots (stock.Loading.Buckets).
	StockBuckets int
	// A seat map for the concerts seeded: a file (SeatMapFile), or one
	// generated (Sections × Rows × SeatsPerRow); neither: general admission.
	SeatMapFile string
	Sections    int
	Rows        int
	SeatsPerRow int
	// ReplicationFactor and MinInsyncReplicas are given to the topics seed
	// (and the notifier) create; see kafka.TopicSpec for what acks=all then
	// promises.
	ReplicationFactor int
	MinInsyncReplicas int
}

// OneAddress turns the per-address limits off (--address-rate 0,
// --max-conns-per-address 0), for a load generator or a test that sends
// everything from one address.
func (c *Config) OneAddress() { c.AddressRate, c.MaxConnsPerAddress = 0, 0 }

// DLQTopic is where the writer sends messages it cannot decode.
func (c Config) DLQTopic() string { return c.Topic + ".DLQ" }

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		RedisAddr:          "127.0.0.1:6379",
		RedisMode:          "auto",
		RedisPrefix:        "bo",
		KafkaBrokers:       []string{"127.0.0.1:9092"},
		MySQLDSN:           "boxoffice:boxoffice@tcp(127.0.0.1:3306)/boxoffice?parseTime=true",
		Topic:              "reservations",
		NotificationsTopic: "notifications",
		HoldTTL:            5 * time.Minute,
		WebhookTimeout:     5 * time.Second,
		NotifierGroup:      "boxoffice-notifier",
		RedisTimeout:       time.Second,
		ProduceTimeout:     2 * time.Second,
		DBTimeout:          5 * time.Second,
		HTTPAddr:           ":8080",
		AdminAddr:          "127.0.0.1:9095",
		Strategies:         "async",
		// A buyer clicks a few times a second at most; 5/s with a burst of
		// 10 lets a client retry and poll, and keeps a bot looping on one
		// member from hoarding.
		MemberRate:  5,
		MemberBurst: 10,
		// An address may be an office's or a carrier's NAT: 100/s is twenty
		// members at their own limit.
		AddressRate:  100,
		AddressBurst: 200,
		// An idle keep-alive connection holds about 29 KiB (16 KiB with
		// --reduce-idle-memory; make hostile, 10,000 of them): 20,000 are
		// ~600 MB, well inside a small machine, and under Linux's default
		// hard file limit.
		MaxConns: 20000,
		// On: 0.6 µs more a request (0.2% of a reservation's 365 µs, measured
		// with bench ceiling) buys back 10 KiB of every idle keep-alive
		// connection — 192 → 86.5 MiB at 10,000 (make bench-perf), the
		// waiting room's pollers being just such connections.
		ReduceIdleMemory:   true,
		MaxConnsPerAddress: 128,
		HeaderTimeout:      5 * time.Second,
		IdleTimeout:        30 * time.Second,
		// About a tenth of a second of work at this gateway's rate (≈ 11,000
		// admissions/s with ~1,000 in flight, README: Benchmarks).
		MaxAdmissions: 1024,
		// Ten Redis calls a second per sold-out concert per gateway instead
		// of one per request; a seat that comes back waits at most this long.
		SoldOutTTL: 100 * time.Millisecond,
		// kafka.DefaultLinger; see kafka.ProducerConfig for its figure.
		ProduceLinger: 2 * time.Millisecond,
		MaxBody:       1024,
		// Four tickets an order: a family, and a tout needs many orders.
		MaxSeatsPerOrder: 4,
		DBPool:           10,
		LockLease:        5 * time.Second,
		LockWait:         2 * time.Second,
		AuthLeeway:       30 * time.Second,
		PaymentWindow:    5 * time.Minute,
		QueueTick:        100 * time.Millisecond,
		RoomRate:         1000,
		RoomMaxActive:    10000,
		RoomPassTTL:      10 * time.Minute,
		TokenTTL:         time.Hour,
		Group:            "boxoffice-writer",
		BatchSize:        1000,
		BatchWait:        20 * time.Millisecond,
		MetricsAddr:      ":9091",
		InflightGrace:    30 * time.Second,
		FixWait:          30 * time.Second,
		Concerts:         1,
		Capacity:         100,
		StockBuckets:     1,
		Members:          1000,
		Partitions:       4,
		// One broker is what `make services` and compose run; a cluster of
		// three would take 3 and 2.
		ReplicationFactor: 1,
		MinInsyncReplicas: 1,

		// Next to the writer's 9091, clear of Prometheus (9090) and of
		// Kafka's broker and controller (9092, 9093).
		NotifierMetricsAddr: ":9094",

		RankerGroup: "boxoffice-ranker",
		// After the gateway's admin listener (9095).
		RankerMetricsAddr: ":9096",
		// A dashboard's top ten; each is two series per window.
		RankingTop: 10,
	}
}

// Flag groups; a subcommand asks for the groups it needs.
const (
	Redis = 1 << iota
	Kafka
	MySQL
	Gateway
	Writer
	Seed
	Notifier
	// Holds is the hold time, read by the gateway, the writer and dev.
	Holds
	// Reconcile is boxoffice reconcile's own flags.
	Reconcile
	// AuthKey is the HS256 secret, read by the gateway and boxoffice token.
	AuthKey
	// Token is boxoffice token's own flags.
	Token
	// Ranking is where the ranking is kept, read by the gateway and the ranker.
	Ranking
	// Ranker is boxoffice ranker's own flags.
	Ranker
	// Room is boxoffice room's own flags.
	Room
)

// Parse builds the configuration of subcommand cmd from args and the
// environment (getenv is os.Getenv outside tests). The groups select which
// flags the subcommand accepts.
func Parse(cmd string, groups int, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("boxoffice "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	Register(fs, &c, groups)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := ApplyEnv(fs, getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Register adds the flags of the given groups to fs, bound to c.
func Register(fs *flag.FlagSet, c *Config, groups int) {
	if groups&Redis != 0 {
		fs.StringVar(&c.RedisAddr, "redis-addr", c.RedisAddr, "Redis address host:port, or several comma-separated: the seed nodes of a Redis Cluster")
		fs.StringVar(&c.RedisMode, "redis-mode", c.RedisMode, "single (one Redis), cluster (a Redis Cluster, from one or more seed addresses) or auto (cluster when redis-addr lists several)")
		fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of every Redis key (lets several deployments or tests share one Redis)")
		fs.DurationVar(&c.RedisTimeout, "redis-timeout", c.RedisTimeout, "timeout of one Redis call")
	}
	if groups&Kafka != 0 {
		fs.Func("kafka-brokers", "comma-separated Kafka bootstrap brokers (default "+strings.Join(c.KafkaBrokers, ",")+")", func(s string) error {
			c.KafkaBrokers = splitList(s)
			if len(c.KafkaBrokers) == 0 {
				return errors.New("empty broker list")
			}
			return nil
		})
		fs.StringVar(&c.Topic, "topic", c.Topic, "Kafka topic of reservation events (the dead-letter topic is this plus .DLQ)")
		fs.DurationVar(&c.ProduceTimeout, "produce-timeout", c.ProduceTimeout, "how long the gateway waits for the broker's ack before undoing the reservation and answering 503")
	}
	if groups&(Kafka|Notifier) != 0 {
		fs.StringVar(&c.NotificationsTopic, "notifications-topic", c.NotificationsTopic, "Kafka topic of user notifications (confirmed, expired, cancelled, failed)")
	}
	if groups&Holds != 0 {
		fs.DurationVar(&c.HoldTTL, "hold-ttl", c.HoldTTL, "how long a reservation is HELD awaiting payment before it expires and its seat returns; 0 confirms on write")
	}
	if groups&Notifier != 0 {
		fs.StringVar(&c.WebhookURL, "webhook-url", c.WebhookURL, "notifier: POST each notification here as JSON (retried with backoff); empty logs them instead")
		fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", c.WebhookTimeout, "notifier: timeout of one webhook call")
		fs.StringVar(&c.NotifierGroup, "notifier-group", c.NotifierGroup, "notifier: Kafka consumer group")
		// The writer's flag name, for the same job; no subcommand takes both
		// groups (the flag would be defined twice).
		fs.StringVar(&c.NotifierMetricsAddr, "metrics-addr", c.NotifierMetricsAddr, "HTTP address of the notifier's /metrics and /healthz")
	}
	if groups&Ranking != 0 {
		fs.StringVar(&c.RankingRedisAddr, "ranking-redis-addr", c.RankingRedisAddr, "Redis of the sales ranking (GET /api/rankings, boxoffice ranker), host:port or a cluster's seeds; empty: --redis-addr's server, on a client of its own. The reservation path never uses it")
	}
	if groups&Ranker != 0 {
		fs.StringVar(&c.RankerGroup, "ranker-group", c.RankerGroup, "ranker: Kafka consumer group (its own: it reads the reservations and notifications topics beside the writer and the notifier)")
		fs.StringVar(&c.RankerMetricsAddr, "metrics-addr", c.RankerMetricsAddr, "HTTP address of the ranker's /metrics and /healthz")
		fs.IntVar(&c.RankingTop, "ranking-top", c.RankingTop, "ranker: concerts per window its gauges show (boxoffice_ranking_*)")
	}
	if groups&Room != 0 {
		fs.Int64Var(&c.RoomConcert, "concert", c.RoomConcert, "room: the concert whose waiting room this is")
		fs.StringVar(&c.RoomOpensAt, "opens-at", c.RoomOpensAt, "room set: when the sale opens, RFC 3339 (2026-12-24T10:00:00Z), or from now (+10m, now); arrivals before it are drawn at random")
		fs.IntVar(&c.RoomRate, "rate", c.RoomRate, "room set: members admitted a second")
		fs.IntVar(&c.RoomMaxActive, "max-active", c.RoomMaxActive, "room set: most passes valid at once (admission waits beyond it)")
		fs.DurationVar(&c.RoomPassTTL, "pass-ttl", c.RoomPassTTL, "room set: how long a pass lets its member buy, from admission")
	}
	if groups&MySQL != 0 {
		fs.StringVar(&c.MySQLDSN, "mysql-dsn", c.MySQLDSN, "MySQL DSN (go-sql-driver format)")
		fs.DurationVar(&c.DBTimeout, "db-timeout", c.DBTimeout, "timeout of one MySQL statement or transaction")
	}
	if groups&(Writer|Reconcile|Seed) != 0 {
		fs.StringVar(&c.Group, "group", c.Group, "Kafka consumer group of the writers (seed and reconcile read its lag)")
	}
	if groups&Reconcile != 0 {
		fs.Int64Var(&c.ReconcileConcert, "concert", c.ReconcileConcert, "reconcile: only this concert (0: every concert in MySQL)")
		fs.BoolVar(&c.Fix, "fix", c.Fix, "reconcile: rebuild Redis from MySQL for the concerts that disagree (only once the writer has consumed the topic)")
		fs.BoolVar(&c.JSON, "json", c.JSON, "reconcile: print the report as JSON")
		fs.DurationVar(&c.FixWait, "fix-wait", c.FixWait, "reconcile --fix: how long to wait for the writer to catch up before refusing")
	}
	if groups&(Gateway|Writer|Reconcile) != 0 {
		fs.DurationVar(&c.InflightGrace, "inflight-grace", c.InflightGrace, "how long a step may wait for the one after it before it is done again: the writer republishes an in-flight reservation with no row (a gateway died between admission and Kafka's ack), and a confirm, cancel or expiry the writer has not applied is republished from the outbox; reconcile reports in-flight records older than this as orphans")
	}
	if groups&(Gateway|Writer) != 0 {
		fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "if set, serve Go's pprof profiles on this address (keep it on loopback)")
	}
	if groups&Gateway != 0 {
		fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address of the gateway's public API (/api/..., /healthz, a cached /readyz)")
		// Loopback by default: metrics, check detail and profiles are for the
		// operator, not the public; 9095 clashes with none of Prometheus
		// (9090), the writer (9091), Kafka (9092/9093) or the notifier (9094).
		fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "HTTP address of the gateway's admin listener: /metrics, /readyz with each check's detail, /debug/pprof/ (empty: off)")
		// Only the product path by default: the comparison strategies write
		// CONFIRMED rows Redis never hears of and share the gateway's MySQL pool.
		fs.StringVar(&c.Strategies, "strategies", c.Strategies, "comma-separated strategies served at POST /api/reservations/{name}: async, pessimistic, distlock (unsafe also needs --enable-unsafe)")
		fs.IntVar(&c.MaxBody, "max-body", c.MaxBody, "largest accepted request body in bytes (bigger → 413)")
		fs.IntVar(&c.DBPool, "db-pool", c.DBPool, "MySQL connections of the gateway (used by reads and the lock strategies)")
		fs.DurationVar(&c.LockLease, "lock-lease", c.LockLease, "distlock: lease of the Redis lock; a watchdog extends it while the holder works")
		fs.DurationVar(&c.LockWait, "lock-wait", c.LockWait, "distlock: longest wait for the lock before 503 lock_timeout")
		fs.BoolVar(&c.EnableUnsafe, "enable-unsafe", c.EnableUnsafe, "serve POST /api/reservations/unsafe (no concurrency control; for demonstrations only), as if unsafe were in --strategies")
		fs.Float64Var(&c.MemberRate, "member-rate", c.MemberRate, "requests per second per member on /api/reservations/* (reserve, cancel, read) before 429 rate_limited (0: no limit)")
		fs.IntVar(&c.MemberBurst, "member-burst", c.MemberBurst, "requests a member may send at once above --member-rate")
		fs.Float64Var(&c.AddressRate, "address-rate", c.AddressRate, "requests per second per client address (IPv4 address, IPv6 /64) on /api/ (not the payment callback) before 429 rate_limited (0: no limit; a load generator on one address needs 0)")
		fs.IntVar(&c.AddressBurst, "address-burst", c.AddressBurst, "requests an address may send at once above --address-rate")
		fs.StringVar(&c.ClientIPHeader, "client-ip-header", c.ClientIPHeader, "header the proxy in front overwrites with the client's address (X-Real-IP; X-Forwarded-For: its last entry); empty: the connection's peer. Never set it without such a proxy: clients could forge it")
		fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most connections served at once; beyond it a connection is answered 503 and closed")
		fs.IntVar(&c.MaxConnsPerAddress, "max-conns-per-address", c.MaxConnsPerAddress, "most connections from one peer address, answered 429 beyond it (0: no limit; behind a proxy or a load generator on one address, 0)")
		fs.DurationVar(&c.HeaderTimeout, "header-timeout", c.HeaderTimeout, "time to read a request from its first byte (headers and the small body); a slower client is cut off")
		fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "a keep-alive connection with no request for this long is closed")
		fs.BoolVar(&c.ReduceIdleMemory, "reduce-idle-memory", c.ReduceIdleMemory, "give back an idle connection's buffers: less memory with many idle clients (5.6 instead of 16 KiB each), about 0.6 µs more CPU a request; =false to keep them")
		fs.DurationVar(&c.ProduceLinger, "produce-linger", c.ProduceLinger, "how long the gateway's producer waits to fill a produce request: each 202 waits for it when the gateway is idle; under a rush it makes fewer, larger requests (0: send at once)")
		fs.DurationVar(&c.SoldOutTTL, "soldout-ttl", c.SoldOutTTL, "after Redis answers sold out for a concert, answer 409 sold_out without asking it for this long; a seat that comes back is offered at most this much later (0: always ask)")
		fs.IntVar(&c.MaxAdmissions, "max-admissions", c.MaxAdmissions, "reservations admitted at once; past it 503 overloaded with Retry-After, at once (0: no limit)")
		// Off by default: a route that answers 200 to anyone has no place
		// in front of the public; it exists to measure the server itself.
		fs.BoolVar(&c.NoopEndpoint, "noop-endpoint", c.NoopEndpoint, "serve POST /api/noop: 200 with a reserve-sized body and no work, the ceiling that boxoffice bench ceiling measures (benchmarks only)")
		fs.IntVar(&c.MaxSeatsPerOrder, "max-seats-per-order", c.MaxSeatsPerOrder, "most numbered seats one reservation may name or ask for (more → 400)")
	}
	if groups&AuthKey != 0 {
		fs.StringVar(&c.AuthSecret, "auth-secret", c.AuthSecret, "HS256 secret of member tokens, at least 32 bytes (prefer --auth-secret-file: a flag shows in ps)")
		fs.StringVar(&c.AuthSecretFile, "auth-secret-file", c.AuthSecretFile, "file holding the HS256 secret of member tokens (a trailing newline is ignored)")
	}
	if groups&Gateway != 0 {
		fs.StringVar(&c.AuthPublicKeyFile, "auth-public-key-file", c.AuthPublicKeyFile, "PEM public key (RSA ≥ 2048 bits: RS256, or Ed25519: EdDSA) of an identity provider whose member tokens are accepted")
		// Clocks of a token's issuer and the gateway drift by seconds, not
		// minutes; 30 s absorbs that and keeps an expired token's extra life short.
		fs.DurationVar(&c.AuthLeeway, "auth-leeway", c.AuthLeeway, "clock skew allowed on a token's exp and nbf")
		fs.BoolVar(&c.TrustBodyMember, "trust-body-member", c.TrustBodyMember, "run without an auth key: the member is whatever the body says and anyone may act on any reservation (dev, benchmarks, load generators; never in front of the public)")
		fs.StringVar(&c.PaymentSecret, "payment-secret", c.PaymentSecret, "shared secret of the payment service's signed confirm callbacks, at least 32 bytes (prefer --payment-secret-file)")
		fs.StringVar(&c.PaymentSecretFile, "payment-secret-file", c.PaymentSecretFile, "file holding the payment callbacks' secret (a trailing newline is ignored)")
		// Payment providers sign with a 5-minute tolerance (Stripe's
		// default): long enough for a retry and clock drift, short enough
		// that the seen signatures fit in memory.
		fs.DurationVar(&c.PaymentWindow, "payment-window", c.PaymentWindow, "how far a payment callback's timestamp may be from now; a signature is accepted once within it")
		fs.StringVar(&c.QueueSecret, "queue-secret", c.QueueSecret, "HS256 secret of the waiting rooms' passes and tickets, at least 32 bytes, the same on every gateway (prefer --queue-secret-file; default: derived from the auth secret)")
		fs.StringVar(&c.QueueSecretFile, "queue-secret-file", c.QueueSecretFile, "file holding the waiting rooms' secret (a trailing newline is ignored)")
		fs.DurationVar(&c.QueueTick, "queue-tick", c.QueueTick, "how often each gateway runs each waiting room's admission step; also the most admitted at once (rate × tick)")
	}
	if groups&Token != 0 {
		fs.Int64Var(&c.TokenMember, "member", c.TokenMember, "token: the member id (sub) of the token")
		fs.DurationVar(&c.TokenTTL, "ttl", c.TokenTTL, "token: how long the token is good for")
	}
	if groups&Writer != 0 {
		fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "a batch closes at this many messages…")
		fs.DurationVar(&c.BatchWait, "batch-wait", c.BatchWait, "…or this long after its first message, whichever comes first")
		fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "HTTP address of the writer's /metrics and /healthz")
	}
	if groups&Seed != 0 {
		fs.IntVar(&c.Concerts, "concerts", c.Concerts, "number of concerts to create (ids 1..N)")
		fs.IntVar(&c.Capacity, "capacity", c.Capacity, "seats per concert")
		fs.IntVar(&c.Members, "members", c.Members, "number of members to create (ids 1..M)")
		fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of the reservations topic when it is created")
		fs.BoolVar(&c.Reset, "reset", c.Reset, "start the concerts over: delete their reservations and restore full stock")
		fs.IntVar(&c.StockBuckets, "stock-buckets", c.StockBuckets, "split each concert's stock into this many buckets on as many Redis slots (cluster: spread over the masters), so that one hot concert is not bound by one Redis core; 1 keeps it in one slot; changing it needs --reset")
		fs.StringVar(&c.SeatMapFile, "seat-map", c.SeatMapFile, "give the concerts numbered seats from this seat map (JSON or YAML, README: Numbered seats); --capacity is then the map's seats")
		fs.IntVar(&c.Sections, "sections", c.Sections, "give the concerts a generated seat map of this many sections (A, B, ...) of --rows rows of --seats-per-row seats")
		fs.IntVar(&c.Rows, "rows", c.Rows, "rows per section of the generated seat map")
		fs.IntVar(&c.SeatsPerRow, "seats-per-row", c.SeatsPerRow, "seats per row of the generated seat map")
	}
	if groups&(Seed|Notifier) != 0 {
		// Both create topics (the notifier its own, when it starts first);
		// no subcommand takes both groups (the flags would be defined twice).
		fs.IntVar(&c.ReplicationFactor, "replication-factor", c.ReplicationFactor, "replicas of each topic when it is created (at most the number of brokers); an existing topic is left as it is")
		fs.IntVar(&c.MinInsyncReplicas, "min-insync-replicas", c.MinInsyncReplicas, "min.insync.replicas of each topic when it is created: with acks=all, the broker refuses a message (the gateway answers 503) while fewer replicas than this are in sync")
	}
}

// EnvName is the environment variable that overrides the flag name.
func EnvName(flagName string) string {
	return "BOX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag not given on the command line from its BOX_*
// variable, if that is set.
func ApplyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// Validate rejects values no process could run with.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.MaxBody > 0, "max-body must be positive, got %d", c.MaxBody)
	check(c.DBPool > 0, "db-pool must be positive, got %d", c.DBPool)
	check(c.BatchSize > 0, "batch-size must be positive, got %d", c.BatchSize)
	check(c.BatchWait > 0, "batch-wait must be positive, got %s", c.BatchWait)
	check(c.RedisTimeout > 0 && c.ProduceTimeout > 0 && c.DBTimeout > 0, "timeouts must be positive")
	check(c.LockLease > 0 && c.LockWait > 0, "lock-lease and lock-wait must be positive")
	check(c.Concerts >= 0 && c.Capacity >= 0 && c.Members >= 0, "seed sizes must not be negative")
	check(c.StockBuckets >= 1 && c.StockBuckets <= 64, "stock-buckets must be 1..64, got %d", c.StockBuckets)
	check(c.MaxSeatsPerOrder >= 1 && c.MaxSeatsPerOrder <= 64, "max-seats-per-order must be 1..64, got %d", c.MaxSeatsPerOrder)
	check(c.SeatMapFile == "" || c.Sections == 0, "--seat-map and --sections are two ways to give a seat map: one at a time")
	check(c.Sections == 0 || (c.Rows > 0 && c.SeatsPerRow > 0), "--sections needs --rows and --seats-per-row")
	check(c.Partitions > 0, "partitions must be positive, got %d", c.Partitions)
	// Kafka's replication factor is an int16.
	check(c.ReplicationFactor >= 1 && c.ReplicationFactor <= math.MaxInt16, "replication-factor must be at least 1 (and at most %d), got %d", math.MaxInt16, c.ReplicationFactor)
	check(c.MinInsyncReplicas >= 1, "min-insync-replicas must be at least 1, got %d", c.MinInsyncReplicas)
	// More replicas in sync than a topic has cannot be had: the topic would
	// promise more than it keeps (Kafka 4.1 caps it at the replication
	// factor — measured: acks=all on 1 replica with min.insync.replicas 2
	// was acknowledged).
	check(c.ReplicationFactor < 1 || c.MinInsyncReplicas <= c.ReplicationFactor, "min-insync-replicas (%d) must not exceed replication-factor (%d): a topic cannot have more replicas in sync than it has", c.MinInsyncReplicas, c.ReplicationFactor)
	check(c.RedisMode == "auto" || c.RedisMode == "single" || c.RedisMode == "cluster", "redis-mode %q: use single, cluster or auto", c.RedisMode)
	// A single client talks to one server: a list would be a cluster given the wrong mode.
	check(c.RedisMode != "single" || !strings.Contains(c.RedisAddr, ","), "redis-mode single takes one address, got %q", c.RedisAddr)
	check(validPrefix.MatchString(c.RedisPrefix), "redis-prefix %q: use letters, digits, '_', '-', '.'", c.RedisPrefix)
	check(c.Topic != "", "topic must not be empty")
	check(c.HoldTTL >= 0, "hold-ttl must not be negative, got %s", c.HoldTTL)
	// 0 would republish every in-flight reservation and decision at once,
	// over and over; negative has no meaning.
	check(c.InflightGrace > 0, "inflight-grace must be positive, got %s", c.InflightGrace)
	check(c.ReconcileConcert >= 0, "concert must not be negative, got %d", c.ReconcileConcert)
	check(c.FixWait >= 0, "fix-wait must not be negative, got %s", c.FixWait)
	check(c.WebhookTimeout > 0, "webhook-timeout must be positive")
	// More than a hundred would be a series explosion on a dashboard.
	check(c.RankingTop >= 1 && c.RankingTop <= 100, "ranking-top must be between 1 and 100, got %d", c.RankingTop)
	check(c.AuthLeeway >= 0, "auth-leeway must not be negative, got %s", c.AuthLeeway)
	check(c.PaymentWindow > 0, "payment-window must be positive, got %s", c.PaymentWindow)
	check(c.MemberRate >= 0 && c.AddressRate >= 0, "member-rate and address-rate must not be negative")
	check(c.MemberRate == 0 || c.MemberBurst >= 1, "member-burst must be at least 1 with a member-rate, got %d", c.MemberBurst)
	check(c.AddressRate == 0 || c.AddressBurst >= 1, "address-burst must be at least 1 with an address-rate, got %d", c.AddressBurst)
	check(c.MaxConns >= 0 && c.MaxConnsPerAddress >= 0 && c.MaxAdmissions >= 0, "max-conns, max-conns-per-address and max-admissions must not be negative")
	check(c.ProduceLinger >= 0, "produce-linger must not be negative, got %s", c.ProduceLinger)
	check(c.SoldOutTTL >= 0, "soldout-ttl must not be negative, got %s", c.SoldOutTTL)
	check(c.HeaderTimeout > 0 && c.IdleTimeout > 0, "header-timeout and idle-timeout must be positive")
	check(c.AuthSecret == "" || c.AuthSecretFile == "", "give auth-secret or auth-secret-file, not both")
	check(c.PaymentSecret == "" || c.PaymentSecretFile == "", "give payment-secret or payment-secret-file, not both")
	check(c.QueueSecret == "" || c.QueueSecretFile == "", "give queue-secret or queue-secret-file, not both")
	check(c.QueueTick >= 10*time.Millisecond && c.QueueTick <= 10*time.Second, "queue-tick must be 10ms..10s, got %s", c.QueueTick)
	return errors.Join(errs...)
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Log prints the configuration of the given flag groups once at start-up,
// password masked.
func (c Config) Log(logger *slog.Logger, cmd string, groups int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	Register(fs, &c, groups)
	var attrs []any
	names := []string{}
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		v := fs.Lookup(n).Value.String()
		if n == "mysql-dsn" {
			v = MaskDSN(v)
		}
		if (n == "auth-secret" || n == "payment-secret" || n == "queue-secret") && v != "" {
			v = "***"
		}
		if n == "webhook-url" && v != "" {
			v = maskURL(v)
		}
		if n == "kafka-brokers" {
			v = strings.Join(c.KafkaBrokers, ",")
		}
		attrs = append(attrs, n, v)
	}
	logger.Info("config", append([]any{"cmd", cmd}, attrs...)...)
}

// MaskDSN hides the password of a go-sql-driver DSN (user:pass@tcp(...)/db).
func MaskDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	colon := strings.Index(dsn, ":")
	if at < 0 || colon < 0 || colon > at {
		return dsn
	}
	return dsn[:colon+1] + "***" + dsn[at:]
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// maskURL keeps a webhook URL's scheme and host: its path or query often
// carries a secret.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "***"
	}
	return u.Scheme + "://" + u.Host + "/***"
}

// HasAuthKey reports whether member tokens can be verified: a secret or a
// public key is configured.
func (c Config) HasAuthKey() bool {
	return c.AuthSecret != "" || c.AuthSecretFile != "" || c.AuthPublicKeyFile != ""
}

// Secret returns a secret given inline or in a file (one of the two; a
// trailing newline of the file is not part of it), nil when neither is set.
func Secret(inline, file string) ([]byte, error) {
	if inline != "" {
		return []byte(inline), nil
	}
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(b, "\r\n"), nil
}

// StrategyNames is the set of strategies the gateway serves: --strategies,
// plus unsafe when --enable-unsafe is set. unsafe named in --strategies
// without --enable-unsafe is refused, so one flag alone never serves it.
func (c Config) StrategyNames() ([]string, error) {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range strings.Split(c.Strategies, ",") {
		switch n = strings.TrimSpace(n); n {
		case "":
		case "async", "pessimistic", "distlock":
			add(n)
		case "unsafe":
			if !c.EnableUnsafe {
				return nil, errors.New("--strategies names unsafe: give --enable-unsafe as well (it has no concurrency control and oversells)")
			}
			add(n)
		default:
			return nil, fmt.Errorf("--strategies: unknown strategy %q (async, pessimistic, distlock, unsafe)", n)
		}
	}
	if c.EnableUnsafe {
		add("unsafe")
	}
	if len(names) == 0 {
		return nil, errors.New("--strategies names no strategy: the gateway would admit nobody")
	}
	return names, nil
}
