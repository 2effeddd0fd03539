// Package ranking keeps the fast-selling ranking off the payment path: a
// consumer group of its own that reads the reservation events and the
// notifications and counts, in Redis (stock.Ranking), the seats each concert
// sold per minute. Nothing on the reservation path waits for it or knows it
// exists: when its Redis is slow or gone, or the ranker is not running,
// reservations, confirms and cancels go on as before, and only
// GET /api/rankings answers 503 (or an older ranking).
//
// What it counts, per reservation, once (Kafka delivers at least once; the
// script is idempotent on the reservation id and the fact's type):
//   - a take: the requested event on the reservations topic, in the minute
//     of its own time (the gateway's clock);
//   - a return: a cancelled, expired or failed notification — the writer
//     publishes one per transition that stood, after its commit — taken
//     back from the minute of its take;
//   - a payment: a confirmed notification, counted as paid in that minute.
//
// The decision events on the reservations topic are skipped: a decision may
// be published again from the outbox, or before its row exists, and only the
// writer knows whether it stood; its notification says so.
package ranking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Concerts reads a concert's capacity (store.Store in the ranker).
type Concerts interface {
	Concert(ctx context.Context, id int64) (store.Concert, error)
}

// Ranker consumes the reservations and notifications topics into the
// ranking.
type Ranker struct {
	Ranking            *stock.Ranking
	Concerts           Concerts
	Topic              string
	NotificationsTopic string
	// Top is how many concerts per window the gauges show.
	Top int
	// Refresh is how often the gauges are recomputed.
	Refresh time.Duration
	Log     *slog.Logger
	Metrics *Metrics
	// Now is the ranker's clock (time.Now when nil).
	Now func() time.Time

	mu sync.Mutex
	// capacity remembers each concert's capacity: it does not change
	// during a sale, and a take would otherwise cost a MySQL read.
	capacity map[int64]int64
}

// retryWait bounds the pause between two attempts at one sale: short enough
// to catch up soon after Redis is back, long enough not to spin on a dead one.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

func (r *Ranker) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// handle reports whether msg is done with; false means ctx ended first.
func (r *Ranker) handle(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	sale, ok, err := r.sale(msg)
	if err != nil {
		// The writer dead-letters what it cannot decode; the ranking only
		// loses one sale.
		r.Log.Warn("undecodable message skipped", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "err", err)
		r.Metrics.events.WithLabelValues(outcomeUndecodable).Inc()
		return true
	}
	if !ok {
		r.Metrics.events.WithLabelValues(outcomeSkipped).Inc()
		return true
	}
	for attempt := 1; ; attempt++ {
		counted, err := r.record(ctx, sale)
		if err == nil {
			r.Metrics.events.WithLabelValues(counted.String()).Inc()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		r.Metrics.errors.Inc()
		wait := min(retryMin<<min(attempt-1, 10), retryMax)
		r.Log.Warn("ranking: sale not recorded; retrying", "reservationId", sale.ReservationID, "type", sale.Type, "attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// sale turns a message into a sale; ok is false for a message that is not
// one (a decision event, or a notification of no concert).
func (r *Ranker) sale(msg *sarama.ConsumerMessage) (s stock.Sale, ok bool, err error) {
	if msg.Topic == r.NotificationsTopic {
		n, err := event.DecodeNotification(msg.Value)
		if err != nil {
			return s, false, err
		}
		if n.ConcertID <= 0 || n.Type.Room() {
			return s, false, nil
		}
		return stock.Sale{ReservationID: n.ReservationID, ConcertID: n.ConcertID, Type: n.Type}, true, nil
	}
	ev, err := event.Decode(msg.Value)
	if err != nil {
		return s, false, err
	}
	if ev.Type != event.Requested {
		return s, false, nil
	}
	return stock.Sale{ReservationID: ev.ID, ConcertID: ev.ConcertID, Type: ev.Type, TakenAt: ev.At}, true, nil
}

func (r *Ranker) record(ctx context.Context, s stock.Sale) (stock.Counted, error) {
	if s.Type == event.Requested {
		c, err := r.capacityOf(ctx, s.ConcertID)
		if err != nil {
			return stock.Remembered, err
		}
		s.Capacity = c
	}
	return r.Ranking.Record(ctx, s, r.now())
}

// capacityOf is the concert's capacity, 0 for a concert MySQL does not have
// (its sell-through is then 0).
func (r *Ranker) capacityOf(ctx context.Context, concert int64) (int64, error) {
	r.mu.Lock()
	c, ok := r.capacity[concert]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	row, err := r.Concerts.Concert(ctx, concert)
	switch {
	case errors.Is(err, boxoffice.ErrConcertNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("capacity of concert %d: %w", concert, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.capacity == nil || len(r.capacity) >= 4096 {
		r.capacity = map[int64]int64{}
	}
	r.capacity[concert] = row.Capacity
	return row.Capacity, nil
}

// Run consumes until ctx ends, refreshing the gauges meanwhile.
func (r *Ranker) Run(ctx context.Context, group sarama.ConsumerGroup) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.refreshEvery(ctx)
	}()
	err := kafka.ConsumeTopics(ctx, group, []string{r.Topic, r.NotificationsTopic}, kafka.InOrder(r.handle), r.Log)
	wg.Wait()
	return err
}

func (r *Ranker) refreshEvery(ctx context.Context) {
	t := time.NewTicker(r.Refresh)
	defer t.Stop()
	for {
		if err := r.RefreshGauges(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("ranking gauges not refreshed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshGauges sets the gauges to the top concerts of every window now.
func (r *Ranker) RefreshGauges(ctx context.Context) error {
	now := r.now()
	tops := make([][]stock.Rank, len(stock.Windows))
	for i, w := range stock.Windows {
		var err error
		if tops[i], err = r.Ranking.Top(ctx, w, r.Top, now); err != nil {
			return err
		}
	}
	// Reset, then set: a concert that left the top leaves the gauges.
	r.Metrics.sellThrough.Reset()
	r.Metrics.sold.Reset()
	for i, w := range stock.Windows {
		for _, k := range tops[i] {
			c := strconv.FormatInt(k.ConcertID, 10)
			r.Metrics.sellThrough.WithLabelValues(w.Name, c).Set(k.SellThrough)
			r.Metrics.sold.WithLabelValues(w.Name, c).Set(float64(k.Sold))
		}
	}
	return nil
}
