package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/dlq"
	"github.com/boxoffice/boxoffice/event"
	"github.com/boxoffice/boxoffice/kafka"
)

// DLQ runs one boxoffice dlq command (list, show or replay) within
// cmd.Timeout and prints its result to out. A refused replay is an error.
func DLQ(ctx context.Context, cmd dlq.Command, out io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	cfg := cmd.Config
	topic := cfg.DLQTopic()
	client, err := within(ctx, "connect to Kafka", func() (sarama.Client, error) {
		return sarama.NewClient(cfg.KafkaBrokers, dlq.ClientConfig("boxoffice-dlq"))
	})
	if err != nil {
		return err
	}
	defer client.Close()
	r := &dlq.Reader{Client: client, Topic: topic}

	switch cmd.Action {
	case dlq.List:
		l, err := r.List(ctx, cmd.Limit)
		if errors.Is(err, dlq.ErrNoTopic) {
			_, err = fmt.Fprintf(out, "%s does not exist: nothing was ever dead-lettered there (seed creates it; is --topic %q right?)\n", topic, cfg.Topic)
			return err
		}
		if err != nil {
			return err
		}
		return dlq.WriteList(out, topic, l)
	case dlq.Show:
		m, err := r.Get(ctx, cmd.Partition, cmd.Offset)
		if err != nil {
			return err
		}
		return dlq.WriteMessage(out, m)
	case dlq.Replay:
		return replayDLQ(ctx, cmd, r, out, log)
	default:
		return fmt.Errorf("dlq: unknown action %q", cmd.Action)
	}
}

// replayDLQ puts one DLQ message, or the operator's fix of it, back on the
// reservations topic. Redis and MySQL are opened only for a requested event,
// the one kind that takes a seat.
func replayDLQ(ctx context.Context, cmd dlq.Command, r *dlq.Reader, out io.Writer, log *slog.Logger) error {
	cfg := cmd.Config
	m, err := r.Get(ctx, cmd.Partition, cmd.Offset)
	if err != nil {
		return err
	}
	value, from := m.Value, "its own value"
	if cmd.ValueFile != "" {
		if value, err = os.ReadFile(cmd.ValueFile); err != nil {
			return fmt.Errorf("--value-file: %w", err)
		}
		from = "the value in " + cmd.ValueFile
	}
	fmt.Fprintf(out, "replaying %s %s (key %s, reason %s) with %s\n", m.Topic, dlq.PartitionOffset(m.Partition, m.Offset),
		strconv.Quote(string(m.Key)), strconv.Quote(m.Header(dlq.HeaderReason)), from)
	ev, err := dlq.Decode(value)
	if err != nil {
		return err
	}

	rp := &dlq.Replayer{Topic: cfg.Topic, ProduceTimeout: cfg.ProduceTimeout}
	if ev.Type == event.Requested {
		st, err := openRedis(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		db, err := openMySQL(ctx, cfg, 1)
		if err != nil {
			return err
		}
		defer db.Close()
		rp.Seats, rp.Rows = st, db
	}
	p, err := within(ctx, "Kafka producer", func() (*kafka.Producer, error) {
		return kafka.NewProducer(cfg.KafkaBrokers, "boxoffice-dlq")
	})
	if err != nil {
		return err
	}
	defer p.Close()
	rp.Producer = p

	o, err := rp.Replay(ctx, ev)
	if err != nil {
		return err
	}
	log.Info("replayed DLQ message", "partition", m.Partition, "offset", m.Offset, "id", ev.ID, "type", ev.Type, "result", o.Result, "fixed", cmd.ValueFile != "")
	_, err = fmt.Fprintln(out, o)
	return err
}

// within runs open, a constructor that takes no context, and gives up when
// ctx ends first; what open returns after that is closed.
func within[T io.Closer](ctx context.Context, what string, open func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := open()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return r.v, fmt.Errorf("%s: %w", what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil {
				r.v.Close()
			}
		}()
		var zero T
		return zero, fmt.Errorf("%s: %w", what, ctx.Err())
	}
}
