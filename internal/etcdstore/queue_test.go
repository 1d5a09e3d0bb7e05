package etcdstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// Without a cluster to answer, taking sync jobs fails as Unavailable
// within the call's deadline: the replica's lease is granted with a
// bounded context, not the worker's forever.
func TestDueJobsWithoutQuorumFails(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s, err := etcdstore.New(context.Background(), c.Client(t), "/q/", etcdstore.Options{SyncEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	done := make(chan error, 1)
	go func() {
		_, err := s.DueJobs(context.Background(), time.Now(), 10)
		done <- err
	}()
	select {
	case err := <-done:
		if prereg.ErrorCode(err) != prereg.Unavailable {
			t.Fatalf("DueJobs without a cluster: %v, want unavailable", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("DueJobs without a cluster did not return within 30 seconds")
	}
	s.Close()
}

// A replica that lost its claim on a job (its lease ended, another
// replica took the job) and then gives the job back for a retry leaves
// the other replica's claim alone: the job is not run a third time.
func TestRetryJobKeepsAnotherReplicasClaim(t *testing.T) {
	prefix := prefixFor("")
	a := openOn(t, 0, prefix, storetest.Options{SyncEnabled: true})
	b := openOn(t, 1, prefix, storetest.Options{SyncEnabled: true})
	ctx := context.Background()
	in := prereg.Input{Email: "job@retry.example", Roles: []string{"r"}}.Normalize()
	if _, _, err := a.Put(ctx, in, "api", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, prereg.Login{UserID: "auth0|job", Email: "job@retry.example", EmailVerified: true}, true); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Minute)
	jobs, err := a.DueJobs(ctx, now, 10)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("a takes: %v, %v", jobs, err)
	}
	if err := a.EndSession(ctx); err != nil { // as if a's lease expired
		t.Fatal(err)
	}
	if got, err := b.DueJobs(ctx, now, 10); err != nil || len(got) != 1 {
		t.Fatalf("b takes the job over: %v, %v", got, err)
	}
	if err := a.RetryJob(ctx, jobs[0].ID, now, 1, "late failure"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.DueJobs(ctx, now.Add(time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("after a's late retry, a takes the job b holds: %v, %v", got, err)
	}
}
