package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
	"github.com/boxoffice/boxoffice/writer"
)

// Writer is a running writer process.
type Writer struct {
	Addr     string // metrics listen address
	Stock    *stock.Store
	DB       *store.Store
	Producer *kafka.Producer
	Group    sarama.ConsumerGroup
	Writer   *writer.Writer
	Sweeper  *writer.Sweeper
	Expirer  *writer.Expirer
	metrics  *metricsServer
	log      *slog.Logger
	// debugAddr serves pprof when set.
	debugAddr string
}

// OpenWriter connects to every service and joins nothing yet; Run consumes.
func OpenWriter(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Writer, err error) {
	w := &Writer{log: log, debugAddr: cfg.DebugAddr}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Stock, err = openRedis(ctx, cfg); err != nil {
		return nil, err
	}
	// One connection: batching, not connection count, is the lever, and one
	// writer per partition group never contends with itself.
	if w.DB, err = openMySQL(ctx, cfg, 1); err != nil {
		return nil, err
	}
	// The fast path's rows by LOAD DATA LOCAL where the server allows it
	// (store.UseLoadData says why); else the prepared INSERT, as before.
	if on, err := w.DB.UseLoadData(ctx); err != nil {
		return nil, err
	} else if on {
		log.Info("writer inserts its batches with LOAD DATA LOCAL")
	} else {
		log.Warn("local_infile is off on the MySQL server; the writer inserts its batches with a prepared INSERT (start the server with --local-infile=ON for LOAD DATA LOCAL)")
	}
	if err = waitFor(ctx, "kafka", func(context.Context) error {
		w.Producer, err = kafka.NewProducer(cfg.KafkaBrokers, "boxoffice-writer")
		return err
	}); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, "kafka consumer group", func(context.Context) error {
		w.Group, err = sarama.NewConsumerGroup(cfg.KafkaBrokers, cfg.Group, kafka.ConsumerConfig("boxoffice-writer"))
		return err
	}); err != nil {
		return nil, err
	}
	metrics := writer.NewMetrics(w.DB.DB().DB)
	w.Writer = &writer.Writer{Stock: w.Stock, DB: w.DB, Producer: w.Producer, Topic: cfg.Topic, DLQTopic: cfg.DLQTopic(), NotificationsTopic: cfg.NotificationsTopic,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, FlushTimeout: 30 * time.Second, Log: log, Metrics: metrics}
	// A 25 ms tick keeps expiry within ±100 ms of its due time; a claim of
	// nothing due is one ZRANGEBYSCORE per concert.
	w.Expirer = &writer.Expirer{Stock: w.Stock, Producer: w.Producer, Topic: cfg.Topic, Interval: 25 * time.Millisecond,
		Grace: cfg.InflightGrace, Log: log, Metrics: metrics}
	w.Sweeper = &writer.Sweeper{Stock: w.Stock, Producer: w.Producer, Topic: cfg.Topic, Grace: cfg.InflightGrace, Log: log, Metrics: metrics}
	if w.metrics, err = listenMetrics(cfg.MetricsAddr, metrics.Registry); err != nil {
		return nil, err
	}
	w.Addr = w.metrics.addr()
	return w, nil
}

// Run consumes until ctx ends; the open batch is written and the group left
// cleanly before it returns.
func (w *Writer) Run(ctx context.Context) error {
	w.log.Info("writer started", "metrics", w.Addr)
	serveDebug(ctx, w.debugAddr, w.log)
	w.metrics.start()
	go w.Sweeper.Run(ctx)
	go w.Expirer.Run(ctx)
	err := w.Writer.Run(ctx, w.Group)
	w.metrics.stop()
	return err
}

// Close leaves the group and releases every client.
func (w *Writer) Close() error {
	var errs []error
	if w.Group != nil {
		errs = append(errs, w.Group.Close())
	}
	if w.metrics != nil {
		w.metrics.close()
	}
	if w.Producer != nil {
		errs = append(errs, w.Producer.Close())
	}
	if w.DB != nil {
		errs = append(errs, w.DB.Close())
	}
	if w.Stock != nil {
		errs = append(errs, w.Stock.Close())
	}
	return errors.Join(errs...)
}
