package boltstore_test

import (
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/storetest"
)

// BenchmarkHookDuringErasures runs erasures back to back (one per
// iteration, in one goroutine) on a store of 300 000 registrations
// (PREREG_BENCH_RECORDS overrides) while four goroutines log in, and
// reports the logins' latency: of every ten logins, one claims a pending
// registration (a grouped commit, fsync on), one matches nothing and
// eight are returning users with a grant (storetest.HookDuringErasures).
//
//	go test -run '^$' -bench BenchmarkHookDuringErasures -benchtime 10x ./internal/boltstore/
func BenchmarkHookDuringErasures(b *testing.B) {
	n := storetest.ErasureBenchRecords(b)
	const returning = 2000
	st := seedBench(b, n, returning, boltstore.Options{LoginSets: true, ReleaseEvery: boltstore.ServiceReleaseEvery})
	storetest.HookDuringErasures(b, st, st, n, returning, login)
}
