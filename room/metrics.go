package room

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the rooms on one gateway, all under boxoffice_queue_.
type Metrics struct {
	waiting  *prometheus.GaugeVec
	active   *prometheus.GaugeVec
	admitted *prometheus.CounterVec
	joined   *prometheus.CounterVec
	wait     *prometheus.HistogramVec
	issued   *prometheus.CounterVec
	used     *prometheus.CounterVec
	refused  *prometheus.CounterVec
	notified *prometheus.CounterVec
	streams  prometheus.Gauge
}

// waitBuckets reach from 100 ms to 2 hours: a queue's waits are minutes.
var waitBuckets = []float64{.1, .25, .5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}

// NewMetrics registers the room metrics on reg (nil: registered nowhere).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_queue_waiting", Help: "Members in a room's queue not admitted yet (joined - admitted), as this gateway's last tick saw.",
		}, []string{"concert"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_queue_active", Help: "Passes of a room valid now (admitted, not expired), as this gateway's last tick saw.",
		}, []string{"concert"}),
		admitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_admitted_total", Help: "Positions admitted by this gateway's ticks (the sum over gateways is the room's serving counter).",
		}, []string{"concert"}),
		joined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_joined_total", Help: "Members who joined a room on this gateway (a new ticket).",
		}, []string{"concert"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boxoffice_queue_wait_seconds", Help: "Time from joining (or the opening, for pre-open arrivals) to admission, observed at a member's first pass.", Buckets: waitBuckets,
		}, []string{"concert"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_passes_issued_total", Help: "Members given their first pass (once per member, whichever gateway gave it).",
		}, []string{"concert"}),
		used: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_passes_used_total", Help: "Reservations accepted with a pass.",
		}, []string{"concert"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_refused_total", Help: "Reservations refused 403 not_admitted: no pass, or not a valid one.",
		}, []string{"concert"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_queue_notifications_total", Help: "Room notifications published, by kind (admitted, sold_out).",
		}, []string{"concert", "kind"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "boxoffice_queue_streams", Help: "Server-Sent Events streams of room status open on this gateway.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.waiting, m.active, m.admitted, m.joined, m.wait, m.issued, m.used, m.refused, m.notified, m.streams)
	}
	return m
}
