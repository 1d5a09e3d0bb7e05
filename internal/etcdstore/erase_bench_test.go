package etcdstore_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
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
// users with a grant (storetest.HookDuringErasures). PREREG_BENCH_NOHEDGE=1
// measures without hedged reads, for comparison.
//
//	go test -run '^$' -bench BenchmarkHookDuringErasures -benchtime 4x -timeout 30m ./internal/etcdstore/
func BenchmarkHookDuringErasures(b *testing.B) {
	n := storetest.ErasureBenchRecords(b)
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

	storetest.HookDuringErasures(b, st, eraser, n, returning, benchLogin)
}
