// Package writer turns reservation events into MySQL rows: a sarama consumer
// group whose ConsumeClaim batches messages by size or time, claims them in
// Redis, writes each batch in one transaction, and only then marks offsets and
// clears the in-flight records. A reservation that can never be written gets
// its seat back, once; a message that cannot be decoded goes to the DLQ.
package writer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/stock"
	"github.com/boxoffice/boxoffice/store"
)

// Writer consumes the reservations topic.
type Writer struct {
	Stock    *stock.Store
	DB       *store.Store
	Producer *kafka.Producer // DLQ and sweeper republishing
	Topic    string
	DLQTopic string
	// NotificationsTopic receives a notification per transition a user cares about.
	NotificationsTopic string
	BatchSize          int
	BatchWait          time.Duration
	// FlushTimeout bounds finishing a batch after shutdown began.
	FlushTimeout time.Duration
	Log          *slog.Logger
	Metrics      *Metrics
}

// Setup implements sarama.ConsumerGroupHandler.
func (w *Writer) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (w *Writer) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim batches one partition's messages: a batch closes at BatchSize
// messages or BatchWait after its first message, and at the end of the
// session, whichever comes first.
func (w *Writer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	batch := make([]*sarama.ConsumerMessage, 0, w.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() error {
		timer.Stop()
		if len(batch) == 0 {
			return nil
		}
		// The batch is finished even if the session is ending: its rows are
		// committed before the offsets, so nothing is lost or doubled.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(sess.Context()), w.FlushTimeout)
		defer cancel()
		if err := w.process(ctx, batch); err != nil {
			return err
		}
		last := batch[len(batch)-1]
		sess.MarkMessage(last, "")
		w.Metrics.lag.WithLabelValues(strconv.Itoa(int(last.Partition))).Set(float64(claim.HighWaterMarkOffset() - last.Offset - 1))
		batch = batch[:0]
		return nil
	}
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return flush()
			}
			batch = append(batch, msg)
			if len(batch) == 1 {
				timer.Reset(w.BatchWait)
			}
			if len(batch) >= w.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-timer.C:
			if err := flush(); err != nil {
				return err
			}
		case <-sess.Context().Done():
			return flush()
		}
	}
}

// process writes one batch; it returns only when every message is handled
// (written, failed with its seat back, skipped, or dead-lettered) or ctx ends.
func (w *Writer) process(ctx context.Context, msgs []*sarama.ConsumerMessage) error {
	start := time.Now()
	w.Metrics.batchSize.Observe(float64(len(msgs)))

	// Decode; what cannot be decoded is parked in the DLQ with the reason.
	// Creations are applied before transitions: a transition always follows
	// its reservation's creation on the partition, so this keeps their order.
	byConcert := map[int64][]event.Event{}
	// The events as they arrived: a reservation that cannot be written is
	// dead-lettered whole (its hold deadline and Idempotency-Key too), so a
	// replay admits it as it was.
	arrived := map[string][]byte{}
	var concerts []int64
	var transitions []event.Event
	for _, m := range msgs {
		ev, err := event.Decode(m.Value)
		if err != nil {
			if err := w.deadLetter(ctx, m, err.Error()); err != nil {
				return err
			}
			continue
		}
		if ev.Type.Transition() {
			transitions = append(transitions, ev)
			continue
		}
		if _, ok := byConcert[ev.ConcertID]; !ok {
			concerts = append(concerts, ev.ConcertID)
		}
		arrived[ev.ID] = m.Value
		byConcert[ev.ConcertID] = append(byConcert[ev.ConcertID], ev)
	}

	// Claim in Redis: from here no undo can return these seats; events the
	// gateway undid (Kafka's ack came too late) are skipped. Every concert's
	// claim goes in one pipeline: one round trip to Redis a batch.
	ids := make(map[int64][]string, len(concerts))
	for _, c := range concerts {
		evs := byConcert[c]
		list := make([]string, len(evs))
		for i, ev := range evs {
			list[i] = ev.ID
		}
		ids[c] = list
	}
	var claimed map[int64][]stock.ClaimResult
	if err := retry(ctx, w.Log, "claim", func() error {
		var err error
		claimed, err = w.Stock.ClaimAll(ctx, ids)
		return err
	}, nil); err != nil {
		return err
	}
	var batch []store.NewReservation
	for _, c := range concerts {
		evs, claims := byConcert[c], claimed[c]
		for i, ev := range evs {
			if claims[i] == stock.Undone {
				w.Metrics.skipped.WithLabelValues("released").Inc()
				continue
			}
			batch = append(batch, store.NewReservation{ID: ev.ID, ConcertID: ev.ConcertID, MemberID: ev.MemberID, CreatedAt: ev.At, ExpiresAt: ev.ExpiresAt, Seats: ev.Seats})
		}
	}

	out, err := w.apply(ctx, batch, arrived)
	if err != nil {
		return err
	}
	if err := w.settle(ctx, out); err != nil {
		return err
	}
	notes := make([]event.Notification, 0, len(out.Failed))
	for _, r := range out.Failed {
		notes = append(notes, event.Notification{V: event.Version, Type: event.Failed, ReservationID: r.ID,
			ConcertID: r.ConcertID, MemberID: r.MemberID, At: time.Now().UTC(), Reason: out.Reasons[r.ID]})
	}
	more, err := w.transition(ctx, transitions)
	if err != nil {
		return err
	}
	w.Metrics.commit.Observe(time.Since(start).Seconds())
	return w.notify(ctx, append(notes, more...))
}

