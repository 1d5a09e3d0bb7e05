package limits_test

import (
	"strconv"
	"testing"

	"github.com/prereg/prereg/internal/limits"
)

// BenchmarkAllow: one admin token calling again and again at the default
// limit (100/s, burst 200): after the burst almost every call is refused,
// which is the path a misbehaving client exercises.
func BenchmarkAllow(b *testing.B) {
	l := limits.New(100, 200, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Allow("tok_0123456789")
	}
}

// BenchmarkAllowManyKeys: 1000 tokens in turn, the table well below its cap.
func BenchmarkAllowManyKeys(b *testing.B) {
	l := limits.New(100, 200, 0)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "tok_" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Allow(keys[i%len(keys)])
	}
}

// BenchmarkAllowChurn: a new key on every call with the table full, the
// worst case (a flood of distinct source addresses).
func BenchmarkAllowChurn(b *testing.B) {
	l := limits.New(1, 60, 10_000)
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "198.51." + strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Allow(keys[i%len(keys)])
	}
}

// BenchmarkBlockedParallel: the failure-limit check every request makes,
// from all cores, for addresses that never failed.
func BenchmarkBlockedParallel(b *testing.B) {
	l := limits.PerMinute(60)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Blocked("198.51.100.7")
		}
	})
}

// BenchmarkInFlight: acquire and release.
func BenchmarkInFlight(b *testing.B) {
	f := limits.NewInFlight(64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r, ok := f.TryAcquire(); ok {
				r()
			}
		}
	})
}
