package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/boxoffice/boxoffice/bench"
	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// RunWriterBench is `boxoffice bench writer`: the services come from the
// BOX_* variables (as for the writer), the benchmark's own flags from args.
func RunWriterBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) error {
	cfg, err := config.Parse("bench", config.Redis|config.MySQL|config.Kafka|config.Writer|config.Holds, nil, os.Getenv, stderr)
	if err != nil {
		return err
	}
	rig := NewWriterRig(cfg, log)
	defer rig.Close()
	return bench.RunWriter(ctx, args, stdout, stderr, rig)
}

// WriterRig implements bench.WriterRig over the real services: a topic of
// its own, filled once, and a writer built exactly as `boxoffice writer`
// builds it (OpenWriter), in this process, once per run.
type WriterRig struct {
	cfg   config.Config
	log   *slog.Logger
	db    *store.Store
	stock *stock.Store
	// topic is the filled topic (cfg.Topic + a random suffix).
	topic    string
	concerts int
	capacity int
	events   []stock.Reservation
}

var _ bench.WriterRig = (*WriterRig)(nil)

// NewWriterRig connects lazily, in Fill.
func NewWriterRig(cfg config.Config, log *slog.Logger) *WriterRig {
	return &WriterRig{cfg: cfg, log: log}
}

// Fill implements bench.WriterRig: a new topic with events reservation
// events (as the gateway encodes them: a ULID, the hold's deadline when
// --hold-ttl > 0) spread round-robin over concerts 1..concerts, each member
// once per concert.
func (r *WriterRig) Fill(ctx context.Context, events, concerts int) error {
	var err error
	if r.stock == nil {
		if r.stock, err = openRedis(ctx, r.cfg); err != nil {
			return err
		}
	}
	if r.db == nil {
		if r.db, err = openMySQL(ctx, r.cfg, 2); err != nil {
			return err
		}
	}
	if err := r.db.Migrate(ctx); err != nil {
		return err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	r.topic = r.cfg.Topic + "-wbench-" + hex.EncodeToString(suffix)
	r.concerts = concerts
	r.capacity = (events + concerts - 1) / concerts
	tctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	if err := kafka.EnsureTopics(tctx, r.cfg.KafkaBrokers, topicSpec(r.cfg), r.topic); err != nil {
		return err
	}
	now := time.Now().UTC()
	// Rising ids, as a rush's are (a ULID starts with its millisecond):
	// random ones would make every insert land at a random place in the
	// primary key, which no gateway's stream does.
	entropy := ulid.Monotonic(rand.Reader, 0)
	r.events = make([]stock.Reservation, events)
	for i := range r.events {
		ev := event.Event{V: event.Version, Type: event.Requested, ID: ulid.MustNew(ulid.Timestamp(now), entropy).String(),
			ConcertID: int64(i%concerts + 1), MemberID: int64(i/concerts + 1), At: now}
		var expires time.Time
		if r.cfg.HoldTTL > 0 {
			expires = now.Add(r.cfg.HoldTTL)
			ev.ExpiresAt = &expires
		}
		r.events[i] = stock.Reservation{ID: ev.ID, ConcertID: ev.ConcertID, MemberID: ev.MemberID, Payload: ev.Encode(), Now: now, ExpiresAt: expires}
	}
	p, err := kafka.NewProducer(r.cfg.KafkaBrokers, "boxoffice-bench-writer")
	if err != nil {
		return err
	}
	defer p.Close()
	return r.each(ctx, 512, func(ctx context.Context, e stock.Reservation) error {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return p.Publish(pctx, kafka.Message{Topic: r.topic, Key: []byte(e.ID), Value: e.Payload})
	})
}

// each runs f on every event from workers goroutines; the first error stops it.
func (r *WriterRig) each(ctx context.Context, workers int, f func(context.Context, stock.Reservation) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan stock.Reservation)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for e := range next {
				if err := f(ctx, e); err != nil {
					cancel(err)
				}
			}
		})
	}
	for _, e := range r.events {
		select {
		case next <- e:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Reset implements bench.WriterRig: the concerts start over with every seat
// free, and every event of the topic is admitted in Redis again with the
// gateway's own script (stock down, member recorded, in-flight record), as
// if the gateway had just answered 202 for each: the writer claims and
// clears those records, as it does in production.
func (r *WriterRig) Reset(ctx context.Context) error {
	if err := r.db.SeedConcerts(ctx, r.concerts, r.capacity, true); err != nil {
		return err
	}
	if err := r.db.SeedMembers(ctx, r.capacity); err != nil {
		return err
	}
	deployment, err := r.db.Deployment(ctx)
	if err != nil {
		return err
	}
	epoch := stock.NewEpoch(deployment, time.Now())
	for id := int64(1); id <= int64(r.concerts); id++ {
		if err := r.stock.Load(ctx, stock.Loading{Concert: id, Remaining: int64(r.capacity), Epoch: epoch, Reset: true}); err != nil {
			return err
		}
	}
	if err := r.each(ctx, 64, func(ctx context.Context, e stock.Reservation) error {
		// Admitted now, not when the topic was filled: the sweeper would
		// take records older than --inflight-grace for orphans and publish
		// them again, onto the topic the next runs read.
		e.Now = time.Now().UTC()
		if !e.ExpiresAt.IsZero() {
			e.ExpiresAt = e.Now.Add(r.cfg.HoldTTL)
		}
		if _, err := r.stock.Reserve(ctx, e); err != nil {
			return fmt.Errorf("admit %s in redis: %w", e.ID, err)
		}
		return nil
	}); err != nil {
		return err
	}
	// The reset deleted the previous run's rows; their purge would bill the
	// next run.
	if err := r.db.WaitPurge(ctx); err != nil {
		r.log.Debug("not waiting for the purge of the deleted rows", "err", err)
	}
	return nil
}

// Rows implements bench.WriterRig: seats taken in MySQL, which the writer
// takes in the same transaction as its rows.
func (r *WriterRig) Rows(ctx context.Context) (int64, error) {
	var n int64
	for id := int64(1); id <= int64(r.concerts); id++ {
		c, err := r.db.ConcertSeats(ctx, id)
		if err != nil {
			return 0, err
		}
		n += c.Capacity - c.Remaining
	}
	return n, nil
}

// Start implements bench.WriterRig: a writer as `boxoffice writer` runs it,
// in a new consumer group, so it reads the topic from its first message.
func (r *WriterRig) Start(ctx context.Context, batchSize int) (bench.WriterRun, error) {
	cfg := r.cfg
	cfg.Topic = r.topic
	cfg.Group = r.topic + "-" + fmt.Sprint(time.Now().UnixNano())
	cfg.NotificationsTopic = r.topic + "-notifications"
	cfg.BatchSize = batchSize
	cfg.MetricsAddr = "127.0.0.1:0"
	w, err := OpenWriter(ctx, cfg, r.log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	run := &writerRun{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- w.Run(ctx) }()
	return run, nil
}

// Close deletes the topic and releases the clients.
func (r *WriterRig) Close() error {
	var errs []error
	if r.topic != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errs = append(errs, kafka.DeleteTopics(ctx, r.cfg.KafkaBrokers, r.topic, r.topic+".DLQ", r.topic+"-notifications"))
	}
	if r.db != nil {
		errs = append(errs, r.db.Close())
	}
	if r.stock != nil {
		errs = append(errs, r.stock.Close())
	}
	return errors.Join(errs...)
}

type writerRun struct {
	w      *Writer
	cancel context.CancelFunc
	done   chan error
}

// Stats reads the writer's own histograms of batch sizes and durations.
func (wr *writerRun) Stats() bench.WriterStats {
	var st bench.WriterStats
	mfs, err := wr.w.Writer.Metrics.Registry.Gather()
	if err != nil {
		return st
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		switch mf.GetName() {
		case "boxoffice_writer_batch_size":
			st.Batches = int64(h.GetSampleCount())
			if st.Batches > 0 {
				st.MeanBatchSize = h.GetSampleSum() / float64(h.GetSampleCount())
			}
		case "boxoffice_writer_batch_duration_seconds":
			if h.GetSampleCount() > 0 {
				st.MeanBatchMs = 1000 * h.GetSampleSum() / float64(h.GetSampleCount())
				st.P50BatchMs = 1000 * histogramQuantile(h, 0.5)
			}
		}
	}
	return st
}

// histogramQuantile is Prometheus's histogram_quantile: linear within the
// bucket the quantile falls in.
func histogramQuantile(h *dto.Histogram, q float64) float64 {
	rank := q * float64(h.GetSampleCount())
	var lower, below float64
	for _, b := range h.GetBucket() {
		n := float64(b.GetCumulativeCount())
		if n >= rank {
			if n == below {
				return b.GetUpperBound()
			}
			return lower + (b.GetUpperBound()-lower)*(rank-below)/(n-below)
		}
		lower, below = b.GetUpperBound(), n
	}
	return lower
}

// Stop ends the writer: its open batch is finished, the group left.
func (wr *writerRun) Stop() error {
	wr.cancel()
	err := <-wr.done
	return errors.Join(err, wr.w.Close())
}
