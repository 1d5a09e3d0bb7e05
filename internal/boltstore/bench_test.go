package boltstore_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// benchRecords is the size of the benchmark store; PREREG_BENCH_RECORDS
// overrides it (the README's figures use 1000000).
func benchRecords(b *testing.B) int {
	n := 50000
	if v := os.Getenv("PREREG_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2000 {
			b.Fatalf("PREREG_BENCH_RECORDS=%q: want a number of at least 2000", v)
		}
	}
	return n
}

func benchEmail(i int) string { return "b" + strconv.Itoa(100000000+i) + "@bench.example" }
func benchUser(i int) string  { return "auth0|bench" + strconv.Itoa(i) }

// benchOrg puts every other row in one of 100 organizations.
func benchOrg(i int) string {
	if i%2 == 0 {
		return ""
	}
	return "org_bench" + strconv.Itoa(10000000000+i%100)
}

// seedBench fills a store file with n rows (NoSync: seeding is not what
// is measured), claims the first granted of them, and reopens it with
// opts (fsync on), the login sets filled.
func seedBench(b *testing.B, n, granted int, opts boltstore.Options) *boltstore.Store {
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	items := make([]prereg.Input, 0, 10000)
	for start := 0; start < n; start += cap(items) {
		items = items[:0]
		for i := start; i < min(start+cap(items), n); i++ {
			items = append(items, prereg.Input{Email: benchEmail(i), OrganizationID: benchOrg(i), Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing-admin"}})
		}
		if _, err := st.ApplyBatch(ctx, items, "import:bench", "bench", false); err != nil {
			b.Fatal(err)
		}
	}
	for i := range granted {
		if res, err := st.Login(ctx, login(i), true); err != nil || res.Outcome != prereg.OutcomeGranted {
			b.Fatalf("pre-grant %d: %v %v", i, res.Outcome, err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if st, err = boltstore.Open(path, opts); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	st.WaitLoginSetsForTest(b)
	return st
}

func login(i int) prereg.Login {
	return prereg.Login{UserID: benchUser(i), Email: benchEmail(i), EmailVerified: true, OrganizationID: benchOrg(i)}
}

// BenchmarkStore measures the store operations behind the hook and the
// admin API on one seeded store: lookups that claim nothing, a claim (the
// write path, fsync on, 32 concurrent logins sharing db.Batch commits), a
// list page and the stats.
//
//	go test -run '^$' -bench BenchmarkStore -benchmem ./internal/boltstore/
//	PREREG_BENCH_RECORDS=1000000 go test -run '^$' -bench BenchmarkStore -cpuprofile cpu.out ./internal/boltstore/
func BenchmarkStore(b *testing.B) {
	n := benchRecords(b)
	st := seedBench(b, n, 0, boltstore.Options{LoginSets: true})
	ctx := context.Background()
	const preGranted = 1000
	for i := range preGranted {
		if res, err := st.Login(ctx, login(i), true); err != nil || res.Outcome != prereg.OutcomeGranted {
			b.Fatalf("pre-grant %d: %v %v", i, res.Outcome, err)
		}
	}

	b.Run("login/no_match", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			res, err := st.Login(ctx, prereg.Login{UserID: "auth0|nobody" + strconv.Itoa(i), Email: "n" + strconv.Itoa(i) + "@nobody.example", EmailVerified: true}, true)
			if err != nil || res.Outcome != prereg.OutcomeNoMatch {
				b.Fatalf("%v %v", res.Outcome, err)
			}
		}
	})
	b.Run("login/already_granted", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 1) % preGranted
			res, err := st.Login(ctx, login(i), true)
			if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted {
				b.Fatalf("%v %v", res.Outcome, err)
			}
		}
	})

	// Claims come from rows no earlier run of this sub-benchmark took.
	var next atomic.Int64
	next.Store(preGranted)
	b.Run("login/granted", func(b *testing.B) {
		b.ReportAllocs()
		if int64(b.N) > int64(n)-next.Load() {
			b.Skipf("only %d pending rows left for b.N=%d: raise PREREG_BENCH_RECORDS", int64(n)-next.Load(), b.N)
		}
		// 32 concurrent logins, as in issue 6's target.
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(32/runtime.GOMAXPROCS(0), 1))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1) - 1)
				res, err := st.Login(ctx, login(i), true)
				if err != nil || res.Outcome != prereg.OutcomeGranted {
					b.Errorf("row %d: %v %v", i, res.Outcome, err)
					return
				}
			}
		})
	})

	// A cursor about a tenth of the way in, so pages are not all at the
	// left edge of the tree.
	_, mid, err := st.List(ctx, prereg.Filter{Limit: n / 10})
	if err != nil || mid == "" {
		b.Fatalf("walk a tenth of the way: %v", err)
	}
	lists := []struct {
		name string
		f    prereg.Filter
	}{
		{"list/page100", prereg.Filter{Limit: 100, Cursor: mid}},
		{"list/page100_status", prereg.Filter{Limit: 100, Status: prereg.StatusPending}},
		{"list/page100_org_status", prereg.Filter{Limit: 100, OrganizationID: benchOrg(1), OrganizationSet: true, Status: prereg.StatusPending}},
		// Granted listings walk the user index; one organization's grants
		// (a few among every grant so far) are its worst case.
		{"list/page100_granted", prereg.Filter{Limit: 100, Status: prereg.StatusGranted}},
		{"list/org_granted", prereg.Filter{Limit: 100, OrganizationID: benchOrg(1), OrganizationSet: true, Status: prereg.StatusGranted}},
	}
	for _, l := range lists {
		b.Run(l.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				items, _, err := st.List(ctx, l.f)
				if err != nil || len(items) == 0 {
					b.Fatalf("%d items, %v", len(items), err)
				}
			}
		})
	}
	b.Run("stats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := st.Stats(ctx, prereg.StatsFilter{})
			if err != nil || s.Overall.Total < int64(n) {
				b.Fatalf("%+v %v", s.Overall, err)
			}
		}
	})
}
