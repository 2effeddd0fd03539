package writer

import (
	"context"
	"log/slog"
	"time"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
)

// Expirer ends unpaid holds on time without scanning the table: admission put
// each hold in a per-concert sorted set scored by its expiry; every Interval
// the expirer claims what is due (expire.lua, atomic, so several expirers can
// run at once) and publishes an expired event per hold. A decision — this
// expiry, or a confirm or cancel from the gateway — that the writer has not
// applied within Grace (its publisher died) is published again from the
// outbox.
type Expirer struct {
	Stock    *stock.Store
	Producer *kafka.Producer
	Topic    string
	Interval time.Duration
	Grace    time.Duration
	Log      *slog.Logger
	Metrics  *Metrics
}

// claimChunk bounds one expire.lua call, so Redis is never blocked long.
const claimChunk = 1000

// Run expires due holds every Interval and serves the outbox every second,
// until ctx ends.
func (e *Expirer) Run(ctx context.Context) {
	tick := time.NewTicker(e.Interval)
	defer tick.Stop()
	lastOutbox := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if _, err := e.Expire(ctx, now); err != nil && ctx.Err() == nil {
				e.Log.Warn("expire", "err", err)
			}
			if now.Sub(lastOutbox) >= time.Second {
				lastOutbox = now
				if _, err := e.Republish(ctx, now); err != nil && ctx.Err() == nil {
					e.Log.Warn("outbox", "err", err)
				}
			}
		}
	}
}

// Expire claims and publishes every hold due at now; it returns how many.
func (e *Expirer) Expire(ctx context.Context, now time.Time) (int, error) {
	concerts, err := e.Stock.Concerts(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range concerts {
		for {
			due, err := e.Stock.ExpireDue(ctx, c, now, claimChunk, now.Add(e.Grace))
			if err != nil {
				return total, err
			}
			if err := e.publish(ctx, c, due); err != nil {
				return total, err // the outbox hands them out again after Grace
			}
			total += len(due)
			e.Metrics.expired.Add(float64(len(due)))
			if len(due) < claimChunk {
				break
			}
		}
	}
	return total, nil
}

// Republish publishes again the decisions not applied within Grace.
func (e *Expirer) Republish(ctx context.Context, now time.Time) (int, error) {
	concerts, err := e.Stock.Concerts(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range concerts {
		due, err := e.Stock.OutboxDue(ctx, c, now, claimChunk, now.Add(e.Grace))
		if err != nil {
			return total, err
		}
		if err := e.publish(ctx, c, due); err != nil {
			return total, err
		}
		total += len(due)
		e.Metrics.outbox.Add(float64(len(due)))
	}
	return total, nil
}

func (e *Expirer) publish(ctx context.Context, concert int64, ds []stock.Decided) error {
	if len(ds) == 0 {
		return nil
	}
	at := time.Now().UTC()
	msgs := make([]kafka.Message, len(ds))
	for i, d := range ds {
		ev := event.Event{V: event.Version, Type: d.Decision.Type(), ID: d.ID, ConcertID: concert, MemberID: d.MemberID, At: at}
		msgs[i] = kafka.Message{Topic: e.Topic, Key: []byte(d.ID), Value: ev.Encode()}
	}
	return publishAll(ctx, e.Producer, msgs)
}
