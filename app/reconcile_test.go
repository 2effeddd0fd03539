package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/boxoffice/boxoffice/app"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/servicetest"
)

// wipeRedis deletes every key of cfg's prefix: Redis restarted with its data
// gone.
func wipeRedis(t *testing.T, cfg config.Config) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, cfg.RedisPrefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
}

// runReconcile runs `boxoffice reconcile --json [--fix]` and decodes its report.
func runReconcile(t *testing.T, cfg config.Config, fix bool) (reconcile.Report, error) {
	t.Helper()
	cfg.Fix, cfg.JSON = fix, true
	var out strings.Builder
	err := app.ReconcileTo(context.Background(), cfg, testLog(), &out)
	var rep reconcile.Report
	if jerr := json.Unmarshal([]byte(out.String()), &rep); jerr != nil {
		t.Fatalf("report: %v\n%s", jerr, out.String())
	}
	return rep, err
}

// Redis restarted with its data gone: the concert answers 503
// stock_not_loaded (not 404: it exists), reconcile names what is missing, and
// --fix rebuilds stock, members and the holds of the HELD rows, after which
// a hold can be confirmed again and new reservations are admitted.
func TestRedisLossThenReconcile(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 10, 20
	cfg.HoldTTL = time.Minute
	cfg.FixWait = 20 * time.Second
	s := newSystem(t, cfg, true)
	var ids []string
	for m := int64(1); m <= 3; m++ {
		r := s.reserve(1, m, "")
		if r.Status != 202 {
			t.Fatalf("reserve: %d %v", r.Status, r.Body)
		}
		ids = append(ids, r.id())
	}
	for _, id := range ids {
		s.waitStatus(id, "HELD", 10*time.Second)
	}
	if r := s.transition(ids[0], "confirm"); r.Status != 200 {
		t.Fatalf("confirm: %d %v", r.Status, r.Body)
	}
	s.waitStatus(ids[0], "CONFIRMED", 10*time.Second)

	wipeRedis(t, cfg)
	if r := s.reserve(1, 4, ""); r.Status != 503 || r.code() != "stock_not_loaded" {
		t.Fatalf("after the loss: %d %v, want 503 stock_not_loaded", r.Status, r.Body)
	}
	if r := s.reserve(99, 4, ""); r.Status != 404 || r.code() != "concert_not_found" {
		t.Fatalf("a concert that does not exist: %d %v, want 404", r.Status, r.Body)
	}
	rep, err := runReconcile(t, cfg, false)
	if err == nil || len(rep.Concerts) != 1 || !rep.Concerts[0].Has(reconcile.NotLoaded) || !rep.Concerts[0].Has(reconcile.StaleHolds) {
		t.Fatalf("check after the loss: %+v %v, want not_loaded and stale_holds", rep, err)
	}

	rep, err = runReconcile(t, cfg, true)
	if err != nil || !rep.OK() || !slices.Equal(rep.Fixed, []int64{1}) {
		t.Fatalf("fix: %+v %v", rep, err)
	}
	c := rep.Concerts[0]
	if c.RedisStock != 7 || c.Members != 3 || c.Holds != 2 {
		t.Fatalf("rebuilt %+v, want 7 free, 3 members, 2 holds", c)
	}
	if r := s.transition(ids[1], "confirm"); r.Status != 200 {
		t.Fatalf("confirm a hold after the rebuild: %d %v", r.Status, r.Body)
	}
	if r := s.reserve(1, 4, ""); r.Status != 202 {
		t.Fatalf("reserve after the rebuild: %d %v", r.Status, r.Body)
	}
	if r := s.reserve(1, 2, ""); r.Status != 409 || r.code() != "already_reserved" {
		t.Fatalf("a member who holds a seat, after the rebuild: %d %v", r.Status, r.Body)
	}
	s.waitStatus(ids[1], "CONFIRMED", 10*time.Second)
	if rep, err := runReconcile(t, cfg, false); err != nil || !rep.OK() {
		t.Fatalf("check after the fix: %+v %v", rep, err)
	}
}

// --fix never rebuilds from a database that is behind: with events on the
// topic the writer has not consumed, it refuses and leaves Redis as it was;
// once the writer has caught up it rebuilds, counting those events' rows.
func TestReconcileFixRefusesWhileTheWriterLags(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 10, 20
	cfg.HoldTTL = 0
	cfg.FixWait = time.Second
	s := newSystem(t, cfg, false) // no writer yet: the events wait on the topic
	for m := int64(1); m <= 3; m++ {
		if r := s.reserve(1, m, ""); r.Status != 202 {
			t.Fatalf("reserve: %d %v", r.Status, r.Body)
		}
	}
	wipeRedis(t, cfg)
	rep, err := runReconcile(t, cfg, true)
	if !errors.Is(err, reconcile.ErrWriterBehind) || rep.Lag != 3 || len(rep.Fixed) != 0 {
		t.Fatalf("fix while the writer lags: %+v %v, want ErrWriterBehind with lag 3", rep, err)
	}
	if _, ok, err := s.stock.Epoch(context.Background(), 1); err != nil || ok {
		t.Fatalf("the refused fix touched Redis: marker %v %v", ok, err)
	}
	if _, loaded, _ := s.stock.Remaining(context.Background(), 1); loaded {
		t.Fatal("the refused fix loaded a stock")
	}

	s.startWriter(cfg)
	cfg.FixWait = 30 * time.Second
	rep, err = runReconcile(t, cfg, true)
	if err != nil || !rep.OK() || rep.Concerts[0].RedisStock != 7 || rep.Concerts[0].ActiveRows != 3 {
		t.Fatalf("fix once the writer caught up: %+v %v", rep, err)
	}
}

