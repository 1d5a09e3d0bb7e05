package boltstore_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// BenchmarkHookDuringErasures runs erasures back to back (one per
// iteration, in one goroutine) on a store of 300 000 registrations
// (PREREG_BENCH_RECORDS overrides) while four goroutines log in, and
// reports the logins' latency: of every ten logins, one claims a pending
// registration (a grouped commit, fsync on), one matches nothing and
// eight are returning users with a grant.
//
//	go test -run '^$' -bench BenchmarkHookDuringErasures -benchtime 10x ./internal/boltstore/
func BenchmarkHookDuringErasures(b *testing.B) {
	n := 300000
	if v := os.Getenv("PREREG_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20000 {
			b.Fatalf("PREREG_BENCH_RECORDS=%q: want a number of at least 20000", v)
		}
	}
	const returning = 2000
	st := seedBench(b, n, returning, boltstore.Options{LoginSets: true, ReleaseEvery: boltstore.ServiceReleaseEvery})
	ctx := context.Background()
	// Rows [returning, n/2) are claimed by logins, rows from n/2 on erased.
	var (
		claims    atomic.Int64
		erasures  = n / 2
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		all, took []time.Duration
	)
	claims.Store(returning)
	for g := range 4 {
		wg.Go(func() {
			var lat, claimLat []time.Duration
			for i := g; !stop.Load(); i++ {
				var l prereg.Login
				switch i % 10 {
				case 0:
					l = login(int(claims.Add(1)))
				case 1:
					l = prereg.Login{UserID: "auth0|nobody" + strconv.Itoa(i), Email: "n" + strconv.Itoa(i) + "@nobody.example", EmailVerified: true}
				default:
					l = login(i % returning)
				}
				start := time.Now()
				if _, err := st.Login(ctx, l, true); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(start)
				lat = append(lat, d)
				if i%10 == 0 {
					claimLat = append(claimLat, d)
				}
			}
			mu.Lock()
			all, took = append(all, lat...), append(took, claimLat...)
			mu.Unlock()
		})
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := st.Erase(ctx, benchEmail(erasures), "", "bench")
		if err != nil || len(out.Registrations) != 1 {
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
	b.ReportMetric(ms(took, 0.99), "claim-p99-ms")
	b.ReportMetric(float64(len(all)), "logins")
}
