package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// A batch far beyond etcd's 128 operations per transaction is written
// whole, in transactions within the limit, and again as unchanged.
func TestBatchBeyondTxnLimit(t *testing.T) {
	s := openOn(t, 0, prefixFor(""), storetest.Options{})
	ctx := context.Background()
	const rows = 128 * 40
	items := make([]prereg.Input, rows)
	for i := range items {
		org := ""
		if i%3 == 0 {
			org = fmt.Sprintf("org_%d", i%7)
		}
		items[i] = prereg.Input{Email: fmt.Sprintf("user%d@x.io", i), OrganizationID: org, Roles: []string{"r"}}.Normalize()
	}
	for _, want := range []prereg.Change{prereg.Created, prereg.Unchanged} {
		res, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Change != want || r.Err != nil {
				t.Fatalf("row %d: %+v, want %s", i, r, want)
			}
		}
	}
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if err != nil || st.Overall.Pending != rows {
		t.Fatalf("stats: %+v %v", st.Overall, err)
	}
	n, err := s.DumpCounts(ctx)
	if err != nil || n[prereg.DumpRegistration] != rows {
		t.Fatalf("dump counts: %v %v", n, err)
	}
	// More keys than one delete of Clear removes.
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DumpCounts(ctx); err != nil || n[prereg.DumpRegistration] != 0 {
		t.Fatalf("dump counts after Clear: %v %v", n, err)
	}
	if st, err := s.Stats(ctx, prereg.StatsFilter{}); err != nil || st.Overall.Total != 0 || len(st.ByOrganization) != 0 {
		t.Fatalf("stats after Clear: %+v %v", st, err)
	}
}

// Without a quorum, reads and writes fail as Unavailable (503 with
// Retry-After) within the store's call timeout instead of hanging.
func TestNoQuorumIsUnavailable(t *testing.T) {
	c := etcdtest.Start(t, 3)
	ctx := context.Background()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints()[:1], Prefix: "/q/"}, etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	c.Stop(1)
	c.Stop(2)
	_, err = s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io", EmailVerified: true}, true)
	if prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("login without quorum: %v", err)
	}
	if err := s.Ping(ctx); prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("ping without quorum: %v", err)
	}
	_, _, err = s.Put(ctx, prereg.Input{Email: "b@x.io", Roles: []string{"r"}}, "api", "t")
	var pe *prereg.Error
	if !errors.As(err, &pe) || pe.Code != prereg.Unavailable {
		t.Fatalf("write without quorum: %v", err)
	}
}