// transition applies confirms, cancels and expiries, then settles their
// decisions in Redis (a cancel or an expiry gives its seat back, once). It
// returns the notifications to send: one per transition that stands, also on
// a redelivery (notifications are at least once).
func (w *Writer) transition(ctx context.Context, evs []event.Event) ([]event.Notification, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	ts := make([]store.Transition, len(evs))
	ds := make([]event.Decision, len(evs))
	for i, ev := range evs {
		ds[i], _ = ev.Type.Decision() // process sorted only transitions here
		ts[i] = store.Transition{ID: ev.ID, To: ds[i].Status()}
	}
	applied, err := w.applyTransitions(ctx, ts, evs)
	if err != nil {
		return nil, err
	}
	settle := map[int64][]stock.Settlement{}
	var notes []event.Notification
	for i, a := range applied {
		ev := evs[i]
		if a.Status == "" {
			early, err := w.beforeItsRow(ctx, ev)
			if err != nil {
				return nil, err
			}
			if early {
				// Left in Redis: the outbox publishes it again after the
				// grace, by when the row is there to apply it to.
				w.Metrics.skipped.WithLabelValues("before_row").Inc()
				continue
			}
		}
		stands := a.Status == ts[i].To
		settle[ev.ConcertID] = append(settle[ev.ConcertID], stock.Settlement{ID: ev.ID, MemberID: ev.MemberID,
			ReturnSeat: stands && ds[i].ReturnsSeat()})
		if stands {
			notes = append(notes, event.Notification{V: event.Version, Type: ev.Type, ReservationID: ev.ID,
				ConcertID: ev.ConcertID, MemberID: ev.MemberID, At: time.Now().UTC()})
		}
		if a.Changed {
			w.Metrics.transitions.WithLabelValues(string(ev.Type)).Inc()
			outcome := "released"
			if ds[i] == event.Confirm {
				outcome = "sold"
			}
			w.Metrics.countSeats(a.Seats, outcome)
		}
	}
	for c, list := range settle {
		var n int64
		if err := retry(ctx, w.Log, "settle decisions", func() error {
			var err error
			n, err = w.Stock.Settle(ctx, c, list)
			return err
		}, nil); err != nil {
			return nil, err
		}
		w.Metrics.returned.Add(float64(n))
	}
	return notes, nil
}

// beforeItsRow reports whether a transition that found no row came before
// its reservation's creation: the reservation is still in flight in Redis (a
// gateway died before Kafka's ack, and the sweeper has not republished it
// yet). Settling it now would forget the decision, and the row written later
// would stay HELD for ever.
func (w *Writer) beforeItsRow(ctx context.Context, ev event.Event) (bool, error) {
	var st stock.State
	err := retry(ctx, w.Log, "in-flight state", func() error {
		var err error
		st, err = w.Stock.InFlightState(ctx, ev.ConcertID, ev.ID)
		return err
	}, nil)
	return st != stock.Gone, err
}

