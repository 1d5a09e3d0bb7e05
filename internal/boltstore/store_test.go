package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

func open(t *testing.T, opts boltstore.Options) *boltstore.Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "prereg.db"), opts)
}

// openPath opens the store at path and, when the test ends, checks the
// file with Tx.Check and closes it.
func openPath(tb testing.TB, path string, opts boltstore.Options) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if opts.LoginSets {
		s.WaitLoginSetsForTest(tb)
	}
	tb.Cleanup(func() {
		if err := checkStore(s); err != nil {
			tb.Error(err)
		}
		s.Close()
	})
	return s
}

// checkStore runs bbolt's Tx.Check on s and checks its indexes, login
// sets and grant cache against the records. A store the test closed
// itself passes: the store that reopens its file is checked instead.
func checkStore(s *boltstore.Store) error {
	errs := s.Check()
	errs = append(errs, s.CheckLoginSetsForTest(), s.CheckGrantCacheForTest(), s.CheckIndexesForTest())
	err := errors.Join(errs...)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil
	}
	return err
}

func put(t *testing.T, s *boltstore.Store, in prereg.Input) prereg.Registration {
	t.Helper()
	return storetest.Put(t, s, in)
}

// A claim leaves the organization index as it was: a pending record's
// entry already files it where a granted one is (moving it cost two random
// pages of the index per grant). Revoking a grant does move it.
func TestClaimLeavesOrganizationIndex(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"t"}})
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_b", Roles: []string{"b"}})
	put(t, s, prereg.Input{Email: "c@x.io", OrganizationID: "org_b", Roles: []string{"c"}})
	before, err := s.OrgIndexForTest()
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true); err != nil || res.Outcome != prereg.OutcomeGranted || len(res.Grants) != 2 {
		t.Fatalf("claim: %v %+v", err, res.HookResult)
	}
	after, err := s.OrgIndexForTest()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("a claim changed the organization index:\nbefore %q\nafter  %q", before, after)
	}
	if _, _, err := s.Revoke(ctx, prereg.RegistrationID("org_b", "a@x.io"), true, "t"); err != nil {
		t.Fatal(err)
	}
	if after, _ = s.OrgIndexForTest(); slices.Equal(before, after) {
		t.Fatal("a force-revoke left the organization index as it was")
	}
}

// A cursor resumes only the walk it came from: a status listing walks
// each organization's range, and its cursor names the status; granted
// listings walk the user index. (The counts of every listing are in
// storetest's Listing/Filters.)
func TestCursorResumesOnlyItsWalk(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	var items []prereg.Input
	for i := range 60 {
		in := prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), Roles: []string{"r"}}
		if i%2 == 1 {
			in.OrganizationID = "org_odd"
		}
		items = append(items, in)
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: items[i].Email}, true); err != nil {
			t.Fatal(err)
		}
	}
	_, next, err := s.List(ctx, prereg.Filter{Status: prereg.StatusPending, Limit: 10})
	if err != nil || next == "" {
		t.Fatalf("first pending page: %v %q", err, next)
	}
	for _, f := range []prereg.Filter{{Status: prereg.StatusGranted}, {Status: prereg.StatusRevoked}, {OrganizationSet: true}, {}} {
		f.Cursor = next
		if _, _, err := s.List(ctx, f); prereg.ErrorCode(err) != prereg.Invalid {
			t.Errorf("pending cursor used for %+v: %v", f, err)
		}
	}
	// Granted listings walk the user index: their cursors are its
	// positions, and resume no other walk.
	_, next, err = s.List(ctx, prereg.Filter{Status: prereg.StatusGranted, Limit: 10})
	if err != nil || next == "" {
		t.Fatalf("first granted page: %v %q", err, next)
	}
	for _, f := range []prereg.Filter{{Status: prereg.StatusPending}, {OrganizationID: "org_odd", OrganizationSet: true}, {}} {
		f.Cursor = next
		if _, _, err := s.List(ctx, f); prereg.ErrorCode(err) != prereg.Invalid {
			t.Errorf("granted cursor used for %+v: %v", f, err)
		}
	}
}

func TestBootstrapOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hook, admin, err := s.Bootstrap(context.Background(), prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
	if err != nil || hook == "" || admin == "" {
		t.Fatalf("first bootstrap: %v %q %q", err, hook, admin)
	}
	s.Close()
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hook2, admin2, _ := s.Bootstrap(context.Background(), prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
	if hook2 != "" || admin2 != "" {
		t.Fatal("secrets generated twice")
	}
	if _, ok, _ := s.Authenticate(context.Background(), prereg.HashSecret(admin)); !ok {
		t.Fatal("bootstrap admin token not accepted after restart")
	}
}

func TestLockedStoreFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = boltstore.Open(path, boltstore.Options{LockTimeout: 100 * time.Millisecond})
	if prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("second open: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
