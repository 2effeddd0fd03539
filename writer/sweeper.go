package writer

import (
	"context"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
)

// Sweeper finishes reservations whose gateway died between the Lua step and
// Kafka's ack: after Grace, an in-flight record is republished from its stored
// event. The writer's writes are idempotent on the id, so a copy that did reach
// Kafka first does nothing twice. It also finishes the stock transfers of
// bucketed concerts that a gateway left half done. Safe to run in several
// writers at once.
type Sweeper struct {
	Stock    *stock.Store
	Producer *kafka.Producer
	Topic    string
	Grace    time.Duration
	Log      *slog.Logger
	Metrics  *Metrics
}

// Run sweeps every Grace/4 until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(max(s.Grace/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Sweep(ctx, time.Now()); err != nil {
				s.Log.Warn("sweep", "err", err)
			} else if n > 0 {
				s.Log.Info("republished orphaned reservations", "count", n)
			}
		}
	}
}

// Sweep republishes the in-flight reservations admitted before now-Grace and
// returns how many.
func (s *Sweeper) Sweep(ctx context.Context, now time.Time) (int, error) {
	concerts, err := s.Stock.Concerts(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range concerts {
		// A bucketed concert's transfer whose gateway died between its two
		// steps holds seats in no bucket until it is finished.
		if n, err := s.Stock.CompleteTransfers(ctx, c, now.Add(-stock.TransferGrace)); err != nil {
			return total, err
		} else if n > 0 {
			s.Log.Info("finished abandoned stock transfers", "concert", c, "count", n)
		}
		stale, err := s.Stock.Stale(ctx, c, now.Add(-s.Grace), 1000)
		if err != nil {
			return total, err
		}
		var ids []string
		for _, r := range stale {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.Producer.Publish(pctx, kafka.Message{Topic: s.Topic, Key: []byte(r.ID), Value: r.Payload})
			cancel()
			if err != nil {
				return total, err
			}
			ids = append(ids, r.ID)
		}
		if len(ids) > 0 {
			if err := s.Stock.Touch(ctx, c, ids, now); err != nil {
				return total, err
			}
			s.Metrics.republished.Add(float64(len(ids)))
			total += len(ids)
		}
	}
	return total, nil
}
