package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testSyncQueue: with Auth0 sync on, a grant enqueues its job in the same
// write; due jobs come oldest first; finishing records the outcome on the
// grant; a retry waits for its not-before. With sync off nothing is queued.
func testSyncQueue(t *testing.T, open Open) {
	t.Run("Off", func(t *testing.T) {
		s := open(t, Options{})
		ctx := context.Background()
		r := put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
		res, err := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true)
		if err != nil || res.Outcome != prereg.OutcomeGranted || len(res.Jobs) != 0 {
			t.Fatalf("login: %+v %v", res, err)
		}
		if n, err := s.PendingJobs(ctx); err != nil || n != 0 {
			t.Fatalf("%d jobs with sync off (%v)", n, err)
		}
		if _, err := s.RetrySync(ctx, r.ID, "t"); prereg.ErrorCode(err) != prereg.Conflict {
			t.Fatalf("retry with sync off: %v", err)
		}
		if got, _ := s.Get(ctx, r.ID); got.Sync != prereg.SyncNone {
			t.Fatalf("sync state %q with sync off", got.Sync)
		}
	})
	eachMode(t, func(t *testing.T, serve bool) {
		c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		testSyncOn(t, open(t, Options{Now: c.now, SyncEnabled: true, Serve: serve}), c)
	})
}

func testSyncOn(t *testing.T, s Store, c *clock) {
	ctx := context.Background()
	a := put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	b := put(t, s, prereg.Input{Email: "b@x.io", OrganizationID: "org_b", Roles: []string{"rb"}})
	res, err := s.Login(ctx, prereg.Login{UserID: "ua", Email: "a@x.io"}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted || len(res.Jobs) != 1 {
		t.Fatalf("login a: %+v %v", res, err)
	}
	ja := res.Jobs[0]
	if ja.Kind != prereg.JobGrant || ja.RegistrationID != a.ID || ja.UserID != "ua" || !slices.Equal(ja.Roles, []string{"r"}) || ja.ID == "" {
		t.Fatalf("job of a: %+v", ja)
	}
	if g := res.Grants; len(g) != 1 || g[0].Sync != prereg.SyncPending {
		t.Fatalf("grant before the sync: %+v", g)
	}
	c.add(time.Second)
	if _, _, err := s.GrantTo(ctx, b.ID, "ub"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PendingJobs(ctx); err != nil || n != 2 {
		t.Fatalf("%d jobs pending (%v), want 2", n, err)
	}
	due, err := s.DueJobs(ctx, c.now(), 10)
	if err != nil || len(due) != 2 || due[0].ID != ja.ID || due[1].RegistrationID != b.ID || due[1].OrganizationID != "org_b" {
		t.Fatalf("due jobs: %+v %v", due, err)
	}
	if one, _ := s.DueJobs(ctx, c.now(), 1); len(one) != 1 || one[0].ID != ja.ID {
		t.Fatalf("limit 1: %+v", one)
	}
	// b fails for now and is retried in a minute.
	jb := due[1]
	retryAt := c.now().Add(time.Minute)
	if err := s.RetryJob(ctx, jb.ID, retryAt, 1, "rate limited"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueJobs(ctx, c.now(), 10); len(due) != 1 || due[0].ID != ja.ID {
		t.Fatalf("due before b's retry time: %+v", due)
	}
	later, _ := s.DueJobs(ctx, retryAt, 10)
	if len(later) != 2 || later[1].ID != jb.ID || later[1].Attempts != 1 || later[1].LastError != "rate limited" || !later[1].NotBefore.Equal(retryAt) {
		t.Fatalf("due at b's retry time: %+v", later)
	}
	// a is done, with the role IDs it assigned.
	if err := s.FinishJob(ctx, ja.ID, prereg.SyncOutcome{State: prereg.SyncDone, RoleIDs: []string{"rol_1"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishJob(ctx, ja.ID, prereg.SyncOutcome{State: prereg.SyncFailed}); err != nil {
		t.Fatalf("finishing a finished job: %v", err)
	}
	if got, _ := s.Get(ctx, a.ID); got.Sync != prereg.SyncDone || !slices.Equal(got.SyncedRoleIDs, []string{"rol_1"}) {
		t.Fatalf("a after its job: sync %q, role IDs %v", got.Sync, got.SyncedRoleIDs)
	}
	if res := loginAs(t, s, "ua", "a@x.io", ""); len(res.Grants) != 1 || res.Grants[0].Sync != prereg.SyncDone {
		t.Fatalf("login after the sync: %+v", res.Grants)
	}
	// b fails for good, and an admin asks again.
	if err := s.FinishJob(ctx, jb.ID, prereg.SyncOutcome{State: prereg.SyncFailed, Error: "no such role"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, b.ID); got.Sync != prereg.SyncFailed || got.SyncError != "no such role" {
		t.Fatalf("b after its failure: %q %q", got.Sync, got.SyncError)
	}
	if items, _, err := s.List(ctx, prereg.Filter{Sync: prereg.SyncFailed}); err != nil || len(items) != 1 || items[0].ID != b.ID {
		t.Fatalf("failed syncs: %+v %v", items, err)
	}
	again, err := s.RetrySync(ctx, b.ID, "t")
	if err != nil || again.RegistrationID != b.ID || again.Kind != prereg.JobGrant {
		t.Fatalf("retry sync: %+v %v", again, err)
	}
	if got, _ := s.Get(ctx, b.ID); got.Sync != prereg.SyncPending || got.SyncError != "" {
		t.Fatalf("b after the retry: %q %q", got.Sync, got.SyncError)
	}
	// A force-revoke of a synced grant queues the removal of its roles.
	_, jobs, err := s.Revoke(ctx, a.ID, true, "t")
	if err != nil || len(jobs) != 1 || jobs[0].Kind != prereg.JobRevoke || jobs[0].UserID != "ua" || !slices.Equal(jobs[0].Roles, []string{"rol_1"}) {
		t.Fatalf("force revoke: %+v %v", jobs, err)
	}
	if due, _ := s.DueJobs(ctx, c.now(), 10); len(due) != 2 || due[0].ID != again.ID || due[1].Kind != prereg.JobRevoke {
		t.Fatalf("due after the revoke: %+v", due)
	}
	// A job finishing after its grant was revoked leaves the record alone.
	if err := s.FinishJob(ctx, again.ID, prereg.SyncOutcome{State: prereg.SyncDone}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Revoke(ctx, b.ID, true, "t"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, b.ID); got.Status != prereg.StatusRevoked {
		t.Fatalf("b: %+v", got)
	}
	if _, err := s.RetrySync(ctx, b.ID, "t"); prereg.ErrorCode(err) != prereg.Conflict {
		t.Fatalf("retry of a revoked one: %v", err)
	}
}
