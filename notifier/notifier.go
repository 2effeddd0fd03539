// Package notifier tells users what happened to their reservations: a sarama
// consumer group on the notifications topic that POSTs each notification to a
// webhook, retrying with backoff until it is accepted, and marks its offset
// only then, so a notification is delivered at least once across crashes and
// restarts. Without a webhook it logs each notification instead.
package notifier

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
)

// Notifier consumes the notifications topic.
type Notifier struct {
	Topic string
	// Webhook receives the notifications; nil logs them instead.
	Webhook *Webhook
	Backoff Backoff
	Log     *slog.Logger
	Metrics *Metrics
}

// Backoff is the wait between two calls of one notification: Min, doubling
// up to Max. Each wait is drawn at random from its upper half so that
// partitions (and notifiers) failing together do not retry in lockstep.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is used when Notifier.Backoff is zero: quick enough to ride
// out a receiver's restart, slow enough not to hammer one that is down.
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 10 * time.Second}

// Wait is the pause after the given failed attempt (1 for the first).
func (b Backoff) Wait(attempt int) time.Duration {
	if b.Min <= 0 || b.Max <= 0 {
		b = DefaultBackoff
	}
	d := b.Min
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if half := d / 2; half > 0 {
		return d - half + rand.N(half+1)
	}
	return d
}

// handle reports whether msg is done with; false means the session ended
// before it could be delivered.
func (n *Notifier) handle(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	no, err := event.DecodeNotification(msg.Value)
	if err != nil {
		// Nobody can act on it, and waiting would block the partition.
		n.Log.Warn("undecodable notification skipped", "partition", msg.Partition, "offset", msg.Offset, "key", string(msg.Key), "err", err)
		n.Metrics.undecodable.Inc()
		return true
	}
	if n.Webhook == nil {
		n.Log.Info("notification", "type", no.Type, "reservationId", no.ReservationID, "concertId", no.ConcertID,
			"memberId", no.MemberID, "at", no.At, "reason", no.Reason)
		n.Metrics.delivered.WithLabelValues(string(no.Type)).Inc()
		return true
	}
	return n.deliver(ctx, msg, no)
}

// deliver calls the webhook until it accepts or refuses no for good, or ctx
// ends.
func (n *Notifier) deliver(ctx context.Context, msg *sarama.ConsumerMessage, no event.Notification) bool {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			n.Log.Info("stopping; notification left for redelivery", "reservationId", no.ReservationID, "type", no.Type,
				"partition", msg.Partition, "offset", msg.Offset)
			return false
		}
		start := time.Now()
		// A call under way is let finish (within the webhook timeout) when
		// the session ends: if it succeeds it is marked, and the next owner
		// of the partition does not send it again.
		err := n.Webhook.Post(context.WithoutCancel(ctx), no)
		n.Metrics.duration.Observe(time.Since(start).Seconds())
		var se *StatusError
		switch {
		case err == nil:
			n.Metrics.delivered.WithLabelValues(string(no.Type)).Inc()
			return true
		case errors.As(err, &se) && se.Permanent():
			n.Log.Error("webhook refused notification; skipped", "status", se.Status, "body", se.Body,
				"reservationId", no.ReservationID, "type", no.Type, "partition", msg.Partition, "offset", msg.Offset)
			n.Metrics.rejected.Inc()
			return true
		case ctx.Err() != nil:
			continue // reported at the top of the loop
		}
		wait := n.Backoff.Wait(attempt)
		n.Metrics.retries.Inc()
		n.Log.Warn("webhook failed; retrying", "reservationId", no.ReservationID, "type", no.Type,
			"attempt", attempt, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// Run consumes until ctx ends, then leaves the group.
func (n *Notifier) Run(ctx context.Context, group sarama.ConsumerGroup) error {
	return kafka.Consume(ctx, group, n.Topic, kafka.InOrder(n.handle), n.Log)
}
