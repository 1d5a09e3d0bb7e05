package etcdstore_test

import (
	"bytes"
	"context"
	"errors"
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

// After an erasure no version of a key holding the address can be read
// (the history is compacted) and no member's database file holds it (every
// member is defragmented).
func TestEraseLeavesNoVersion(t *testing.T) {
	s := openOn(t, 0, prefixFor(""), storetest.Options{})
	ctx := context.Background()
	const addr = "erase.me.7f3a@x.io"
	r := storetest.Put(t, s, prereg.Input{Email: addr, Roles: []string{"r"}})
	if _, err := s.Login(ctx, prereg.Login{UserID: "auth0|" + addr, Email: addr, EmailVerified: true}, true); err != nil {
		t.Fatal(err)
	}
	k, _ := prereg.ParseKey(r.ID)
	before, err := member(t, 1).Get(ctx, s.Prefix()+"rec/"+string(k[:]))
	if err != nil || len(before.Kvs) != 1 {
		t.Fatalf("record before: %v %v", before, err)
	}
	// The search below would find it: every member's file holds the
	// address once the backend has committed.
	for i := range clients {
		testio.WaitFor(t, time.Minute, "the address in the database", func() bool { return dbHolds(t, i, addr) })
	}
	e, err := s.Erase(ctx, addr, "", "t")
	if err != nil || len(e.Registrations) != 1 {
		t.Fatalf("erase: %+v %v", e, err)
	}
	_, err = member(t, 2).Get(ctx, s.Prefix()+"rec/"+string(k[:]), clientv3.WithRev(before.Header.Revision))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("the record's version before the erasure: %v, want compacted", err)
	}
	for i := range clients {
		if dbHolds(t, i, addr) {
			t.Errorf("member %d's database still holds the address", i)
		}
	}
}

// dbHolds reports whether member i's database file holds s.
func dbHolds(t *testing.T, i int, s string) bool {
	t.Helper()
	db, err := os.ReadFile(filepath.Join(cluster.DataDir(i), "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(db, []byte(s))
}
