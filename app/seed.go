package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/reconcile"
	"github.com/boxoffice/boxoffice/seatmap"
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
	maps, err := seatMaps(ctx, cfg, db)
	if err != nil {
		return err
	}
	capacities := map[int64]int{}
	for id, m := range maps {
		capacities[id] = m.Capacity()
	}
	if err := db.SeedConcertsWith(ctx, cfg.Concerts, cfg.Capacity, capacities, cfg.Reset); err != nil {
		return err
	}
	for id, m := range maps {
		if err := db.SeedSeatMap(ctx, id, m); err != nil {
			return err
		}
	}
	if err := db.SeedMembers(ctx, cfg.Members); err != nil {
		return err
	}
	deployment, err := db.Deployment(ctx)
	if err != nil {
		return err
	}
	rec := reconciler(cfg, st, db, log)
	var refused []error
	for id := int64(1); id <= int64(cfg.Concerts); id++ {
		if err := loadConcert(ctx, st, rec, deployment, id, cfg); err != nil {
			if !errors.Is(err, errDisagree) {
				return err
			}
			refused = append(refused, err)
		}
	}
	if len(refused) > 0 {
		return errors.Join(refused...)
	}
	log.Info("seeded", "concerts", cfg.Concerts, "capacity", cfg.Capacity, "seated", len(maps), "members", cfg.Members, "reset", cfg.Reset)
	if m, ok := maps[1]; ok {
		fmt.Printf("seeded %d concert(s) with numbered seats (%d sections, %d seats) and %d members\n", cfg.Concerts, len(m.Sections), m.Capacity(), cfg.Members)
	} else {
		fmt.Printf("seeded %d concert(s) of %d seats and %d members\n", cfg.Concerts, cfg.Capacity, cfg.Members)
	}
	return nil
}

// seatMaps is the seat map of each concert seed creates: the one --seat-map
// or --sections gives, for all of them; without either, the one a concert
// already has (it stays seated).
func seatMaps(ctx context.Context, cfg config.Config, db *store.Store) (map[int64]seatmap.Map, error) {
	out := map[int64]seatmap.Map{}
	var given *seatmap.Map
	switch {
	case cfg.SeatMapFile != "":
		b, err := os.ReadFile(cfg.SeatMapFile)
		if err != nil {
			return nil, fmt.Errorf("seat map: %w", err)
		}
		m, err := seatmap.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.SeatMapFile, err)
		}
		given = &m
	case cfg.Sections > 0:
		m, err := seatmap.Generate(cfg.Sections, cfg.Rows, cfg.SeatsPerRow)
		if err != nil {
			return nil, err
		}
		given = &m
	}
	for id := int64(1); id <= int64(cfg.Concerts); id++ {
		if given != nil {
			out[id] = *given
			continue
		}
		m, ok, err := db.SeatMap(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			out[id] = m
		}
	}
	return out, nil
}

// errDisagree marks a concert seed would not load over.
var errDisagree = errors.New("Redis disagrees with MySQL")

// loadConcert loads one concert's stock into Redis unless Redis already
// knows it from this database (see Seed).
func loadConcert(ctx context.Context, st *stock.Store, rec *reconcile.Reconciler, deployment string, id int64, cfg config.Config) error {
	sides, err := rec.Read(ctx, id, deployment)
	if err != nil {
		return err
	}
	epoch := stock.NewEpoch(deployment, time.Now())
	if cfg.Reset {
		// Everything in Redis goes: the plan of the database alone.
		load := reconcile.Sides{DB: sides.DB}.Plan()
		load.Epoch, load.Reset, load.Buckets = epoch, true, cfg.StockBuckets
		return st.Load(ctx, load)
	}
	snap := sides.Redis
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
		c := sides.Concert
		c.Differences = slices.DeleteFunc(c.Differences, func(d reconcile.Difference) bool {
			return d.Kind == reconcile.NotLoaded || d.Kind == reconcile.Orphans
		})
		if !c.OK() {
			var how []string
			for _, d := range c.Differences {
				how = append(how, fmt.Sprintf("%s (%d): %s", d.Kind, d.Count, d.Detail))
			}
			return fmt.Errorf("concert %d: %w: %s; `boxoffice reconcile --concert %d` shows both sides, `--fix` rebuilds Redis from MySQL, `seed --reset` starts the concert over",
				id, errDisagree, strings.Join(how, "; "), id)
		}
		return st.Mark(ctx, id, epoch)
	}
	// Redis does not know the concert: load it, but never from a database
	// that is behind the topic.
	l, err := rec.Lag(ctx)
	if err != nil {
		return err
	}
	if l.Total > 0 {
		return fmt.Errorf("concert %d: %w: Redis does not know its stock and the writer (group %q) has %d events of %s still to consume; "+
			"loading from MySQL now would admit more than it can take: let the writer catch up and seed again, or run `boxoffice reconcile --fix`, which waits",
			id, errDisagree, cfg.Group, l.Total, cfg.Topic)
	}
	load := sides.Plan()
	load.Epoch, load.Buckets = epoch, cfg.StockBuckets
	return st.Load(ctx, load)
}
