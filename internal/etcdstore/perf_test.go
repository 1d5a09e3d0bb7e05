package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// TestImportRate reports the import rate of PREREG_ETCD_IMPORT_ROWS rows
// (skipped without it): a measurement, not an assertion.
func TestImportRate(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PREREG_ETCD_IMPORT_ROWS"))
	if n == 0 {
		t.Skip("PREREG_ETCD_IMPORT_ROWS not set")
	}
	s := openOn(t, 0, prefixFor(""), storetest.Options{})
	items := make([]prereg.Input, n)
	for i := range items {
		items[i] = prereg.Input{Email: fmt.Sprintf("user%d@x.io", i), OrganizationID: fmt.Sprintf("org_%d", i%10), Roles: []string{"r"}}.Normalize()
	}
	cpu0 := cpuTime()
	start := time.Now()
	for lo := 0; lo < n; lo += 10000 {
		if _, err := s.ApplyBatch(context.Background(), items[lo:min(lo+10000, n)], "import:imp_1", "t", false); err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start)
	t.Logf("%d rows in %v: %.0f rows/s, %v of CPU (etcd members included); etcd db %d bytes", n, d, float64(n)/d.Seconds(), cpuTime()-cpu0, s.Size())
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSizePerRegistration reports the bytes etcd's database grows by per
// pending and per granted registration, history compacted and the file
// defragmented (skipped without PREREG_ETCD_SIZE_ROWS): a measurement for
// the manual, not an assertion. It uses a cluster of its own.
func TestSizePerRegistration(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PREREG_ETCD_SIZE_ROWS"))
	if n == 0 {
		t.Skip("PREREG_ETCD_SIZE_ROWS not set")
	}
	c := etcdtest.Start(t, 1)
	cli := c.Client(t)
	ctx := context.Background()
	s, err := etcdstore.New(ctx, cli, "/size/", etcdstore.Options{CallTimeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	live := func() int64 {
		resp, err := cli.Get(ctx, "/size/meta/schema")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Defragment(ctx, c.Endpoints()[0]); err != nil {
			t.Fatal(err)
		}
		st, err := cli.Status(ctx, c.Endpoints()[0])
		if err != nil {
			t.Fatal(err)
		}
		return st.DbSize
	}
	empty := live()
	items := make([]prereg.Input, n)
	for i := range items {
		items[i] = prereg.Input{Email: fmt.Sprintf("someone.%d@example.com", i), OrganizationID: fmt.Sprintf("org_%d", i%10), Roles: []string{"member"}}.Normalize()
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false); err != nil {
		t.Fatal(err)
	}
	pending := live()
	for i, in := range items {
		if _, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("auth0|%024d", i), Email: in.Email, EmailVerified: true}, true); err != nil {
			t.Fatal(err)
		}
	}
	granted := live()
	t.Logf("database: empty %d bytes; %d pending registrations %d bytes (%d a registration); granted %d bytes (%d a registration, audit entries included)",
		empty, n, pending, (pending-empty)/int64(n), granted, (granted-empty)/int64(n))
}

// TestReplicaMemory reports the resident set of a replica (this process:
// etcd runs in member processes) after it imported
// PREREG_ETCD_RSS_ROWS registrations and then served an export of all,
// logins and stats (skipped without it): a measurement, not an assertion.
func TestReplicaMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PREREG_ETCD_RSS_ROWS"))
	if n == 0 {
		t.Skip("PREREG_ETCD_RSS_ROWS not set")
	}
	p := etcdtest.StartProcesses(t, 1)
	ctx := context.Background()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: p.Endpoints(), Prefix: "/rss/"}, etcdstore.Options{CallTimeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const batch = 500 // as the importer sends them
	items := make([]prereg.Input, batch)
	for lo := 0; lo < n; lo += batch {
		for i := range items {
			items[i] = prereg.Input{Email: fmt.Sprintf("someone.%d@example.com", lo+i), OrganizationID: fmt.Sprintf("org_%d", (lo+i)%10), Roles: []string{"member"}}.Normalize()
		}
		if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	if err := s.Each(ctx, prereg.Filter{}, func(prereg.Registration) error { seen++; return nil }); err != nil || seen != n {
		t.Fatalf("export: %d of %d, %v", seen, n, err)
	}
	for i := range min(n, 10000) {
		if _, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("auth0|%d", i), Email: fmt.Sprintf("someone.%d@example.com", i*(n/min(n, 10000))), EmailVerified: true}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Stats(ctx, prereg.StatsFilter{}); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS") || strings.HasPrefix(line, "VmHWM") {
			t.Logf("%d registrations: %s", n, strings.Join(strings.Fields(line), " "))
		}
	}
}
