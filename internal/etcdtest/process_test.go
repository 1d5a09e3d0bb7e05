package etcdtest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	RunMemberIfAsked()
	os.Exit(m.Run())
}

func procClient(t *testing.T, eps []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// put writes key=val, retrying for up to limit: a write that meets an
// election fails and is retried, as a client would.
func put(ctx context.Context, cli *clientv3.Client, key, val string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := cli.Put(cctx, key, val)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// TestProcesses kills members of a 3-member cluster of processes: with one
// gone writes go on, with two gone they fail within a bounded time, and
// after restarts every acknowledged write is there, on every member.
func TestProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd member processes")
	}
	p := StartProcesses(t, 3)
	ctx := context.Background()
	cli := procClient(t, p.Endpoints())
	acked := map[string]string{}
	write := func(key string, limit time.Duration) error {
		err := put(ctx, cli, key, "v-"+key, limit)
		if err == nil {
			acked[key] = "v-" + key
		}
		return err
	}
	if err := write("/t/before", 10*time.Second); err != nil {
		t.Fatal(err)
	}

	p.Kill(0)
	for i := range 20 {
		if err := write(fmt.Sprintf("/t/one-down/%d", i), 10*time.Second); err != nil {
			t.Fatalf("write with one member of three killed: %v", err)
		}
	}

	p.Kill(1)
	// Without a quorum etcd's client retries until its context ends: the
	// write fails with that context's deadline, and a linearizable read
	// fails too.
	if err := put(ctx, cli, "/t/no-quorum", "x", 0); err == nil {
		t.Fatal("a write succeeded with two members of three killed")
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err := cli.Get(rctx, "/t/before")
	cancel()
	if err == nil {
		t.Fatal("a linearizable read succeeded with two members of three killed")
	}

	for _, i := range []int{0, 1} {
		if err := p.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i := range 3 {
		if err := p.WaitServing(wctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := write("/t/after", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Each member, asked alone, has every acknowledged write: the killed
	// ones caught up from the survivor.
	for i, ep := range p.Endpoints() {
		one := procClient(t, []string{ep})
		resp, err := one.Get(ctx, "/t/", clientv3.WithPrefix())
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		got := map[string]string{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if got[k] != v {
				t.Errorf("member %d: %s = %q, want %q (acknowledged)", i, k, got[k], v)
			}
		}
	}
}
