package writer

import (
	"database/sql"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics of one writer process, all under boxoffice_writer_.
type Metrics struct {
	Registry *prometheus.Registry

	batchSize   prometheus.Histogram
	commit      prometheus.Histogram
	rows        prometheus.Counter
	skipped     *prometheus.CounterVec
	failed      prometheus.Counter
	returned    prometheus.Counter
	dlq         prometheus.Counter
	lag         *prometheus.GaugeVec
	republished prometheus.Counter
	transitions *prometheus.CounterVec
	notified    prometheus.Counter
	expired     prometheus.Counter
	outbox      prometheus.Counter
	seats       *prometheus.CounterVec
}

// NewMetrics registers the writer's metrics, the Go runtime and process
// collectors, and db's pool stats.
func NewMetrics(db *sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "boxoffice_writer_batch_size", Help: "Messages per batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000},
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "boxoffice_writer_batch_duration_seconds", Help: "Time to process one batch: claim, transaction, commit.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_rows_written_total", Help: "Reservations written (active rows); redeliveries found already written count here too.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_writer_skipped_total", Help: "Events skipped, by reason (released: the gateway undid the reservation; redelivered: already written; before_row: a decision that came before its reservation's row, left for the outbox).",
		}, []string{"reason"}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_failed_total", Help: "Reservations that could never be written (status FAILED).",
		}),
		returned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_stock_returned_total", Help: "Seats given back to Redis: failed reservations, cancels and expiries.",
		}),
		dlq: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_dlq_total", Help: "Messages sent to the dead-letter topic.",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_writer_consumer_lag", Help: "Messages on the partition after the last one committed.",
		}, []string{"partition"}),
		republished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_republished_total", Help: "In-flight reservations republished by the sweeper (their gateway died before Kafka's ack).",
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_writer_transitions_total", Help: "Reservations moved out of HELD, by event (confirmed, cancelled, expired).",
		}, []string{"type"}),
		notified: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_notifications_total", Help: "Notifications published (at least once per transition).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_expiries_claimed_total", Help: "Holds the expirer claimed as due and published as expired.",
		}),
		outbox: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_writer_decisions_republished_total", Help: "Confirm/cancel/expiry decisions republished because the writer had not applied them in time.",
		}),
		seats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_writer_seats_total", Help: "Numbered seats by section and what became of them in MySQL: held (a HELD row), sold (confirmed, on write or by payment), released (cancelled or expired).",
		}, []string{"section", "outcome"}),
	}
	reg.MustRegister(m.transitions, m.notified, m.expired, m.outbox)
	reg.MustRegister(m.seats, m.batchSize, m.commit, m.rows, m.skipped, m.failed, m.returned, m.dlq, m.lag, m.republished,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "writer"))
	}
	return m
}

// countSeats counts numbered seats by section under outcome.
func (m *Metrics) countSeats(seats []string, outcome string) {
	for _, s := range seats {
		section, _, _ := strings.Cut(s, "-")
		m.seats.WithLabelValues(section, outcome).Inc()
	}
}
