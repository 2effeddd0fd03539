package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Migrate creates or updates the MySQL schema.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := openMySQL(ctx, cfg, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	log.Info("schema up to date")
	return nil
}

// Seed creates concerts 1..N and members 1..M in MySQL, loads their stock into
// Redis and creates the Kafka topics. Running it again changes nothing unless
// --reset, which starts the concerts over. Reset only while no reservations
// are in flight for them (the writer would write those after the reset).
//
// Redis is the live count, so a concert whose marker names this database is
// left as it is. Seed refuses, and says how they differ, when Redis holds
// another database's stock or a stock without a marker that disagrees with
// this one; and it loads a concert Redis does not know only once the writer
// has consumed the topic, since a database that is behind would oversell.
func Seed(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	db, err := openMySQL(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := openRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	tctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	if err := kafka.EnsureTopics(tctx, cfg.KafkaBrokers, topicSpec(cfg), cfg.Topic, cfg.DLQTopic(), cfg.NotificationsTopic); err != nil {
		return err
	}
	if err := db.SeedConcerts(ctx, cfg.Concerts, cfg.Capacity, cfg.Reset); err != nil {
		return err
	}
	if err := db.SeedMembers(ctx, cfg.Members); err != nil {
		return err
	}
	deployment, err := db.Deployment(ctx)
	if err != nil {
		return err
	}
	lag := func(ctx context.Context) (l kafka.Lag, err error) {
		// The topics were created a moment ago, and a new partition has no
		// leader to answer offsets for yet (a rare seed failure under load
		// in the fault suite): wait for it as for the services.
		err = waitFor(ctx, "kafka offsets", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			l, err = kafka.GroupLag(ctx, cfg.KafkaBrokers, cfg.Group, cfg.Topic)
			return err
		})
		return l, err
	}
	var refused []error
	for id := int64(1); id <= int64(cfg.Concerts); id++ {
		if err := loadConcert(ctx, st, db, lag, deployment, id, cfg); err != nil {
			if !errors.Is(err, errDisagree) {
				return err
			}
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	log.Info("seeded", "concerts", cfg.Concerts, "capacity", cfg.Capacity, "members", cfg.Members, "reset", cfg.Reset)
	fmt.Printf("seeded %d concert(s) of %d seats and %d members\n", cfg.Concerts, cfg.Capacity, cfg.Members)
	return nil
}

// errDisagree marks a concert seed would not load over.
var errDisagree = errors.New("Redis disagrees with MySQL")

// loadConcert loads one concert's stock into Redis unless Redis already
// knows it from this database (see Seed).
func loadConcert(ctx context.Context, st *stock.Store, db *store.Store, lag func(context.Context) (kafka.Lag, error), deployment string, id int64, cfg config.Config) error {
	state, err := db.State(ctx, id)
	if err != nil {
		return err
	}
	epoch := stock.NewEpoch(deployment, time.Now())
	holds := make([]stock.Hold, len(state.Held))
	for i, h := range state.Held {
		holds[i] = stock.Hold{ID: h.ID, MemberID: h.MemberID, ExpiresAt: h.ExpiresAt}
	}
	load := stock.Loading{Concert: id, Remaining: state.Remaining, Holders: state.Holders, Holds: holds, Epoch: epoch, Reset: cfg.Reset}
	if cfg.Reset {
		return st.Load(ctx, load)
	}
	snap, err := st.Snapshot(ctx, id)
	if err != nil {
		return err
	}
	how := func(c reconcile.Concert) string {
		var parts []string
		for _, d := range c.Differences {
			parts = append(parts, fmt.Sprintf("%s (%d): %s", d.Kind, d.Count, d.Detail))
		}
		return strings.Join(parts, "; ")
	}
	switch {
	case snap.Epoch != "" && stock.EpochDeployment(snap.Epoch) == deployment:
		return nil // the live count, loaded from this database
	case snap.Epoch != "":
		return fmt.Errorf("concert %d: %w: Redis holds the stock of another database (marker %q; this database is %q) under the prefix %q; "+
			"`boxoffice seed --reset` starts the concert over, `boxoffice reconcile --fix` rebuilds Redis from this database",
			id, errDisagree, snap.Epoch, deployment, cfg.RedisPrefix)
	case snap.Loaded:
		// A stock without a marker (loaded before markers existed): adopt
		// it if it agrees with this database, refuse otherwise.
		written := map[string]bool{}
		ids := make([]string, len(snap.InFlight))
		for i, f := range snap.InFlight {
			ids[i] = f.ID
		}
		if written, err = db.HaveRows(ctx, ids); err != nil {
			return err
		}
		c := reconcile.Compare(state, snap, written, deployment, time.Now(), cfg.InflightGrace)
		c.Differences = slices.DeleteFunc(c.Differences, func(d reconcile.Difference) bool {
			return d.Kind == reconcile.NotLoaded || d.Kind == reconcile.Orphans
		})
		if !c.OK() {
			return fmt.Errorf("concert %d: %w: %s; `boxoffice reconcile --concert %d` shows both sides, `--fix` rebuilds Redis from MySQL, `seed --reset` starts the concert over",
				id, errDisagree, how(c), id)
		}
		return st.Mark(ctx, id, epoch)
	}
	// Redis does not know the concert: load it, but never from a database
	// that is behind the topic.
	l, err := lag(ctx)
	if err != nil {
		return err
	}
	if l.Total > 0 {
		return fmt.Errorf("concert %d: %w: Redis does not know its stock and the writer (group %q) has %d events of %s still to consume; "+
			"loading from MySQL now would admit more than it can take: let the writer catch up and seed again, or run `boxoffice reconcile --fix`, which waits",
			id, errDisagree, cfg.Group, l.Total, cfg.Topic)
	}
	return st.Load(ctx, load)
}
