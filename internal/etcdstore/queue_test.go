package etcdstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
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
