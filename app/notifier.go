package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/IBM/sarama"

	"github.com/boxoffice/boxoffice/config"
	"github.com/boxoffice/boxoffice/kafka"
	"github.com/boxoffice/boxoffice/notifier"
)

// Notifier is a running notifier process.
type Notifier struct {
	Addr     string // metrics listen address
	Group    sarama.ConsumerGroup
	Notifier *notifier.Notifier
	// Metrics are served on Addr.
	Metrics *notifier.Metrics
	metrics *metricsServer
	log     *slog.Logger
}

// OpenNotifier checks the webhook, makes sure the notifications topic exists,
// creates the consumer group and listens on the metrics address; Run
// consumes.
func OpenNotifier(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *Notifier, err error) {
	n := &Notifier{log: log, Metrics: notifier.NewMetrics()}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	var hook *notifier.Webhook
	if cfg.WebhookURL != "" {
		if hook, err = notifier.NewWebhook(cfg.WebhookURL, cfg.WebhookTimeout); err != nil {
			return nil, err
		}
	}
	// The writer publishes on this topic, but a notifier started first would
	// otherwise have the broker auto-create it with its default partitions.
	if err = waitFor(ctx, "kafka", func(ctx context.Context) error {
		return kafka.EnsureTopics(ctx, cfg.KafkaBrokers, topicSpec(cfg), cfg.NotificationsTopic)
	}); err != nil {
		return nil, err
	}
	if err = waitFor(ctx, "kafka consumer group", func(context.Context) error {
		n.Group, err = sarama.NewConsumerGroup(cfg.KafkaBrokers, cfg.NotifierGroup, kafka.ConsumerConfig("boxoffice-notifier"))
		return err
	}); err != nil {
		return nil, err
	}
	n.Notifier = &notifier.Notifier{Topic: cfg.NotificationsTopic, Webhook: hook, Backoff: notifier.DefaultBackoff, Log: log, Metrics: n.Metrics}
	if n.metrics, err = listenMetrics(cfg.NotifierMetricsAddr, n.Metrics.Registry); err != nil {
		return nil, err
	}
	n.Addr = n.metrics.addr()
	return n, nil
}

// Run consumes until ctx ends; the group is left cleanly, and a notification
// not yet delivered stays unmarked for the next run.
func (n *Notifier) Run(ctx context.Context) error {
	if n.Notifier.Webhook != nil {
		n.log.Info("notifier started", "topic", n.Notifier.Topic, "webhook", n.Notifier.Webhook.Where(), "metrics", n.Addr)
	} else {
		n.log.Info("notifier started; no webhook, logging notifications", "topic", n.Notifier.Topic, "metrics", n.Addr)
	}
	n.metrics.start()
	err := n.Notifier.Run(ctx, n.Group)
	n.metrics.stop()
	return err
}

// Close leaves the group and releases the clients.
func (n *Notifier) Close() error {
	var errs []error
	if n.Group != nil {
		errs = append(errs, n.Group.Close())
	}
	if n.metrics != nil {
		n.metrics.close()
	}
	if n.Notifier != nil && n.Notifier.Webhook != nil {
		n.Notifier.Webhook.CloseIdleConnections()
	}
	return errors.Join(errs...)
}
