package etcdstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

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
