package bench

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Load is how one attack is paced. Rate > 0 is a fixed rate (vegeta grows
// its workers up to MaxWorkers to keep it); Rate == 0 is maximum
// throughput with exactly Concurrency workers, each sending its next
// request when the previous one is answered. Every attack is bounded by
// both Duration and MaxRequests (0 sends nothing).
type Load struct {
	Rate        int
	Concurrency int
	Duration    time.Duration
	MaxRequests uint64
}

// maxRateWorkers bounds the workers of a fixed-rate attack: past it a slow
// target makes the attack fall behind its rate instead of piling up
// goroutines.
const maxRateWorkers = 512

// LoadResult is the outcome of one attack.
type LoadResult struct {
	Scenario string `json:"scenario"`
	// Target is "prereg" or "bare".
	Target string `json:"target"`
	// Mode is "max" (maximum throughput at a concurrency) or "rate".
	Mode        string  `json:"mode"`
	Round       int     `json:"round,omitempty"`
	Concurrency int     `json:"concurrency,omitempty"`
	Rate        int     `json:"rate,omitempty"`
	Requests    uint64  `json:"requests"`
	Seconds     float64 `json:"seconds"`
	// Throughput is successful requests per second.
	Throughput float64 `json:"throughput"`
	P50        Millis  `json:"p50_ms"`
	P90        Millis  `json:"p90_ms"`
	P99        Millis  `json:"p99_ms"`
	Max        Millis  `json:"max_ms"`
	// Errors counts transport errors and non-2xx answers; Mismatches
	// counts 2xx answers whose body was not the expected one (e.g. a
	// granted scenario answer that is not "granted").
	Errors       uint64   `json:"errors"`
	Mismatches   uint64   `json:"mismatches"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	// RSSMiB and HeapMiB are the process's peak RSS and Go heap in use
	// during this attack (in-process runs only).
	RSSMiB  float64 `json:"rss_mib,omitempty"`
	HeapMiB float64 `json:"heap_mib,omitempty"`
	// GCs counts this process's garbage collections during the attack:
	// the load generator's, and in-process runs also the service's.
	GCs uint64 `json:"gcs"`
}

// gcCycles is how many collections this process has completed; unlike
// runtime.ReadMemStats it does not stop the world.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Millis is a duration reported in milliseconds.
type Millis float64

func ms(d time.Duration) Millis { return Millis(float64(d.Microseconds()) / 1000) }

// attack runs one vegeta attack and summarises it. check, when set, must
// accept every 2xx body.
func attack(ctx context.Context, name string, tr vegeta.Targeter, l Load, check func([]byte) bool) LoadResult {
	mode, pacer := "max", vegeta.Pacer(vegeta.ConstantPacer{})
	if l.Rate > 0 {
		mode, pacer = "rate", vegeta.ConstantPacer{Freq: l.Rate, Per: time.Second}
	}
	bounded := boundedPacer{Pacer: pacer, limit: l.MaxRequests}
	a, transport := newAttacker(l)
	defer transport.CloseIdleConnections()
	stop := context.AfterFunc(ctx, func() { a.Stop() })
	defer stop()

	var m vegeta.Metrics
	res := LoadResult{Scenario: name, Mode: mode, Rate: l.Rate}
	gcs := gcCycles()
	if l.Rate == 0 {
		res.Concurrency = l.Concurrency
	}
	for r := range a.Attack(tr, bounded, l.Duration, name) {
		m.Add(r)
		res.count(r, check)
	}
	m.Close()
	res.GCs = gcCycles() - gcs
	res.Requests = m.Requests
	res.Seconds = (m.Duration + m.Wait).Seconds()
	if res.Seconds > 0 {
		res.Throughput = float64(m.Requests-res.Errors-res.Mismatches) / res.Seconds
	}
	res.P50, res.P90, res.P99, res.Max = ms(m.Latencies.P50), ms(m.Latencies.P90), ms(m.Latencies.P99), ms(m.Latencies.Max)
	return res
}

// newAttacker makes an attacker with the workers l calls for: exactly
// Concurrency at maximum throughput, as many as a fixed rate needs up to
// maxRateWorkers otherwise.
func newAttacker(l Load) (*vegeta.Attacker, *http.Transport) {
	workers, maxWorkers := uint64(l.Concurrency), uint64(l.Concurrency)
	if l.Rate > 0 {
		workers, maxWorkers = 32, maxRateWorkers
	}
	// vegeta's own transport, but ours, so that its connections are closed
	// after the attack: idle ones would stay in the target until its idle
	// timeout and pile up, with their buffers, in the memory measured.
	transport := &http.Transport{
		Proxy:           http.ProxyFromEnvironment,
		DialContext:     (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: vegeta.DefaultTLSConfig,
	}
	a := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: transport}),
		vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers),
		vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true),
		vegeta.Connections(int(maxWorkers)), vegeta.Redirects(vegeta.NoFollow),
	)
	return a, transport
}

// count tallies an answer that failed (a transport error or a non-2xx
// status) or that check rejects, keeping the first few as samples.
func (res *LoadResult) count(r *vegeta.Result, check func([]byte) bool) {
	switch {
	case r.Error != "":
		res.Errors++
		if len(res.ErrorSamples) < 3 {
			res.ErrorSamples = append(res.ErrorSamples, r.Error+": "+string(truncate(r.Body)))
		}
	case check != nil && !check(r.Body):
		res.Mismatches++
		if len(res.ErrorSamples) < 3 {
			res.ErrorSamples = append(res.ErrorSamples, "unexpected answer: "+string(truncate(r.Body)))
		}
	}
}

// boundedPacer stops an attack after limit hits.
type boundedPacer struct {
	vegeta.Pacer
	limit uint64
}

// Pace stops once limit hits were paced, and paces as the wrapped pacer
// until then.
func (p boundedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= p.limit {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

func truncate(b []byte) []byte {
	if len(b) > 160 {
		return b[:160]
	}
	return b
}

// outcomeIs accepts a hook answer with this outcome.
func outcomeIs(o string) func([]byte) bool {
	want := []byte(`"outcome":"` + o + `"`)
	return func(b []byte) bool { return bytes.Contains(b, want) }
}

// hookTargeter sends hook calls for rows next(), next()+1, … built by body;
// it is safe for vegeta's concurrent workers.
func hookTargeter(base, secret string, next func() int, body func(i int) []byte) vegeta.Targeter {
	url := base + "/v1/hooks/post-login"
	hdr := http.Header{"Authorization": {"Bearer " + secret}, "Content-Type": {"application/json"}}
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		*t = vegeta.Target{Method: http.MethodPost, URL: url, Header: hdr, Body: body(next())}
		return nil
	}
}

// counter hands out consecutive integers from start to concurrent
// workers, wrapping at end when wrap is set (end is exclusive).
type counter struct {
	n          atomic.Int64
	start, end int
	wrap       bool
}

func newCounter(start, end int, wrap bool) *counter {
	return &counter{start: start, end: end, wrap: wrap}
}

// next returns the next integer.
func (c *counter) next() int {
	i := int(c.n.Add(1)) - 1
	if c.wrap && c.end > c.start {
		i %= c.end - c.start
	}
	return c.start + i
}

// left is how many integers a counter that does not wrap has before end.
func (c *counter) left() int {
	return max(c.end-c.start-int(c.n.Load()), 0)
}

// loginBody is the Action's request for a user and address.
func loginBody(userID, email, org string, verified bool) []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"user_id":`...)
	b = strconv.AppendQuote(b, userID)
	b = append(b, `,"email":`...)
	b = strconv.AppendQuote(b, email)
	b = append(b, `,"email_verified":`...)
	b = strconv.AppendBool(b, verified)
	if org != "" {
		b = append(b, `,"organization_id":`...)
		b = strconv.AppendQuote(b, org)
	}
	b = append(b, `,"connection":"Username-Password-Authentication"}`...)
	return b
}

// getTargeter round-robins GET requests over urls with a bearer token.
func getTargeter(urls []string, token string) vegeta.Targeter {
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	next := newCounter(0, len(urls), true).next
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		*t = vegeta.Target{Method: http.MethodGet, URL: urls[next()], Header: hdr}
		return nil
	}
}
