package etcdstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
	"github.com/prereg/prereg/internal/testio"
)

// dbHolds reports which members' database files (member/snap/db, etcd's
// bbolt backend) hold needle, in any ASCII letter case. etcd's write-ahead
// log and snapshot files are not looked at: they may keep an erased value
// until etcd's next snapshot.
func dbHolds(t *testing.T, needle string) []int {
	t.Helper()
	var in []int
	for i, dir := range cluster.DataDirs() {
		b, err := os.ReadFile(filepath.Join(dir, "member", "snap", "db"))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(needle))) {
			in = append(in, i)
		}
	}
	return in
}

// After an erasure no member's database file holds the address, in any
// letter case, and no member serves the revisions that held it.
func TestEraseLeavesNoByte(t *testing.T) {
	s := openOn(t, 1, prefixFor(""), storetest.Options{})
	ctx := context.Background()
	addr := fmt.Sprintf("Erase.Me.%d@Bytes.Example", time.Now().UnixNano())
	// Thousands of revisions before the erasure make its compaction take
	// a while on every member, as on a store in use.
	var bulk []prereg.Input
	for i := range 3000 {
		bulk = append(bulk, prereg.Input{Email: fmt.Sprintf("bulk%d@bytes.example", i), Roles: []string{"r"}}.Normalize())
	}
	if _, err := s.ApplyBatch(ctx, bulk, "import:imp_1", "t", false); err != nil {
		t.Fatal(err)
	}
	for _, org := range []string{"", "org_a"} {
		in := prereg.Input{Email: addr, OrganizationID: org, Roles: []string{"r"}}.Normalize()
		if _, _, err := s.Put(ctx, in, "api", addr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Login(ctx, prereg.Login{UserID: "auth0|eraseme", Email: addr, EmailVerified: true}, true); err != nil {
		t.Fatal(err)
	}
	resp, err := clients[0].Get(ctx, s.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	held := resp.Header.Revision
	// The address reaches every member's file (etcd commits its backend
	// in batches): the search below looks where it would be.
	testio.WaitFor(t, 10*time.Second, "the address in every member's file", func() bool {
		return len(dbHolds(t, addr)) == len(clients)
	})

	if _, err := s.Erase(ctx, addr, "", "admin"); err != nil {
		t.Fatal(err)
	}
	if in := dbHolds(t, addr); len(in) > 0 {
		t.Errorf("after the erasure, the database files of members %v hold the address", in)
	}
	for i, cli := range clients {
		_, err := cli.Get(ctx, s.Prefix(), clientv3.WithPrefix(), clientv3.WithRev(held), clientv3.WithSerializable())
		if !errors.Is(err, rpctypes.ErrCompacted) {
			t.Errorf("member %d: a read at revision %d answered %v, want it compacted", i, held, err)
		}
	}
}
