package notifier

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/boxoffice/boxoffice/event"
)

// Metrics of one notifier process, all under boxoffice_notifier_, on a
// registry of their own (served on the notifier's --metrics-addr).
type Metrics struct {
	Registry *prometheus.Registry

	delivered   *prometheus.CounterVec
	retries     prometheus.Counter
	rejected    prometheus.Counter
	undecodable prometheus.Counter
	duration    prometheus.Histogram
}

// NewMetrics registers the notifier's metrics and the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boxoffice_notifier_delivered_total", Help: "Notifications delivered (webhook answered 2xx, or logged when no webhook is set), by type.",
		}, []string{"type"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_notifier_retries_total", Help: "Webhook calls that failed (transport error or a non-2xx status) and will be tried again.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_notifier_rejected_total", Help: "Notifications the webhook refused for good (4xx other than 408 and 429); logged and skipped.",
		}),
		undecodable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "boxoffice_notifier_undecodable_total", Help: "Messages on the notifications topic that could not be decoded; logged and skipped.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "boxoffice_notifier_delivery_duration_seconds", Help: "Time of one webhook call, whatever its outcome.",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10, 30},
		}),
	}
	// Every type from the start, so a dashboard sees 0 rather than nothing.
	for _, t := range []event.Type{event.Confirmed, event.Expired, event.Cancelled, event.Failed} {
		m.delivered.WithLabelValues(string(t))
	}
	reg.MustRegister(m.delivered, m.retries, m.rejected, m.undecodable, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
