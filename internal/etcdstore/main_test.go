package etcdstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/storetest"
)

// cluster is the one 3-member cluster the package's tests share, each
// under a prefix of its own, started by the first test that needs it;
// clients has a client per member.
var (
	sharedOnce sync.Once
	sharedErr  error
	cluster    *etcdtest.Cluster
	clients    []*clientv3.Client
	prefixN    atomic.Int64
)

func TestMain(m *testing.M) {
	// Member processes of etcdtest.StartProcesses are this binary.
	etcdtest.RunMemberIfAsked()
	code := m.Run()
	for _, cli := range clients {
		cli.Close()
	}
	if cluster != nil {
		cluster.Close()
	}
	os.Exit(code)
}

// member returns a client of member i of the shared cluster, starting
// the cluster first if no test has.
func member(t testing.TB, i int) *clientv3.Client {
	t.Helper()
	sharedOnce.Do(func() {
		if cluster, sharedErr = etcdtest.StartMain(3); sharedErr != nil {
			return
		}
		for _, ep := range cluster.Endpoints() {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				sharedErr = err
				return
			}
			clients = append(clients, cli)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return clients[i%len(clients)]
}

// prefixFor is a fresh prefix, or the one of dir (reopening finds what
// was written).
func prefixFor(dir string) string {
	if dir != "" {
		h := sha256.Sum256([]byte(dir))
		return "/d/" + hex.EncodeToString(h[:8]) + "/"
	}
	return fmt.Sprintf("/t/%d/", prefixN.Add(1))
}

// openOn opens a store under prefix through member i's client, closed
// (and checked) when t ends.
func openOn(t *testing.T, i int, prefix string, o storetest.Options) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.New(context.Background(), member(t, i), prefix, etcdstore.Options{Now: o.Now, SyncEnabled: o.SyncEnabled, Serve: o.Serve, CallTimeout: testCallTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if errs := s.Check(); len(errs) > 0 {
			t.Errorf("check: %v", errs)
		}
		s.Close()
	})
	return s
}

var opened atomic.Int64

// testCallTimeout replaces the store's 2-second bound on a call: CI
// machines under load (and the race detector) are slower than that at
// times, and a call that times out has no answer to check. The test of a
// lost quorum keeps the default.
const testCallTimeout = 30 * time.Second

func openConformance(t *testing.T, o storetest.Options) storetest.Store {
	t.Helper()
	return openOn(t, int(opened.Add(1)), prefixFor(o.Dir), o)
}

// TestConformance runs the behavioural suite every store must pass, each
// store on its own prefix of a 3-member cluster, through the members in
// turn.
func TestConformance(t *testing.T) {
	storetest.Run(t, openConformance)
}
