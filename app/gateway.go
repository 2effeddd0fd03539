package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/boxoffice/boxoffice/admission"
	"github.com/boxoffice/boxoffice/auth"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/gateway"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/room"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Gateway is a running gateway process.
type Gateway struct {
	Addr string // the address it listens on (useful with port 0)
	// AdminAddr is where the admin listener is (empty when off).
	AdminAddr string
	Stock     *stock.Store
	DB        *store.Store
	Producer  *kafka.Producer
	Metrics   *gateway.Metrics
	Locks     *stock.Locker // distlock's shared pub/sub subscription
	// Ranking is the ranking's own client (GET /api/rankings only).
	Ranking *stock.Ranking
	// Rooms are the waiting rooms this gateway ticks and serves.
	Rooms  *room.Service
	server *gateway.Server
	ln     net.Listener
	admin  *adminServer
	log    *slog.Logger
	// debugAddr serves pprof when set.
	debugAddr string
	// stopCoalesce ends the Redis pipelining workers.
	stopCoalesce func()
}

// OpenGateway connects to every service and starts listening; Run serves.
func OpenGateway(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Gateway, err error) {
	g := &Gateway{log: log, debugAddr: cfg.DebugAddr}
	served, err := cfg.StrategyNames()
	if err != nil {
		return nil, err
	}
	// Before any connection: a gateway that cannot tell members apart
	// must not start by accident.
	members, payments, err := identity(cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			g.Close()
		}
	}()
	if g.Stock, err = openRedis(ctx, cfg); err != nil {
		return nil, err
	}
	// Share Redis round trips between concurrent admissions (see stock/coalesce.go).
	g.stopCoalesce = g.Stock.Coalesce(4)
	if g.DB, err = openMySQL(ctx, cfg, cfg.DBPool); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, "kafka", func(context.Context) error {
		g.Producer, err = kafka.NewProducer(cfg.KafkaBrokers, "boxoffice-gateway", kafka.Linger(cfg.ProduceLinger))
		return err
	}); err != nil {
		return nil, err
	}
	g.Metrics = gateway.NewMetrics(g.DB.DB().DB)
	async := &gateway.Async{Stock: g.Stock, Rows: g.DB, Concerts: &gateway.Concerts{DB: g.DB}, HoldTTL: cfg.HoldTTL, SoldOut: &gateway.SoldOut{TTL: cfg.SoldOutTTL}, Admission: &admission.Protocol{Seats: g.Stock,
		Producer: g.Producer, Topic: cfg.Topic, ProduceTimeout: cfg.ProduceTimeout, Log: log, Observe: g.Metrics}}
	// The synchronous designs async replaces, kept for the benchmark. They
	// write the row before answering: 201.
	if g.Locks, err = g.Stock.NewLocker(ctx, stock.LockOptions{Lease: cfg.LockLease, Wait: cfg.LockWait, Log: log}); err != nil {
		return nil, err
	}
	var pessimistic, unsafe gateway.Strategy = &gateway.Pessimistic{DB: g.DB}, &gateway.Unsafe{DB: g.DB}
	if cfg.Embedded {
		// The in-memory MySQL stand-in ignores FOR UPDATE and does not
		// isolate concurrent transactions, so these two would show its
		// behaviour, not MySQL's. distlock works there only because dev/mysql.go
		// runs one statement or transaction at a time (without that it
		// oversold: 716 rows for 600 seats).
		pessimistic = gateway.Unsupported{Name: "pessimistic", Reason: "the embedded dev database has no row locks (FOR UPDATE is ignored); run against MySQL"}
		unsafe = gateway.Unsupported{Name: "unsafe", Reason: "the embedded dev database does not isolate transactions like MySQL, so the race it shows would not be MySQL's; run against MySQL"}
	}
	all := map[string]gateway.Route{
		"async":       {Name: "async", Strategy: async, Success: http.StatusAccepted},
		"pessimistic": {Name: "pessimistic", Strategy: pessimistic, Success: http.StatusCreated},
		"distlock":    {Name: "distlock", Strategy: &gateway.DistLock{Locks: g.Locks, DB: g.DB, Metrics: g.Metrics, Log: log}, Success: http.StatusCreated},
		"unsafe":      {Name: "unsafe", Strategy: unsafe, Success: http.StatusCreated},
	}
	// Only the named ones: any other strategy's route answers 404 not_found.
	var routes []gateway.Route
	for _, name := range served {
		routes = append(routes, all[name])
	}
	log.Info("gateway strategies", "served", served)
	// Not waited for and not in the readiness checks: a ranking that does
	// not answer must not keep the gateway from starting or serving.
	g.Ranking = stock.DialRanking(rankingOptions(cfg))
	passes, err := queuePasses(cfg, log)
	if err != nil {
		return nil, err
	}
	g.Rooms = &room.Service{Stock: g.Stock, DB: g.DB, Passes: passes, Producer: g.Producer, Topic: cfg.NotificationsTopic,
		Tick: cfg.QueueTick, Metrics: room.NewMetrics(g.Metrics.Registry), Log: log}
	// Before listening: a concert's room must hold from the first request.
	if err = g.Rooms.Open(ctx); err != nil {
		return nil, fmt.Errorf("waiting rooms: %w", err)
	}
	g.server = gateway.NewServer(gateway.Options{
		Routes: routes,
		Reads:  &gateway.Reads{DB: g.DB, Stock: g.Stock},
		// A second: a ranking of per-minute buckets moves little faster.
		Rooms:    g.Rooms,
		Rankings: &gateway.Rankings{Ranking: g.Ranking, Stock: g.Stock, Log: log, CacheFor: time.Second},
		Lifecycle: &gateway.Lifecycle{Stock: g.Stock, DB: g.DB, Producer: g.Producer, Topic: cfg.Topic,
			ProduceTimeout: cfg.ProduceTimeout, Grace: cfg.InflightGrace, Log: log},
		Members:  members,
		Payments: payments,
		Ready:    g.ready(cfg),
		Metrics:  g.Metrics,
		Log:      log,
		MaxBody:  cfg.MaxBody,
		// Long enough for the slowest strategy (a full lock wait plus the DB work).
		RequestTimeout: cfg.LockWait + cfg.ProduceTimeout + cfg.DBTimeout,
		Limits: gateway.Limits{
			Member:         gateway.Rate{PerSecond: cfg.MemberRate, Burst: cfg.MemberBurst},
			Address:        gateway.Rate{PerSecond: cfg.AddressRate, Burst: cfg.AddressBurst},
			ClientIPHeader: cfg.ClientIPHeader,
		},
		Edge: gateway.Edge{
			MaxConns: connsWithinFileLimit(cfg.MaxConns, log), MaxConnsPerAddress: cfg.MaxConnsPerAddress,
			HeaderTimeout: cfg.HeaderTimeout, IdleTimeout: cfg.IdleTimeout,
			ReduceIdleMemory: cfg.ReduceIdleMemory, MaxAdmissions: cfg.MaxAdmissions,
		},
		Noop:             cfg.NoopEndpoint,
		MaxSeatsPerOrder: cfg.MaxSeatsPerOrder,
	})
	if cfg.NoopEndpoint {
		log.Warn("--noop-endpoint: POST " + gateway.NoopPath + " answers 200 with no work, for boxoffice bench ceiling; not for the public")
	}
	if g.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	g.Addr = g.ln.Addr().String()
	if cfg.AdminAddr != "" {
		if g.admin, err = listenAdmin(cfg.AdminAddr, g.server, g.Metrics); err != nil {
			return nil, err
		}
		g.AdminAddr = g.admin.ln.Addr().String()
	}
	return g, nil
}

