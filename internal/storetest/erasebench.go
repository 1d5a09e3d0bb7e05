package storetest

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// ErasureBenchRecords is the store size of the stores'
// BenchmarkHookDuringErasures: 300 000 registrations, or
// PREREG_BENCH_RECORDS.
func ErasureBenchRecords(b *testing.B) int {
	n := 300000
	if v := os.Getenv("PREREG_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20000 {
			b.Fatalf("PREREG_BENCH_RECORDS=%q: want a number of at least 20000", v)
		}
	}
	return n
}

// HookDuringErasures is the body of the stores'
// BenchmarkHookDuringErasures. The store holds n registrations, row i
// logged in as login(i); rows below returning are granted. It runs
// erasures back to back through eraser (one per iteration, in one
// goroutine, rows from n/2 on) while four goroutines log in through st,
// and reports the logins' latency: of every ten logins, one claims a
// pending registration (rows from returning on), one matches nothing and
// eight are returning users with a grant. read-* figures are of the
// logins that claim nothing; login-errors counts logins that failed
// (with 503), whose time is in the figures.
func HookDuringErasures(b *testing.B, st, eraser Store, n, returning int, login func(int) prereg.Login) {
	ctx := context.Background()
	var (
		claims           atomic.Int64
		erasures         = n / 2
		stop             atomic.Bool
		wg               sync.WaitGroup
		mu               sync.Mutex
		all, took, reads []time.Duration
		failed           atomic.Int64
	)
	claims.Store(int64(returning))
	for g := range 4 {
		wg.Go(func() {
			var lat, claimLat, readLat []time.Duration
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
				_, err := st.Login(ctx, l, true)
				d := time.Since(start)
				if err != nil {
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
		out, err := eraser.Erase(ctx, login(erasures).Email, "", "bench")
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
	b.ReportMetric(float64(failed.Load()), "login-errors")
}
