package etcdstore_test

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// An organization's entry in orgs/ is written by the first batch of its
// registrations and only compared by the next (a rewrite would give it a
// new revision); when it is gone (another replica cleared the prefix),
// the next batch fails its compare, forgets it and writes it again.
func TestBatchWritesOrganizationOnce(t *testing.T) {
	prefix := prefixFor("")
	s := openOn(t, 0, prefix, storetest.Options{})
	cli := member(t, 1)
	ctx := context.Background()
	orgKey := prefix + "orgs/org_a"
	batch := func(n int) {
		t.Helper()
		items := make([]prereg.Input, 300)
		for i := range items {
			org := "org_a"
			if i%3 == 0 {
				org = fmt.Sprintf("org_%d", i%11)
			}
			items[i] = prereg.Input{Email: fmt.Sprintf("b%d.u%d@x.io", n, i), OrganizationID: org, Roles: []string{"r"}}.Normalize()
		}
		res, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Change != prereg.Created || r.Err != nil {
				t.Fatalf("batch %d row %d: %+v, want created", n, i, r)
			}
		}
	}
	rev := func() int64 {
		t.Helper()
		resp, err := cli.Get(ctx, orgKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 {
			return 0
		}
		return resp.Kvs[0].ModRevision
	}

	batch(1)
	first := rev()
	if first == 0 {
		t.Fatal("no orgs/ entry after the first batch")
	}
	batch(2)
	if got := rev(); got != first {
		t.Errorf("orgs/ entry rewritten by the second batch: revision %d, was %d", got, first)
	}
	if _, err := cli.Delete(ctx, orgKey); err != nil {
		t.Fatal(err)
	}
	batch(3)
	if rev() == 0 {
		t.Error("orgs/ entry not written again after it was deleted")
	}
	if resp, err := cli.Get(ctx, prefix+"rec/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 900 {
		t.Errorf("records after three batches of 300: %v (%v)", resp, err)
	}
}