func (g *Gateway) ready(cfg config.Config) func(ctx context.Context) map[string]error {
	return func(ctx context.Context) map[string]error {
		checks := map[string]error{}
		checks["redis"] = g.Stock.Ping(ctx)
		ok, err := g.Stock.ScriptsLoaded(ctx)
		if err == nil && !ok {
			// Redis restarted or flushed its cache: load again, report once.
			err = g.Stock.LoadScripts(ctx)
		}
		checks["scripts"] = err
		checks["kafka"] = g.Producer.Ready(ctx, cfg.Topic)
		return checks
	}
}

// Run serves until ctx ends, then drains open requests.
func (g *Gateway) Run(ctx context.Context) error {
	g.log.Info("gateway listening", "addr", g.Addr)
	serveDebug(ctx, g.debugAddr, g.log)
	if g.admin != nil {
		g.log.Info("gateway admin listening", "addr", g.AdminAddr)
		go g.admin.http.Serve(g.admin.ln)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			g.admin.http.Shutdown(sctx)
		}()
	}
	// Every second: fresh enough for a load balancer's probe, and the
	// checks (about 15 Redis calls and a Kafka metadata request) cost the
	// same whatever the probes' rate.
	go g.server.WatchReady(ctx, time.Second)
	go g.sample(ctx)
	go g.Rooms.Run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- g.server.Serve(g.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return g.server.Shutdown(sctx)
}