// applyTransitions applies ts, retrying transient errors. A batch that
// fails for another reason is applied one transition at a time; one that
// still fails is dead-lettered with the reason (as a reservation that cannot
// be written is) and reported with no status, so its decision is settled
// without returning a seat and the partition moves on: redelivering it would
// fail forever and hold up everything behind it.
func (w *Writer) applyTransitions(ctx context.Context, ts []store.Transition, evs []event.Event) ([]store.Applied, error) {
	var applied []store.Applied
	err := retry(ctx, w.Log, "apply transitions", func() error {
		var err error
		applied, err = w.DB.ApplyTransitions(ctx, ts)
		return err
	}, store.Transient)
	if err == nil || ctx.Err() != nil {
		return applied, err
	}
	w.Log.Warn("transitions failed; applying them one by one", "size", len(ts), "err", err)
	applied = make([]store.Applied, len(ts))
	for i := range ts {
		var one []store.Applied
		err := retry(ctx, w.Log, "apply transition", func() error {
			var err error
			one, err = w.DB.ApplyTransitions(ctx, ts[i:i+1])
			return err
		}, store.Transient)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			w.Log.Warn("transition dead-lettered", "id", ts[i].ID, "to", ts[i].To, "err", err)
			if err := w.publishDLQ(ctx, evs[i].ID, evs[i].Encode(), map[string]string{kafka.HeaderReason: err.Error()}); err != nil {
				return nil, err
			}
			applied[i] = store.Applied{ID: ts[i].ID}
			continue
		}
		applied[i] = one[0]
	}
	return applied, nil
}

// notify publishes notifications concurrently (the producer batches them)
// and returns once the broker has every one.
func (w *Writer) notify(ctx context.Context, notes []event.Notification) error {
	if len(notes) == 0 || w.NotificationsTopic == "" {
		return nil
	}
	msgs := make([]kafka.Message, len(notes))
	for i, n := range notes {
		msgs[i] = kafka.Message{Topic: w.NotificationsTopic, Key: []byte(n.ReservationID), Value: n.Encode()}
	}
	err := retry(ctx, w.Log, "notify", func() error { return publishAll(ctx, w.Producer, msgs) }, nil)
	if err == nil {
		w.Metrics.notified.Add(float64(len(msgs)))
	}
	return err
}

// publishAll publishes msgs at once and waits for every ack.
func publishAll(ctx context.Context, p *kafka.Producer, msgs []kafka.Message) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		go func() { errs <- p.Publish(ctx, m) }()
	}
	var first error
	for range msgs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// apply writes the batch, retrying transient errors; a batch that fails for
// another reason is written one reservation at a time so that only the bad
// ones fail. arrived holds each reservation's event as it was consumed.
func (w *Writer) apply(ctx context.Context, batch []store.NewReservation, arrived map[string][]byte) (store.Outcome, error) {
	if len(batch) == 0 {
		return store.Outcome{}, nil
	}
	var out store.Outcome
	err := retry(ctx, w.Log, "write batch", func() error {
		var err error
		out, err = w.DB.ApplyBatch(ctx, batch)
		return err
	}, store.Transient)
	if err == nil || ctx.Err() != nil {
		return out, err
	}
	w.Log.Warn("batch failed; writing its reservations one by one", "size", len(batch), "err", err)
	out = store.Outcome{Reasons: map[string]string{}}
	for _, r := range batch {
		var one store.Outcome
		err := retry(ctx, w.Log, "write reservation", func() error {
			var err error
			one, err = w.DB.ApplyBatch(ctx, []store.NewReservation{r})
			return err
		}, store.Transient)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err != nil {
			// Not even a FAILED row can be written: give the seat back and
			// keep the event in the DLQ for a person to look at.
			out.Failed = append(out.Failed, r)
			out.Reasons[r.ID] = err.Error()
			if err := w.publishDLQ(ctx, r.ID, arrived[r.ID], map[string]string{kafka.HeaderReason: err.Error()}); err != nil {
				return out, err
			}
			continue
		}
		out.Redelivered += one.Redelivered
		out.Written = append(out.Written, one.Written...)
		out.Failed = append(out.Failed, one.Failed...)
		for k, v := range one.Reasons {
			out.Reasons[k] = v
		}
		for k, v := range one.Taken {
			if out.Taken == nil {
				out.Taken = map[string][]string{}
			}
			out.Taken[k] = v
		}
	}
	return out, nil
}