// A fresh database seeded beside a Redis that still holds an earlier
// deployment's keys under the same prefix: seed refuses and says why (before,
// it trusted Redis, and a rush on 100 free seats got only 409s); --reset
// starts over.
func TestSeedRefusesAnotherDatabasesRedis(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 100, 100
	s := newSystem(t, cfg, true)
	for m := int64(1); m <= 100; m++ {
		if r := s.reserve(1, m, ""); r.Status != 202 {
			t.Fatalf("reserve: %d %v", r.Status, r.Body)
		}
	}
	s.drained(1, 100)

	fresh := cfg
	fresh.MySQLDSN = servicetest.Database(t, cfg.MySQLDSN, "boxoffice_fresh_"+servicetest.RandomHex(4))
	if err := app.Migrate(context.Background(), fresh, testLog()); err != nil {
		t.Fatal(err)
	}
	err := app.Seed(context.Background(), fresh, testLog())
	if err == nil || !strings.Contains(err.Error(), "another database") || !strings.Contains(err.Error(), "--reset") {
		t.Fatalf("seed of a fresh database over the old Redis: %v, want a refusal naming another database and --reset", err)
	}
	fresh.Reset = true
	if err := app.Seed(context.Background(), fresh, testLog()); err != nil {
		t.Fatalf("seed --reset: %v", err)
	}
	if n, _, _ := s.stock.Remaining(context.Background(), 1); n != 100 {
		t.Fatalf("after --reset Redis has %d free, want 100", n)
	}
}

// A stock loaded before markers existed is adopted when it agrees with the
// database, and refused, with the difference named, when it does not.
func TestSeedAdoptsOnlyAnAgreeingUnmarkedStock(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 10, 10
	s := newSystem(t, cfg, true)
	if r := s.reserve(1, 1, ""); r.Status != 202 {
		t.Fatalf("reserve: %d %v", r.Status, r.Body)
	}
	s.drained(1, 1)
	ctx := context.Background()
	if _, err := s.stock.Unmark(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := app.Seed(ctx, cfg, testLog()); err != nil {
		t.Fatalf("seed over an agreeing unmarked stock: %v", err)
	}
	if _, ok, _ := s.stock.Epoch(ctx, 1); !ok {
		t.Fatal("the agreeing stock was not marked")
	}

	if _, err := s.stock.Unmark(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	defer rdb.Close()
	if err := rdb.Set(ctx, cfg.RedisPrefix+":{c1}:stock", 0, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := app.Seed(ctx, cfg, testLog()); err == nil || !strings.Contains(err.Error(), reconcile.Leaked) {
		t.Fatalf("seed over a disagreeing unmarked stock: %v, want a refusal naming %s", err, reconcile.Leaked)
	}
}

// Redis forgot an admission (appendfsync everysec lost its last second): it
// then admits one more than MySQL has room for, and the writer writes that
// reservation FAILED (no seat left in the database). The seat it "returns"
// was never there: giving it back to Redis would sell it again, and again,
// each one a 202 then FAILED. So none goes back, and Redis is right again.
func TestPhantomSeatIsNotReturned(t *testing.T) {
	cfg := servicetest.Config(t)
	cfg.Capacity, cfg.Members = 1, 10
	cfg.HoldTTL = 0
	s := newSystem(t, cfg, true)
	if r := s.reserve(1, 1, ""); r.Status != 202 {
		t.Fatalf("reserve: %d %v", r.Status, r.Body)
	}
	s.drained(1, 1)
	// Redis loses that admission: its stock and its member.
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	defer rdb.Close()
	if err := rdb.Incr(ctx, cfg.RedisPrefix+":{c1}:stock").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.SRem(ctx, cfg.RedisPrefix+":{c1}:members", 1).Err(); err != nil {
		t.Fatal(err)
	}
	phantom := s.reserve(1, 2, "")
	if phantom.Status != 202 {
		t.Fatalf("the phantom seat: %d %v", phantom.Status, phantom.Body)
	}
	s.waitStatus(phantom.id(), "FAILED", 20*time.Second)
	servicetest.Eventually(t, 10*time.Second, "the failure settled in Redis", func() (bool, error) {
		n, err := s.stock.InFlightCount(ctx, 1)
		return err == nil && n == 0, err
	})
	if n, _, _ := s.stock.Remaining(ctx, 1); n != 0 {
		t.Fatalf("Redis offers %d seats after the phantom failed; MySQL has none", n)
	}
	if r := s.reserve(1, 3, ""); r.Status != 409 || r.code() != "sold_out" {
		t.Fatalf("next member: %d %v, want 409 sold_out", r.Status, r.Body)
	}
	// Member 2 holds nothing and may try again later.
	if ok, _ := rdb.SIsMember(ctx, cfg.RedisPrefix+":{c1}:members", 2).Result(); ok {
		t.Fatal("the phantom's member is still recorded as holding a seat")
	}
}
