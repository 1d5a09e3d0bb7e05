package etcdstore_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
)

func benchEmail(i int) string { return "b" + strconv.Itoa(100000000+i) + "@bench.example" }

// benchLogin is the login of row i's user: every other row belongs to one
// of 100 organizations.
func benchLogin(i int) prereg.Login {
	org := ""
	if i%2 == 1 {
		org = "org_bench" + strconv.Itoa(10000000000+i%100)
	}
	return prereg.Login{UserID: "auth0|bench" + strconv.Itoa(i), Email: benchEmail(i), EmailVerified: true, OrganizationID: org}
}

// BenchmarkHookDuringErasures runs erasures back to back (one per
// iteration, in one goroutine; each compacts and defragments the three
// members) on a store of 300 000 registrations (PREREG_BENCH_RECORDS
// overrides) in a cluster of three member processes, while four
// goroutines log in through a store of their own (another replica), and
// reports the logins' latency: of every ten logins, one claims a pending
// registration (a write), one matches nothing and eight are returning
// users with a grant. read-* figures are of the logins that claim
// nothing (reads only). PREREG_BENCH_NOHEDGE=1 measures without hedged
// reads, for comparison.
//
//	go test -run '^$' -bench BenchmarkHookDuringErasures -benchtime 4x -timeout 30m ./internal/etcdstore/
func BenchmarkHookDuringErasures(b *testing.B) {
	n := 300000
	if v := os.Getenv("PREREG_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20000 {
			b.Fatalf("PREREG_BENCH_RECORDS=%q: want a number of at least 20000", v)
		}
	}
	const returning = 2000
	p := etcdtest.StartProcesses(b, 3)
	ctx := context.Background()
	open := func() *etcdstore.Store {
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: p.Endpoints(), Prefix: "/bench/"}, etcdstore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}
	eraser, st := open(), open()
	if os.Getenv("PREREG_BENCH_NOHEDGE") != "" {
		etcdstore.StopHedging(st)
	}
	start := time.Now()
	items := make([]prereg.Input, 0, 10000)
	for lo := 0; lo < n; lo += cap(items) {
		items = items[:0]
		for i := lo; i < min(lo+cap(items), n); i++ {
			l := benchLogin(i)
			items = append(items, prereg.Input{Email: l.Email, OrganizationID: l.OrganizationID, Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing-admin"}})
		}
		if _, err := eraser.ApplyBatch(ctx, items, "import:bench", "bench", false); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < returning; i += 8 {
				if res, err := st.Login(ctx, benchLogin(i), true); err != nil || res.Outcome != prereg.OutcomeGranted {
					b.Errorf("pre-grant %d: %v %v", i, res.Outcome, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.Logf("seeded %d registrations in %v; etcd db %d bytes", n, time.Since(start).Round(time.Second), eraser.Size())

	// Rows [returning, n/2) are claimed by logins, rows from n/2 on erased.
	var (
		claims           atomic.Int64
		erasures         = n / 2
		stop             atomic.Bool
		mu               sync.Mutex
		all, took, reads []time.Duration
		failed           atomic.Int64
	)
	claims.Store(returning)
	for g := range 4 {
		wg.Go(func() {
			var lat, claimLat, readLat []time.Duration
			for i := g; !stop.Load(); i++ {
				var l prereg.Login
				switch i % 10 {
				case 0:
					l = benchLogin(int(claims.Add(1)))
				case 1:
					l = prereg.Login{UserID: "auth0|nobody" + strconv.Itoa(i), Email: "n" + strconv.Itoa(i) + "@nobody.example", EmailVerified: true}
				default:
					l = benchLogin(i % returning)
				}
				t0 := time.Now()
				_, err := st.Login(ctx, l, true)
				d := time.Since(t0)
				if err != nil {
					// A login past the call timeout answers 503: count it,
					// its latency is in the figures.
					failed.Add(1)
				}
				lat = append(lat, d)
				if i%10 == 0 {
					claimLat = append(claimLat, d)
				} else {
					readLat = append(readLat, d)
				}
			}
			mu.Lock()
			all, took, reads = append(all, lat...), append(took, claimLat...), append(reads, readLat...)
			mu.Unlock()
		})
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := eraser.Erase(ctx, benchEmail(erasures), "", "bench")
		if err != nil || len(out.Registrations) != 1 || out.Unfinished != "" {
			b.Fatalf("erase row %d: %+v %v", erasures, out, err)
		}
		erasures++
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
	ms := func(d []time.Duration, q float64) float64 {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(q*float64(len(d))))]) / 1e6
	}
	b.ReportMetric(ms(all, 0.50), "login-p50-ms")
	b.ReportMetric(ms(all, 0.99), "login-p99-ms")
	b.ReportMetric(ms(all, 1), "login-max-ms")
	b.ReportMetric(ms(reads, 0.99), "read-p99-ms")
	b.ReportMetric(ms(reads, 1), "read-max-ms")
	b.ReportMetric(ms(took, 0.99), "claim-p99-ms")
	b.ReportMetric(ms(took, 1), "claim-max-ms")
	b.ReportMetric(float64(len(all)), "logins")
	b.ReportMetric(float64(failed.Load()), "logins-503")
}
