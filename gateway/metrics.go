package gateway

import (
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics of one gateway process, all under boxoffice_gateway_.
type Metrics struct {
	Registry *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	script       *prometheus.HistogramVec
	produce      *prometheus.HistogramVec
	produceErrs  prometheus.Counter
	produceInFly prometheus.Gauge
	undo         *prometheus.CounterVec
	stock        *prometheus.GaugeVec
	inflight     *prometheus.GaugeVec
	lockWait     *prometheus.HistogramVec
	lockResults  *prometheus.CounterVec
	seatsHeld    *prometheus.CounterVec
}

// latencyBuckets reach from 100 µs to 10 s, fine enough to read a 1 ms p99
// and a 3 s one.
var latencyBuckets = []float64{
	.0001, .00025, .0005, .00075, .001, .0015, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .075,
	.1, .15, .2, .3, .5, .75, 1, 1.5, 2, 3, 5, 7.5, 10,
}

// NewMetrics registers the gateway's metrics, the Go runtime and process
// collectors, and db's pool stats when db is not nil.
func NewMetrics(db *sql.DB) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_gateway_requests_total", Help: "HTTP requests by route, strategy, status code and error code.",
		}, []string{"route", "strategy", "code", "error"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boxoffice_gateway_request_duration_seconds", Help: "HTTP request latency by route and strategy.", Buckets: latencyBuckets,
		}, []string{"route", "strategy"}),
		script: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boxoffice_gateway_lua_duration_seconds", Help: "reserve.lua round trips by result (accepted, sold_out, already_reserved, ...).", Buckets: latencyBuckets,
		}, []string{"result"}),
		produce: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boxoffice_gateway_kafka_produce_duration_seconds", Help: "Time from handing an event to the producer to the broker's ack, by result (ok, error).", Buckets: latencyBuckets,
		}, []string{"result"}),
		produceErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_gateway_kafka_produce_errors_total", Help: "Events Kafka did not acknowledge in time.",
		}),
		produceInFly: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "boxoffice_gateway_kafka_produce_in_flight", Help: "Events handed to the producer and not yet acknowledged.",
		}),
		undo: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_gateway_undo_total", Help: "Undo attempts after a failed publish, by result (released, kept, error).",
		}, []string{"result"}),
		stock: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_gateway_stock_remaining", Help: "Seats left in Redis per concert (sampled).",
		}, []string{"concert"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_gateway_reservations_in_flight", Help: "Reservations admitted in Redis and not yet written to MySQL, per concert (sampled).",
		}, []string{"concert"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boxoffice_gateway_lock_wait_seconds", Help: "distlock: time spent waiting for the lock, by result (acquired, timeout).", Buckets: latencyBuckets,
		}, []string{"result"}),
		lockResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_gateway_lock_total", Help: "distlock: lock attempts by result (acquired, timeout, error).",
		}, []string{"result"}),
		seatsHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_gateway_seats_held_total", Help: "Numbered seats held at admission, by section (a seated concert's holds).",
		}, []string{"section"}),
	}
	reg.MustRegister(m.requests, m.duration, m.script, m.produce, m.produceErrs, m.produceInFly, m.undo, m.stock, m.inflight, m.lockWait, m.lockResults, m.seatsHeld,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(db, "gateway"))
	}
	return m
}

// Script implements admission.Observer.
func (m *Metrics) Script(result string, d time.Duration) {
	m.script.WithLabelValues(result).Observe(d.Seconds())
}

// Producing implements admission.Observer.
func (m *Metrics) Producing(delta int) { m.produceInFly.Add(float64(delta)) }

// Produce implements admission.Observer.
func (m *Metrics) Produce(err error, d time.Duration) {
	result := "ok"
	if err != nil {
		result = "error"
		m.produceErrs.Inc()
	}
	m.produce.WithLabelValues(result).Observe(d.Seconds())
}

// SeatsHeld counts the seats one admission held, by section.
func (m *Metrics) SeatsHeld(seats []string) {
	for _, s := range seats {
		section, _, _ := strings.Cut(s, "-")
		m.seatsHeld.WithLabelValues(section).Inc()
	}
}

// Undo implements admission.Observer.
func (m *Metrics) Undo(result string) { m.undo.WithLabelValues(result).Inc() }

// LockWait records one distlock acquisition attempt.
func (m *Metrics) LockWait(err error, d time.Duration, timeout error) {
	result := "acquired"
	switch {
	case err == nil:
	case errors.Is(err, timeout):
		result = "timeout"
	default:
		result = "error"
	}
	m.lockWait.WithLabelValues(result).Observe(d.Seconds())
	m.lockResults.WithLabelValues(result).Inc()
}

// SetStock records a concert's seats left in Redis.
func (m *Metrics) SetStock(concert string, n int64) { m.stock.WithLabelValues(concert).Set(float64(n)) }

// SetInFlight records a concert's reservations in flight.
func (m *Metrics) SetInFlight(concert string, n int64) {
	m.inflight.WithLabelValues(concert).Set(float64(n))
}
