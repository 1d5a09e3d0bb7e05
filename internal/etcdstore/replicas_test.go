package etcdstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// openReplicas opens n stores on one fresh prefix, each through a
// different member.
func openReplicas(t *testing.T, o storetest.Options, n int) []*etcdstore.Store {
	t.Helper()
	prefix := prefixFor("")
	out := make([]*etcdstore.Store, n)
	for i := range n {
		out[i] = openOn(t, i, prefix, o)
	}
	return out
}

// TestLinearizableAcrossReplicas checks histories whose calls go through
// two replicas, each talking to its own member, against the sequential
// model (storetest.LinearizableAcross).
func TestLinearizableAcrossReplicas(t *testing.T) {
	storetest.LinearizableAcross(t, func(t *testing.T, o storetest.Options, n int) []storetest.Store {
		var out []storetest.Store
		for _, s := range openReplicas(t, o, n) {
			out = append(out, s)
		}
		return out
	})
}

// Logins of different users racing for one registration through two
// replicas produce exactly one owner, and every loser is told so.
func TestRacingLoginsOneOwner(t *testing.T) {
	rs := openReplicas(t, storetest.Options{}, 2)
	ctx := context.Background()
	for round := range 5 {
		email := fmt.Sprintf("race%d@x.io", round)
		r := storetest.Put(t, rs[0], prereg.Input{Email: email, Roles: []string{"r"}})
		const users = 8
		outcomes := make([]prereg.Outcome, users)
		var wg sync.WaitGroup
		for u := range users {
			wg.Go(func() {
				res, err := rs[u%2].Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", u), Email: email, EmailVerified: true}, true)
				if err != nil {
					t.Error(err)
					return
				}
				outcomes[u] = res.Outcome
			})
		}
		wg.Wait()
		granted := 0
		for _, o := range outcomes {
			if o == prereg.OutcomeGranted {
				granted++
			}
		}
		got, err := rs[1].Get(ctx, r.ID)
		if err != nil || granted != 1 || got.Status != prereg.StatusGranted {
			t.Fatalf("round %d: %d granted (%v), record %+v %v", round, granted, outcomes, got, err)
		}
	}
}

// A token revoked through one replica is refused by the other at once,
// and a write through one is read through the other.
func TestRevokedTokenRefusedByOtherReplica(t *testing.T) {
	rs := openReplicas(t, storetest.Options{}, 2)
	ctx := context.Background()
	tok, secret, err := rs[0].CreateToken(ctx, prereg.TokenRequest{Name: "ci"}, "t")
	if err != nil {
		t.Fatal(err)
	}
	h := prereg.HashSecret(secret)
	if _, ok, err := rs[1].Authenticate(ctx, h); !ok || err != nil {
		t.Fatalf("the other replica does not know the new token: %v %v", ok, err)
	}
	if _, err := rs[0].RevokeToken(ctx, tok.ID, "t"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := rs[1].Authenticate(ctx, h); ok || err != nil {
		t.Fatalf("the other replica accepts the revoked token: %v %v", ok, err)
	}
}

// Secrets generated at a first start are generated once for the cluster:
// replicas starting together generate one hook secret and one admin
// token between them, and all see the hook secret's hash.
func TestBootstrapOnceAcrossReplicas(t *testing.T) {
	rs := openReplicas(t, storetest.Options{}, 3)
	ctx := context.Background()
	hooks, admins := make([]string, len(rs)), make([]string, len(rs))
	var wg sync.WaitGroup
	for i, s := range rs {
		wg.Go(func() {
			var err error
			hooks[i], admins[i], err = s.Bootstrap(ctx, prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var hook, admin string
	for i := range rs {
		if hooks[i] != "" {
			if hook != "" {
				t.Fatal("two replicas generated a hook secret")
			}
			hook = hooks[i]
		}
		if admins[i] != "" {
			if admin != "" {
				t.Fatal("two replicas generated an admin token")
			}
			admin = admins[i]
		}
	}
	if hook == "" || admin == "" {
		t.Fatalf("hook secret %v, admin token %v generated", hook != "", admin != "")
	}
	for _, s := range rs {
		h, err := s.GeneratedHookSecret(ctx)
		want := prereg.HashSecret(hook)
		if err != nil || string(h) != string(want[:]) {
			t.Fatalf("generated hook secret hash: %x %v", h, err)
		}
	}
	if _, ok, err := rs[2].Authenticate(ctx, prereg.HashSecret(admin)); !ok || err != nil {
		t.Fatalf("admin token: %v %v", ok, err)
	}
}

// A due job is handed to one replica only; when that replica's session
// ends (it died: its lease is gone), another takes the job over.
func TestJobTakeover(t *testing.T) {
	clock := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	rs := openReplicas(t, storetest.Options{SyncEnabled: true, Now: now}, 2)
	ctx := context.Background()
	storetest.Put(t, rs[0], prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	res, err := rs[0].Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true)
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("login: %+v %v", res, err)
	}
	a, err := rs[0].DueJobs(ctx, clock, 10)
	if err != nil || len(a) != 1 || a[0].ID != res.Jobs[0].ID {
		t.Fatalf("replica 0 due: %+v %v", a, err)
	}
	if again, err := rs[0].DueJobs(ctx, clock, 10); err != nil || len(again) != 1 {
		t.Fatalf("replica 0 due again: %+v %v", again, err)
	}
	if b, err := rs[1].DueJobs(ctx, clock, 10); err != nil || len(b) != 0 {
		t.Fatalf("replica 1 got a job replica 0 holds: %+v %v", b, err)
	}
	if err := rs[0].EndSession(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := rs[1].DueJobs(ctx, clock, 10)
	if err != nil || len(b) != 1 || b[0].ID != a[0].ID {
		t.Fatalf("replica 1 after replica 0's session ended: %+v %v", b, err)
	}
	if err := rs[1].FinishJob(ctx, b[0].ID, prereg.SyncOutcome{State: prereg.SyncDone}); err != nil {
		t.Fatal(err)
	}
	if n, err := rs[0].PendingJobs(ctx); n != 0 || err != nil {
		t.Fatalf("%d jobs left (%v)", n, err)
	}
}

// A console session made through one replica is honoured by the other; its
// token revoked through the other ends it on both, and a sign-out through
// one ends it everywhere.
func TestSessionsAcrossReplicas(t *testing.T) {
	rs := openReplicas(t, storetest.Options{}, 2)
	ctx := context.Background()
	tok, _, err := rs[0].CreateToken(ctx, prereg.TokenRequest{Name: "desk"}, "t")
	if err != nil {
		t.Fatal(err)
	}
	a := prereg.Session{Hash: prereg.SessionHash("cookie-a"), Principal: prereg.Principal{TokenID: tok.ID}, CSRF: "x"}
	b := prereg.Session{Hash: prereg.SessionHash("cookie-b"), Principal: prereg.Principal{TokenID: prereg.BootstrapTokenID}, CSRF: "y"}
	for _, s := range []prereg.Session{a, b} {
		if _, err := rs[0].CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := rs[1].Session(ctx, a.Hash); err != nil || got.TokenID != tok.ID || got.CSRF != "x" {
		t.Fatalf("the other replica reads %+v, %v", got, err)
	}
	if _, err := rs[1].RevokeToken(ctx, tok.ID, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[0].Session(ctx, a.Hash); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("a session of a token revoked through the other replica: %v", err)
	}
	if err := rs[1].DeleteSession(ctx, b.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := rs[0].Session(ctx, b.Hash); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("a session signed out through the other replica: %v", err)
	}
}