// settle brings Redis in step with what was committed: in-flight records of
// written rows go, failed reservations get their seats back (once).
func (w *Writer) settle(ctx context.Context, out store.Outcome) error {
	w.Metrics.rows.Add(float64(len(out.Written)))
	for _, r := range out.Written {
		if r.ExpiresAt == nil {
			w.Metrics.countSeats(r.Seats, "sold")
		} else {
			w.Metrics.countSeats(r.Seats, "held")
		}
	}
	w.Metrics.skipped.WithLabelValues("redelivered").Add(float64(out.Redelivered))
	done := map[int64][]string{}
	for _, r := range out.Written {
		done[r.ConcertID] = append(done[r.ConcertID], r.ID)
	}
	if len(done) > 0 {
		if err := retry(ctx, w.Log, "clear in-flight", func() error { return w.Stock.DoneAll(ctx, done) }, nil); err != nil {
			return err
		}
	}
	failed := map[int64][]stock.Seat{}
	for _, r := range out.Failed {
		failed[r.ConcertID] = append(failed[r.ConcertID], stock.Seat{ID: r.ID, MemberID: r.MemberID, Back: giveback(out.Reasons[r.ID]), Keep: out.Taken[r.ID]})
		w.Log.Warn("reservation failed", "id", r.ID, "concert", r.ConcertID, "member", r.MemberID, "reason", out.Reasons[r.ID])
	}
	for c, seats := range failed {
		var n int64
		if err := retry(ctx, w.Log, "return seats", func() error {
			var err error
			n, err = w.Stock.Fail(ctx, c, seats)
			return err
		}, nil); err != nil {
			return err
		}
		w.Metrics.failed.Add(float64(len(seats)))
		w.Metrics.returned.Add(float64(n))
	}
	return nil
}

// giveback is what a reservation that failed for reason returns to Redis:
// when the database had no seat, or the member already held one, Redis had
// lost earlier state, and the seat it counted for this one was never free.
func giveback(reason string) stock.Giveback {
	switch reason {
	case store.ReasonNoSeat:
		return stock.MemberOnly
	case store.ReasonDuplicate:
		return stock.Nothing
	}
	return stock.SeatAndMember
}

func (w *Writer) deadLetter(ctx context.Context, m *sarama.ConsumerMessage, reason string) error {
	w.Log.Warn("undecodable message sent to the DLQ", "partition", m.Partition, "offset", m.Offset, "reason", reason)
	return w.publishDLQ(ctx, string(m.Key), m.Value, map[string]string{
		kafka.HeaderReason:          reason,
		kafka.HeaderSourceTopic:     m.Topic,
		kafka.HeaderSourcePartition: strconv.Itoa(int(m.Partition)),
		kafka.HeaderSourceOffset:    strconv.FormatInt(m.Offset, 10),
	})
}

func (w *Writer) publishDLQ(ctx context.Context, key string, value []byte, headers map[string]string) error {
	err := retry(ctx, w.Log, "dead-letter", func() error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return w.Producer.Publish(pctx, kafka.Message{Topic: w.DLQTopic, Key: []byte(key), Value: value, Headers: headers})
	}, nil)
	if err == nil {
		w.Metrics.dlq.Inc()
	}
	return err
}

// retry runs f until it succeeds, ctx ends, or (when transient is given) f
// fails with an error transient does not accept. Backoff doubles to 2 s.
func retry(ctx context.Context, log *slog.Logger, what string, f func() error, transient func(error) bool) error {
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if transient != nil && !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		}
		log.Warn("retrying", "what", what, "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %w)", what, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Run consumes until ctx ends, then leaves the group.
func (w *Writer) Run(ctx context.Context, group sarama.ConsumerGroup) error {
	return kafka.Consume(ctx, group, w.Topic, w, w.Log)
}
