package ranking

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// SellThrough is the sell-through gauge of one window and concert.
func SellThrough(m *Metrics, window string, concert int64) float64 {
	return value(m.sellThrough.WithLabelValues(window, strconv.FormatInt(concert, 10)))
}

// Events is the count of consumed messages with the given outcome.
func Events(m *Metrics, outcome string) float64 {
	return value(m.events.WithLabelValues(outcome))
}

// Errors is the count of failed attempts to record a sale.
func Errors(m *Metrics) float64 { return value(m.errors) }
