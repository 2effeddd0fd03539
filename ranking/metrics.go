package ranking

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics of one ranker process, all under boxoffice_ranking_, on a registry
// of their own (served on the ranker's --metrics-addr).
type Metrics struct {
	Registry *prometheus.Registry

	events      *prometheus.CounterVec
	errors      prometheus.Counter
	sellThrough *prometheus.GaugeVec
	sold        *prometheus.GaugeVec
}

// Outcomes of a consumed message, the label of boxoffice_ranking_events_total.
const (
	outcomeAdded       = "added"
	outcomeDuplicate   = "duplicate"
	outcomeRemembered  = "remembered"
	outcomeSkipped     = "skipped"
	outcomeUndecodable = "undecodable"
)

// NewMetrics registers the ranker's metrics and the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_ranking_events_total", Help: "Messages the ranker consumed, by what became of them: added (the buckets changed), duplicate (a redelivery), remembered (nothing to count yet or any more), skipped (not a sale: a decision event), undecodable.",
		}, []string{"outcome"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_ranking_errors_total", Help: "Failed attempts to record a sale (the ranking's Redis, or MySQL for a concert's capacity); the message is tried again and its offset is not marked until it is recorded.",
		}),
		sellThrough: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_ranking_sell_through_ratio", Help: "Sell-through of the top concerts per window: seats taken within the window and not given back, over the capacity (refreshed every few seconds; only the top --ranking-top concerts carry a series).",
		}, []string{"window", "concert"}),
		sold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "boxoffice_ranking_sold", Help: "Seats taken within the window and not given back, for the top concerts per window.",
		}, []string{"window", "concert"}),
	}
	for _, o := range []string{outcomeAdded, outcomeDuplicate, outcomeRemembered, outcomeSkipped, outcomeUndecodable} {
		m.events.WithLabelValues(o)
	}
	reg.MustRegister(m.events, m.errors, m.sellThrough, m.sold,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
