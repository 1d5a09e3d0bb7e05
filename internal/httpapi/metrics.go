package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"
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
	// series caches each (route, method, status)'s counter and latency
	// observer: resolving labels hashed and checked them on every request.
	series  sync.Map // seriesKey -> seriesPair
	handler http.Handler
}

type seriesKey struct {
	route, method string
	status        int
}

type seriesPair struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func newMetrics(reg *prometheus.Registry, store Backups) *metrics {
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
	k := seriesKey{route, metricMethod(method), status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, seriesPair{m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(status)), m.latency.WithLabelValues(route)})
	}
	p := v.(seriesPair)
	p.count.Inc()
	p.latency.Observe(d.Seconds())
}

// metricMethod is the method label: net/http accepts any token as a
// method, and a label per made-up method would let any client grow the
// metrics (and this process's memory) without bound.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// MetricsHandler answers the Prometheus scrape, for a listener of its own
// (Config.MetricsElsewhere).
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }
