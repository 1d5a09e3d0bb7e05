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
		r := Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
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

// syncFlow is the state the stages of testSyncOn hand on: a is granted
// at login, b by GrantTo; ja and jb are their jobs, again b's retry.
type syncFlow struct {
	s       Store
	c       *clock
	a, b    prereg.Registration
	ja, jb  prereg.SyncJob
	again   prereg.SyncJob
	retryAt time.Time
}

func testSyncOn(t *testing.T, s Store, c *clock) {
	f := &syncFlow{s: s, c: c}
	runSteps(t,
		step{"GrantEnqueues", f.grantEnqueues},
		step{"GrantToEnqueues", f.grantToEnqueues},
		step{"DueOldestFirst", f.dueOldestFirst},
		step{"RetryWaits", f.retryWaits},
		step{"FinishDone", f.finishDone},
		step{"FailAndRetry", f.failAndRetry},
		step{"ForceRevoke", f.forceRevoke},
		step{"FinishAfterRevoke", f.finishAfterRevoke},
	)
}

func (f *syncFlow) grantEnqueues(t *testing.T) {
	ctx := context.Background()
	f.a = Put(t, f.s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	f.b = Put(t, f.s, prereg.Input{Email: "b@x.io", OrganizationID: "org_b", Roles: []string{"rb"}})
	res, err := f.s.Login(ctx, prereg.Login{UserID: "ua", Email: "a@x.io"}, true)
	expect(t, err == nil && res.Outcome == prereg.OutcomeGranted && len(res.Jobs) == 1, "login a: %+v %v", res, err)
	ja := res.Jobs[0]
	expect(t, ja.Kind == prereg.JobGrant && ja.RegistrationID == f.a.ID && ja.UserID == "ua" && slices.Equal(ja.Roles, []string{"r"}) && ja.ID != "",
		"job of a: %+v", ja)
	g := res.Grants
	expect(t, len(g) == 1 && g[0].Sync == prereg.SyncPending, "grant before the sync: %+v", g)
	f.ja = ja
}

func (f *syncFlow) grantToEnqueues(t *testing.T) {
	ctx := context.Background()
	f.c.add(time.Second)
	_, _, err := f.s.GrantTo(ctx, f.b.ID, "ub")
	noErr(t, err)
	n, err := f.s.PendingJobs(ctx)
	expect(t, err == nil && n == 2, "%d jobs pending (%v), want 2", n, err)
}

func (f *syncFlow) dueOldestFirst(t *testing.T) {
	ctx := context.Background()
	due, err := f.s.DueJobs(ctx, f.c.now(), 10)
	expect(t, err == nil && len(due) == 2 && due[0].ID == f.ja.ID && due[1].RegistrationID == f.b.ID && due[1].OrganizationID == "org_b",
		"due jobs: %+v %v", due, err)
	one, _ := f.s.DueJobs(ctx, f.c.now(), 1)
	expect(t, len(one) == 1 && one[0].ID == f.ja.ID, "limit 1: %+v", one)
	f.jb = due[1]
}

// b fails for now and is retried in a minute.
func (f *syncFlow) retryWaits(t *testing.T) {
	ctx := context.Background()
	f.retryAt = f.c.now().Add(time.Minute)
	noErr(t, f.s.RetryJob(ctx, f.jb.ID, f.retryAt, 1, "rate limited"))
	due, _ := f.s.DueJobs(ctx, f.c.now(), 10)
	expect(t, len(due) == 1 && due[0].ID == f.ja.ID, "due before b's retry time: %+v", due)
	later, _ := f.s.DueJobs(ctx, f.retryAt, 10)
	expect(t, len(later) == 2 && later[1].ID == f.jb.ID && later[1].Attempts == 1 && later[1].LastError == "rate limited" && later[1].NotBefore.Equal(f.retryAt),
		"due at b's retry time: %+v", later)
}

// a is done, with the role IDs it assigned.
func (f *syncFlow) finishDone(t *testing.T) {
	ctx := context.Background()
	noErr(t, f.s.FinishJob(ctx, f.ja.ID, prereg.SyncOutcome{State: prereg.SyncDone, RoleIDs: []string{"rol_1"}}))
	err := f.s.FinishJob(ctx, f.ja.ID, prereg.SyncOutcome{State: prereg.SyncFailed})
	expect(t, err == nil, "finishing a finished job: %v", err)
	got, _ := f.s.Get(ctx, f.a.ID)
	expect(t, got.Sync == prereg.SyncDone && slices.Equal(got.SyncedRoleIDs, []string{"rol_1"}),
		"a after its job: sync %q, role IDs %v", got.Sync, got.SyncedRoleIDs)
	res := loginAs(t, f.s, "ua", "a@x.io", "")
	expect(t, len(res.Grants) == 1 && res.Grants[0].Sync == prereg.SyncDone, "login after the sync: %+v", res.Grants)
}

// b fails for good, and an admin asks again.
func (f *syncFlow) failAndRetry(t *testing.T) {
	ctx := context.Background()
	noErr(t, f.s.FinishJob(ctx, f.jb.ID, prereg.SyncOutcome{State: prereg.SyncFailed, Error: "no such role"}))
	got, _ := f.s.Get(ctx, f.b.ID)
	expect(t, got.Sync == prereg.SyncFailed && got.SyncError == "no such role", "b after its failure: %q %q", got.Sync, got.SyncError)
	items, _, err := f.s.List(ctx, prereg.Filter{Sync: prereg.SyncFailed})
	expect(t, err == nil && len(items) == 1 && items[0].ID == f.b.ID, "failed syncs: %+v %v", items, err)
	again, err := f.s.RetrySync(ctx, f.b.ID, "t")
	expect(t, err == nil && again.RegistrationID == f.b.ID && again.Kind == prereg.JobGrant, "retry sync: %+v %v", again, err)
	got, _ = f.s.Get(ctx, f.b.ID)
	expect(t, got.Sync == prereg.SyncPending && got.SyncError == "", "b after the retry: %q %q", got.Sync, got.SyncError)
	f.again = again
}

// A force-revoke of a synced grant queues the removal of its roles.
func (f *syncFlow) forceRevoke(t *testing.T) {
	ctx := context.Background()
	_, jobs, err := f.s.Revoke(ctx, f.a.ID, true, "t")
	expect(t, err == nil && len(jobs) == 1 && jobs[0].Kind == prereg.JobRevoke && jobs[0].UserID == "ua" && slices.Equal(jobs[0].Roles, []string{"rol_1"}),
		"force revoke: %+v %v", jobs, err)
	due, _ := f.s.DueJobs(ctx, f.c.now(), 10)
	expect(t, len(due) == 2 && due[0].ID == f.again.ID && due[1].Kind == prereg.JobRevoke, "due after the revoke: %+v", due)
}

// A job finishing after its grant was revoked leaves the record alone.
func (f *syncFlow) finishAfterRevoke(t *testing.T) {
	ctx := context.Background()
	noErr(t, f.s.FinishJob(ctx, f.again.ID, prereg.SyncOutcome{State: prereg.SyncDone}))
	_, _, err := f.s.Revoke(ctx, f.b.ID, true, "t")
	noErr(t, err)
	got, _ := f.s.Get(ctx, f.b.ID)
	expect(t, got.Status == prereg.StatusRevoked, "b: %+v", got)
	_, err = f.s.RetrySync(ctx, f.b.ID, "t")
	expect(t, prereg.ErrorCode(err) == prereg.Conflict, "retry of a revoked one: %v", err)
}
