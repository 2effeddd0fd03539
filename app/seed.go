package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
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
	for id := int64(1); id <= int64(cfg.Concerts); id++ {
		_, loaded, err := st.Remaining(ctx, id)
		if err != nil {
			return err
		}
		if loaded && !cfg.Reset {
			continue // Redis is the live count; never overwrite it from a lagging DB
		}
		c, err := db.Concert(ctx, id)
		if err != nil {
			return err
		}
		holders, err := db.Holders(ctx, id)
		if err != nil {
			return err
		}
		if err := st.Load(ctx, id, c.Remaining, holders, cfg.Reset); err != nil {
			return err
		}
	}
	log.Info("seeded", "concerts", cfg.Concerts, "capacity", cfg.Capacity, "members", cfg.Members, "reset", cfg.Reset)
	fmt.Printf("seeded %d concert(s) of %d seats and %d members\n", cfg.Concerts, cfg.Capacity, cfg.Members)
	return nil
}