// sample refreshes the stock and in-flight gauges every second.
func (g *Gateway) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		concerts, err := g.Stock.Concerts(ctx)
		if err != nil {
			continue
		}
		for _, c := range concerts {
			label := strconv.FormatInt(c, 10)
			if n, ok, err := g.Stock.Remaining(ctx, c); err == nil && ok {
				g.Metrics.SetStock(label, n)
			}
			if n, err := g.Stock.InFlightCount(ctx, c); err == nil {
				g.Metrics.SetInFlight(label, n)
			}
		}
	}
}

// Close releases every client.
func (g *Gateway) Close() error {
	var errs []error
	if g.ln != nil {
		g.ln.Close()
	}
	if g.admin != nil {
		g.admin.ln.Close()
	}
	if g.Producer != nil {
		errs = append(errs, g.Producer.Close())
	}
	if g.Locks != nil {
		errs = append(errs, g.Locks.Close())
	}
	if g.DB != nil {
		errs = append(errs, g.DB.Close())
	}
	if g.Ranking != nil {
		errs = append(errs, g.Ranking.Close())
	}
	if g.stopCoalesce != nil {
		g.stopCoalesce()
	}
	if g.Stock != nil {
		errs = append(errs, g.Stock.Close())
	}
	return errors.Join(errs...)
}

// identity builds the verifiers of member tokens and payment callbacks from
// the configuration. Without an auth key the gateway starts only when told
// plainly (--trust-body-member) that members come from the request body.
func identity(cfg config.Config, log *slog.Logger) (*auth.Verifier, *auth.Payments, error) {
	var payments *auth.Payments
	paySecret, err := config.Secret(cfg.PaymentSecret, cfg.PaymentSecretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("payment secret: %w", err)
	}
	if paySecret != nil {
		if payments, err = auth.NewPayments(paySecret, cfg.PaymentWindow); err != nil {
			return nil, nil, err
		}
	}
	if !cfg.HasAuthKey() {
		if !cfg.TrustBodyMember {
			return nil, nil, errors.New("no --auth-secret, --auth-secret-file or --auth-public-key-file: the gateway could not tell members apart. " +
				"Give a key, or --trust-body-member (BOX_TRUST_BODY_MEMBER=true) to take the member from the request body, for dev, benchmarks and load generators only")
		}
		msg := "--trust-body-member: the member is whatever the request body says, and anyone may read or cancel any reservation and read any member; never serve this to the public"
		if payments == nil {
			msg += "; without --payment-secret anyone may confirm (pay for) any reservation too"
		}
		log.Warn(msg)
		return nil, payments, nil
	}
	if cfg.TrustBodyMember {
		return nil, nil, errors.New("--trust-body-member and an auth key: choose one (with a key the member is the token's)")
	}
	secret, err := config.Secret(cfg.AuthSecret, cfg.AuthSecretFile)
	if err != nil {
		return nil, nil, fmt.Errorf("auth secret: %w", err)
	}
	var public []byte
	if cfg.AuthPublicKeyFile != "" {
		if public, err = os.ReadFile(cfg.AuthPublicKeyFile); err != nil {
			return nil, nil, fmt.Errorf("auth public key: %w", err)
		}
	}
	members, err := auth.NewVerifier(auth.Keys{Secret: secret, PublicKeyPEM: public, Leeway: cfg.AuthLeeway})
	if err != nil {
		return nil, nil, err
	}
	if payments == nil && cfg.HoldTTL > 0 {
		log.Warn("no --payment-secret: nothing can confirm a hold (confirm answers 403), so every hold expires")
	}
	return members, payments, nil
}

// fileReserve is what the gateway keeps of its open-file limit for itself:
// Redis, Kafka and MySQL connections, the admin listener, its logs.
const fileReserve = 512

// connsWithinFileLimit lowers --max-conns to what the process's open-file
// limit allows (Go raises the soft limit to the hard one at start): past it
// accept fails with EMFILE, and a connection answered 503 at --max-conns is
// better than one the kernel refuses.
func connsWithinFileLimit(maxConns int, log *slog.Logger) int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > math.MaxInt32 {
		return maxConns
	}
	room := max(int(l.Cur)-fileReserve, 1)
	if maxConns == 0 || maxConns > room {
		log.Warn("--max-conns lowered to the open-file limit less what the gateway keeps for itself (raise ulimit -n for more)",
			"max-conns", maxConns, "open-file-limit", l.Cur, "serving-at-most", room)
		return room
	}
	return maxConns
}
