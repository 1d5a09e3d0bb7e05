package boltstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

func loginAs(t *testing.T, s *boltstore.Store, user, email, org string) prereg.HookResult {
	t.Helper()
	res, err := s.Login(context.Background(), prereg.Login{UserID: user, Email: email, OrganizationID: org, EmailVerified: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	return res.HookResult
}

// TestLoginSetsFollowTheRecords walks the service's login sets
// through every way a record becomes or stops being pending or granted:
// filled at open from what the file holds, a write through the API and
// through a batch (imports), a claim by a login and by reconcile, an
// erasure.
func TestLoginSetsFollowTheRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prereg.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"ra"}})
	put(t, s, prereg.Input{Email: "b@x.io", Roles: []string{"rb"}})
	c := put(t, s, prereg.Input{Email: "c@x.io", Roles: []string{"rc"}})
	if res := loginAs(t, s, "u-b", "b@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("b: %s", res.Outcome)
	}
	if _, _, err := s.Revoke(ctx, c.ID, false, "test"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openPath(t, path, boltstore.Options{LoginSets: true})
	steps := []struct {
		name        string
		do          func() prereg.Outcome // nil: no login
		want        prereg.Outcome
		pendingSize int
		users       int // in grantedUsers
	}{
		{"filled at open: only a is pending", nil, "", 1, 1},
		{"granted user logs in again", func() prereg.Outcome { return loginAs(t, s, "u-b", "b@x.io", "").Outcome }, prereg.OutcomeAlreadyGranted, 1, 1},
		{"revoked address", func() prereg.Outcome { return loginAs(t, s, "u-c", "c@x.io", "").Outcome }, prereg.OutcomeNoMatch, 1, 1},
		{"unknown address", func() prereg.Outcome { return loginAs(t, s, "u-z", "z@x.io", "").Outcome }, prereg.OutcomeNoMatch, 1, 1},
		{"a claims its registration", func() prereg.Outcome { return loginAs(t, s, "u-a", "A@x.io", "").Outcome }, prereg.OutcomeGranted, 0, 2},
		{"a second account of a", func() prereg.Outcome { return loginAs(t, s, "u-a2", "a@x.io", "").Outcome }, prereg.OutcomeNoMatch, 0, 2},
		{"a logs in again", func() prereg.Outcome { return loginAs(t, s, "u-a", "a@x.io", "").Outcome }, prereg.OutcomeAlreadyGranted, 0, 2},
		{"new organization registration for a", func() prereg.Outcome {
			put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_1", Roles: []string{"o"}})
			return ""
		}, "", 1, 2},
		{"a claims it", func() prereg.Outcome { return loginAs(t, s, "u-a", "a@x.io", "org_1").Outcome }, prereg.OutcomeGranted, 0, 2},
		{"f: one registration pinned to a connection, one not", func() prereg.Outcome {
			put(t, s, prereg.Input{Email: "f@x.io", Roles: []string{"rf"}})
			put(t, s, prereg.Input{Email: "f@x.io", OrganizationID: "org_1", Roles: []string{"o"}, Connection: "google-oauth2"})
			return loginAs(t, s, "u-f", "f@x.io", "").Outcome
		}, prereg.OutcomeGranted, 1, 3},
		{"f through the pinned connection", func() prereg.Outcome {
			res, err := s.Login(ctx, prereg.Login{UserID: "u-f", Email: "f@x.io", Connection: "google-oauth2"}, true)
			if err != nil {
				t.Fatal(err)
			}
			return res.Outcome
		}, prereg.OutcomeGranted, 0, 3},
		{"revoked c written again (reopened)", func() prereg.Outcome {
			put(t, s, prereg.Input{Email: "c@x.io", Roles: []string{"rc"}})
			return loginAs(t, s, "u-c", "c@x.io", "").Outcome
		}, prereg.OutcomeGranted, 0, 4},
		{"batch write (import)", func() prereg.Outcome {
			if _, err := s.ApplyBatch(ctx, []prereg.Input{{Email: "d@x.io", Roles: []string{"rd"}}, {Email: "e@x.io", Roles: []string{"re"}}}, "import:imp_1", "test", false); err != nil {
				t.Fatal(err)
			}
			return loginAs(t, s, "u-d", "d@x.io", "").Outcome
		}, prereg.OutcomeGranted, 1, 5},
		{"erasure of a pending address", func() prereg.Outcome {
			put(t, s, prereg.Input{Email: "g@x.io", Roles: []string{"rg"}})
			if n := s.PendingSizeForTest(); n != 2 {
				t.Fatalf("%d addresses before the erasure, want 2", n)
			}
			if _, err := s.Erase(ctx, "G@x.io", "", "test"); err != nil {
				t.Fatal(err)
			}
			return loginAs(t, s, "u-g", "g@x.io", "").Outcome
		}, prereg.OutcomeNoMatch, 1, 5},
		{"reconcile grants e", func() prereg.Outcome {
			if _, _, err := s.GrantTo(ctx, prereg.RegistrationID("", "e@x.io"), "u-e"); err != nil {
				t.Fatal(err)
			}
			return loginAs(t, s, "u-e", "e@x.io", "").Outcome
		}, prereg.OutcomeAlreadyGranted, 0, 6},
	}
	for _, st := range steps {
		if st.do != nil {
			if got := st.do(); got != st.want {
				t.Fatalf("%s: outcome %q, want %q", st.name, got, st.want)
			}
		}
		if n := s.PendingSizeForTest(); n != st.pendingSize {
			t.Fatalf("%s: %d addresses in pendingAddrs, want %d", st.name, n, st.pendingSize)
		}
		if n := s.GrantedUsersForTest(); n != st.users {
			t.Fatalf("%s: %d users in grantedUsers, want %d", st.name, n, st.users)
		}
		if err := s.CheckLoginSetsForTest(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
}

// TestLoginSetsWhileFilling writes and claims while the sets are being
// filled, in chunks, from a store of 20 000 records: every registration
// written must be claimable at once, and the filled set must hold every
// pending one.
func TestLoginSetsWhileFilling(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prereg.db")
	s, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	const seeded = 20_000
	items := make([]prereg.Input, seeded)
	for i := range items {
		items[i] = prereg.Input{Email: fmt.Sprintf("seed%d@x.io", i), Roles: []string{"r"}}
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "test", false); err != nil {
		t.Fatal(err)
	}
	s.Close()

	defer boltstore.SetFillChunkForTest(1000)() // 20 transactions
	s, err = boltstore.Open(path, boltstore.Options{NoSync: true, LoginSets: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			email := fmt.Sprintf("new%d@x.io", i)
			put(t, s, prereg.Input{Email: email, Roles: []string{"r"}})
			if res := loginAs(t, s, "u-new", email, ""); res.Outcome != prereg.OutcomeGranted {
				t.Errorf("%s written during the fill: %s", email, res.Outcome)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range 200 {
			if res := loginAs(t, s, fmt.Sprintf("u-%d", i), fmt.Sprintf("seed%d@x.io", i*97), ""); res.Outcome != prereg.OutcomeGranted {
				t.Errorf("seeded %d during the fill: %s", i*97, res.Outcome)
				return
			}
		}
	})
	wg.Wait()
	s.WaitLoginSetsForTest(t)
	if err := s.CheckLoginSetsForTest(); err != nil {
		t.Fatal(err)
	}
	// Claims during the fill leave no stale address behind that nothing
	// will retry: the fill may have added theirs back from an older
	// snapshot, or a concurrent write refused their removal, and those are
	// waiting for the recheck loop. Its next run, done here at once,
	// removes every one.
	if _, err := s.RecheckForTest(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.PendingSizeForTest(); n != seeded-200 {
		t.Fatalf("%d addresses in pendingAddrs, want %d", n, seeded-200)
	}
	if res := loginAs(t, s, "u-x", "seed1@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("after the fill: %s", res.Outcome)
	}
}

// TestCloseWhileFilling closes the store while its sets are still being
// filled: Close waits for the fill to stop, within a chunk, and the file
// is left as it was.
func TestCloseWhileFilling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prereg.db")
	s, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]prereg.Input, 20_000)
	for i := range items {
		items[i] = prereg.Input{Email: fmt.Sprintf("seed%d@x.io", i), Roles: []string{"r"}}
	}
	if _, err := s.ApplyBatch(context.Background(), items, "import:imp_1", "test", false); err != nil {
		t.Fatal(err)
	}
	s.Close()
	defer boltstore.SetFillChunkForTest(100)()
	for range 5 {
		s, err := boltstore.Open(path, boltstore.Options{LoginSets: true, ReleaseEvery: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not return while the sets were filling")
		}
	}
	s = openPath(t, path, boltstore.Options{LoginSets: true})
	if n := s.PendingSizeForTest(); n != len(items) {
		t.Fatalf("%d addresses after a clean open, want %d", n, len(items))
	}
}

// A stale address in pendingAddrs (a removal refused, or undone by the
// fill) is tried again: gone if nothing is pending under it, kept if
// something is; by the loop too, without being asked.
func TestRecheckRemovesOnlyStaleAddresses(t *testing.T) {
	defer boltstore.SetRecheckEveryForTest(10 * time.Millisecond)()
	ctx := context.Background()
	s := open(t, boltstore.Options{LoginSets: true})
	put(t, s, prereg.Input{Email: "claimed@x.io", Roles: []string{"r"}})
	put(t, s, prereg.Input{Email: "waiting@x.io", Roles: []string{"r"}})
	if res := loginAs(t, s, "u", "claimed@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("claim: %s", res.Outcome)
	}
	if n := s.PendingSizeForTest(); n != 1 {
		t.Fatalf("%d addresses after the claim, want 1", n)
	}
	s.StalePendingForTest("claimed@x.io")
	s.StalePendingForTest("waiting@x.io")
	if n, err := s.RecheckForTest(ctx); err != nil || n != 2 {
		t.Fatalf("recheck of %d keys: %v", n, err)
	}
	if n := s.PendingSizeForTest(); n != 1 {
		t.Fatalf("%d addresses after the recheck, want 1 (waiting@ only)", n)
	}
	if res := loginAs(t, s, "u2", "waiting@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("the pending address after the recheck: %s", res.Outcome)
	}
	// The loop does it on its own.
	s.StalePendingForTest("claimed@x.io")
	s.WaitRecheckLoopForTest(t)
	if n := s.PendingSizeForTest(); n != 0 {
		t.Fatalf("%d addresses after the loop ran with a stale one left to it", n)
	}
}

// TestCachedLoginsReadNothing: with the login sets filled, a login of a
// user answered lately, with nothing pending under the address, opens no
// transaction; nor does one of an unknown user and address. Something
// pending under the address makes the login read the file.
func TestCachedLoginsReadNothing(t *testing.T) {
	s := open(t, boltstore.Options{LoginSets: true})
	put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("claim: %s", res.Outcome)
	}
	loginAs(t, s, "u", "a@x.io", "") // caches the grants
	before := s.ReadTxForTest()
	for range 10 {
		if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeAlreadyGranted || len(res.Grants) != 1 {
			t.Fatalf("cached login: %s %+v", res.Outcome, res.Grants)
		}
		if res := loginAs(t, s, "nobody", "nobody@x.io", ""); res.Outcome != prereg.OutcomeNoMatch {
			t.Fatalf("unknown login: %s", res.Outcome)
		}
	}
	if n := s.ReadTxForTest() - before; n != 0 {
		t.Fatalf("%d read transactions for 20 logins answered from memory", n)
	}
	if s.GrantCacheSizeForTest() == 0 {
		t.Fatal("nothing was cached")
	}
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_1", Roles: []string{"o"}, Connection: "google"})
	before = s.ReadTxForTest()
	if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeAlreadyGranted {
		t.Fatalf("login with a pinned registration pending: %s", res.Outcome)
	}
	if n := s.ReadTxForTest() - before; n != 1 {
		t.Fatalf("%d read transactions for a login with something pending under its address, want 1", n)
	}
}
