package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	http     *http.Server
	ln       net.Listener
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
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(rw, `{"status":"ok"}`)
	})
	w.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	if w.ln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.MetricsAddr, err)
	}
	w.Addr = w.ln.Addr().String()
	return w, nil
}

// Run consumes until ctx ends; the open batch is written and the group left
// cleanly before it returns.
func (w *Writer) Run(ctx context.Context) error {
	w.log.Info("writer started", "metrics", w.Addr)
	serveDebug(ctx, w.debugAddr, w.log)
	go w.http.Serve(w.ln)
	go w.Sweeper.Run(ctx)
	go w.Expirer.Run(ctx)
	err := w.Writer.Run(ctx, w.Group)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w.http.Shutdown(sctx)
	return err
}

// Close leaves the group and releases every client.
func (w *Writer) Close() error {
	var errs []error
	if w.Group != nil {
		errs = append(errs, w.Group.Close())
	}
	if w.ln != nil {
		w.ln.Close()
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
