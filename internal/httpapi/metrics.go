package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/prereg/prereg/internal/prereg"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	// outcome holds the four outcome counters resolved once: the hook
	// then skips the label lookup, and every series exists from 0.
	outcome map[prereg.Outcome]prometheus.Counter
	handler http.Handler
}

func newMetrics(reg *prometheus.Registry, store Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prereg_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "prereg_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "prereg_hook_outcomes_total", Help: "Login hook answers by outcome.",
		}, []string{"outcome"}),
	}
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "prereg_store_size_bytes", Help: "Size of the store file's data.",
	}, func() float64 { return float64(store.Size()) })
	reg.MustRegister(m.requests, m.latency, m.outcomes, size)
	m.outcome = map[prereg.Outcome]prometheus.Counter{}
	for _, o := range []prereg.Outcome{prereg.OutcomeGranted, prereg.OutcomeAlreadyGranted, prereg.OutcomeEmailUnverified, prereg.OutcomeNoMatch} {
		m.outcome[o] = m.outcomes.WithLabelValues(string(o))
	}
	if q, ok := store.(interface {
		PendingJobs(context.Context) (int, error)
	}); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "prereg_sync_queue_jobs", Help: "Auth0 sync jobs waiting in the durable queue.",
		}, func() float64 {
			n, _ := q.PendingJobs(context.Background())
			return float64(n)
		}))
	}
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
