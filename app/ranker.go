package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/ranking"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Ranker is a running ranker process: the consumer group that keeps the
// sales ranking (boxoffice ranker). It is a process of its own rather than a
// part of the writer or the notifier so that nothing it does — a slow or
// unreachable ranking Redis, a crash, a restart to replay — can hold up the
// writer's batches or the notifications; it can be stopped at any time.
type Ranker struct {
	Addr    string // metrics listen address
	Ranking *stock.Ranking
	DB      *store.Store
	Group   sarama.ConsumerGroup
	Ranker  *ranking.Ranker
	Metrics *ranking.Metrics
	metrics *metricsServer
	log     *slog.Logger
}

// rankingOptions is where the ranking is kept: --ranking-redis-addr, or
// --redis-addr's server when it is empty.
func rankingOptions(cfg config.Config) stock.Options {
	o := stock.Options{Addr: cfg.RankingRedisAddr, Mode: "auto", Prefix: cfg.RedisPrefix, Timeout: cfg.RedisTimeout}
	if o.Addr == "" {
		o.Addr, o.Mode = cfg.RedisAddr, cfg.RedisMode
	}
	return o
}

// OpenRanker connects to MySQL (the concerts' capacities) and Kafka and
// listens on the metrics address; Run consumes. The ranking's Redis is not
// waited for: until it answers, every sale is retried and nothing is marked.
func OpenRanker(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Ranker, err error) {
	r := &Ranker{log: log, Metrics: ranking.NewMetrics()}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	r.Ranking = stock.DialRanking(rankingOptions(cfg))
	if r.DB, err = openMySQL(ctx, cfg, 1); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, "kafka consumer group", func(context.Context) error {
		kc := kafka.ConsumerConfig("boxoffice-ranker")
		// seed creates the topics with their partitions; a ranker started
		// first must not have the broker create them with its defaults.
		kc.Metadata.AllowAutoTopicCreation = false
		r.Group, err = sarama.NewConsumerGroup(cfg.KafkaBrokers, cfg.RankerGroup, kc)
		return err
	}); err != nil {
		return nil, err
	}
	// Every 5 s: Prometheus scrapes every 5 s (deploy/prometheus).
	r.Ranker = &ranking.Ranker{Ranking: r.Ranking, Concerts: r.DB, Topic: cfg.Topic, NotificationsTopic: cfg.NotificationsTopic,
		Top: cfg.RankingTop, Refresh: 5 * time.Second, Log: log, Metrics: r.Metrics}
	if r.metrics, err = listenMetrics(cfg.RankerMetricsAddr, r.Metrics.Registry); err != nil {
		return nil, err
	}
	r.Addr = r.metrics.addr()
	return r, nil
}

// Run consumes until ctx ends; a sale not yet recorded stays unmarked for
// the next run.
func (r *Ranker) Run(ctx context.Context) error {
	r.log.Info("ranker started", "topics", []string{r.Ranker.Topic, r.Ranker.NotificationsTopic}, "metrics", r.Addr)
	r.metrics.start()
	err := r.Ranker.Run(ctx, r.Group)
	r.metrics.stop()
	return err
}

// Close leaves the group and releases the clients.
func (r *Ranker) Close() error {
	var errs []error
	if r.Group != nil {
		errs = append(errs, r.Group.Close())
	}
	if r.metrics != nil {
		r.metrics.close()
	}
	if r.DB != nil {
		errs = append(errs, r.DB.Close())
	}
	if r.Ranking != nil {
		errs = append(errs, r.Ranking.Close())
	}
	return errors.Join(errs...)
}
