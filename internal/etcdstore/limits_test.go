package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/embed"

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

// A login claims every registration of its address at once, however many
// organizations registered it: beyond what one etcd transaction holds;
// an erasure removes them all.
func TestLoginClaimsBeyondTxnLimit(t *testing.T) {
	s := openOn(t, 0, prefixFor(""), storetest.Options{SyncEnabled: true})
	ctx := context.Background()
	const orgs = 60
	for i := range orgs {
		in := prereg.Input{Email: "many@orgs.example", OrganizationID: fmt.Sprintf("org_%02d", i), Roles: []string{"r"}}.Normalize()
		if _, _, err := s.Put(ctx, in, "api", "t"); err != nil {
			t.Fatal(err)
		}
	}
	l := prereg.Login{UserID: "auth0|many", Email: "many@orgs.example", EmailVerified: true}
	res, err := s.Login(ctx, l, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != prereg.OutcomeGranted || len(res.Grants) != orgs || len(res.Jobs) != orgs {
		t.Fatalf("login: %s with %d grants and %d jobs, want granted with %d of each", res.Outcome, len(res.Grants), len(res.Jobs), orgs)
	}
	regs, _, err := s.List(ctx, prereg.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range regs {
		if r.Status != prereg.StatusGranted || r.GrantedTo != l.UserID {
			t.Errorf("%s of %s: %s to %q", r.ID, r.OrganizationID, r.Status, r.GrantedTo)
		}
	}
	res, err = s.Login(ctx, l, true)
	if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted || len(res.Grants) != orgs {
		t.Fatalf("second login: %+v, %v", res.HookResult, err)
	}
	// An erasure removes them all, again beyond one transaction.
	er, err := s.Erase(ctx, "many@orgs.example", "", "t")
	if err != nil || len(er.Registrations) != orgs {
		t.Fatalf("erase: %d registrations, %v", len(er.Registrations), err)
	}
	if regs, _, err := s.List(ctx, prereg.Filter{Limit: 1000}); err != nil || len(regs) != 0 {
		t.Fatalf("after the erasure: %d registrations, %v", len(regs), err)
	}
}

// A cluster out of space (its backend quota reached, the NOSPACE alarm
// raised) makes writes fail as Unavailable with a message that says what
// the operator must do, the alarm's disarming included.
func TestOutOfSpace(t *testing.T) {
	c := etcdtest.StartWith(t, 1, func(_ int, cfg *embed.Config) { cfg.QuotaBackendBytes = 1 << 20 })
	s, err := etcdstore.New(context.Background(), c.Client(t), "/full/", etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; ; i++ {
		var items []prereg.Input
		for j := range 500 {
			items = append(items, prereg.Input{Email: fmt.Sprintf("fill%d.%d@full.example", i, j), Roles: []string{"a-role-with-a-longer-name"}}.Normalize())
		}
		_, err = s.ApplyBatch(ctx, items, "import:imp_1", "t", false)
		if err != nil || i == 100 {
			break
		}
	}
	var pe *prereg.Error
	if !errors.As(err, &pe) || pe.Code != prereg.Unavailable || !strings.Contains(pe.Error(), "etcdctl alarm disarm") {
		t.Fatalf("a write beyond the quota: %v, want unavailable, saying to disarm the alarm", err)
	}
	if err := s.Ping(ctx); prereg.ErrorCode(err) != prereg.Unavailable {
		t.Errorf("ping without space: %v, want unavailable", err)
	}
}

// A cluster configured below the limits prereg relies on (128 operations
// per transaction, 1.5 MiB per request) makes writes fail naming the
// etcd setting to raise.
func TestClusterBelowLimits(t *testing.T) {
	c := etcdtest.StartWith(t, 1, func(_ int, cfg *embed.Config) { cfg.MaxTxnOps = 16; cfg.MaxRequestBytes = 8 << 10 })
	s, err := etcdstore.New(context.Background(), c.Client(t), "/small/", etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var items []prereg.Input
	for i := range 100 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("u%d@small.example", i), Roles: []string{"r"}}.Normalize())
	}
	_, err = s.ApplyBatch(context.Background(), items, "import:imp_1", "t", false)
	if prereg.ErrorCode(err) != prereg.Internal || !strings.Contains(err.Error(), "--max-txn-ops") && !strings.Contains(err.Error(), "--max-request-bytes") {
		t.Fatalf("a batch on a cluster with small limits: %v, want an error naming etcd's setting", err)
	}
}
