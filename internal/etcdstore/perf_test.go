package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
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
	start := time.Now()
	for lo := 0; lo < n; lo += 10000 {
		if _, err := s.ApplyBatch(context.Background(), items[lo:min(lo+10000, n)], "import:imp_1", "t", false); err != nil {
			t.Fatal(err)
		}
	}
	d := time.Since(start)
	t.Logf("%d rows in %v: %.0f rows/s; etcd db %d bytes", n, d, float64(n)/d.Seconds(), s.Size())
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
