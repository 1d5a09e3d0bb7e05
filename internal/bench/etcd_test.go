package bench

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/etcdtest"
)

// TestRawEtcdLoops runs the raw loops an etcd run compares the replicas
// with on a cluster of member processes: every operation they count
// succeeded and wrote what a claim writes.
func TestRawEtcdLoops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd member processes")
	}
	p := etcdtest.StartProcesses(t, 3)
	cli, err := clientv3.New(clientv3.Config{Endpoints: p.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	clients := []*clientv3.Client{cli, cli}
	gets, err := rawGets(ctx, "t", clients, 4, 300*time.Millisecond)
	if err != nil || gets.Ops == 0 {
		t.Fatalf("raw gets: %+v, %v", gets, err)
	}
	reads, err := rawLoginReads(ctx, "t", clients, 4, 300*time.Millisecond)
	if err != nil || reads.Ops == 0 {
		t.Fatalf("raw login reads: %+v, %v", reads, err)
	}
	d := Dataset{Records: 10, OrgShare: 0.5, Orgs: 2, Roles: 2}
	txns, err := rawTxns(ctx, "t", d, clients, 4, 300*time.Millisecond, 1)
	if err != nil || txns.Ops == 0 {
		t.Fatalf("raw txns: %+v, %v", txns, err)
	}
	for _, kind := range []string{"rec", "user", "audit"} {
		resp, err := cli.Get(ctx, rawEtcdKey("t", kind)+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		// A Txn cut short by the loop's deadline may still commit.
		if resp.Count < int64(txns.Ops) || resp.Count > int64(txns.Ops+txns.Errors)+4 {
			t.Errorf("%d %s keys after %d counted txns", resp.Count, kind, txns.Ops)
		}
	}
	imps, err := rawImports(ctx, "t", d, clients, 300*time.Millisecond)
	if err != nil || imps.Ops == 0 {
		t.Fatalf("raw imports: %+v, %v", imps, err)
	}
	resp, err := cli.Get(ctx, rawEtcdKey("t", "imp", "rec")+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count < int64(imps.Ops*importRowsPerTxn) {
		t.Errorf("%v records after %d import Txns of %d (%v)", resp, imps.Ops, importRowsPerTxn, err)
	}
	floor, err := rawImportFloor(ctx, "t", d, clients, 300*time.Millisecond)
	if err != nil || floor.Ops == 0 {
		t.Fatalf("raw import floor: %+v, %v", floor, err)
	}
	// Each of the loop's workers may have a Txn in flight at its deadline.
	resp, err = cli.Get(ctx, rawEtcdKey("t", "floor")+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count < int64(floor.Ops*floorRowsPerTxn) || resp.Count > int64((floor.Ops+floor.Errors+importWorkers)*floorRowsPerTxn) {
		t.Errorf("%v floor records after %d Txns of %d (%v)", resp, floor.Ops, floorRowsPerTxn, err)
	}
	sh := claimShapeOf(d, 0)
	if sh.record < 100 || sh.audit < 50 {
		t.Errorf("claim shape %+v: a granted record and its audit entry are larger", sh)
	}
	t.Logf("gets %+v; txns %+v; shape %+v", gets, txns, sh)
}
