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
	// Each member's defragmentation is announced to the replicas
	// before it begins, and the announcement ends after it.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	announced := member(t, 1).Watch(wctx, s.Prefix()+"defrag/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if wr := <-announced; !wr.Created {
		t.Fatalf("watch: %v", wr.Err())
	}
	e, err := s.Erase(ctx, addr, "", "t")
	if err != nil || len(e.Registrations) != 1 {
		t.Fatalf("erase: %+v %v", e, err)
	}
	var puts, deletes int
	for puts+deletes < 2*len(clients) {
		var wr clientv3.WatchResponse
		select {
		case wr = <-announced:
		case <-time.After(time.Minute):
			t.Fatalf("defragmentations announced %d times, ended %d times, then nothing", puts, deletes)
		}
		if wr.Err() != nil {
			t.Fatal(wr.Err())
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypePut {
				puts++
			} else {
				deletes++
			}
		}
	}
	if puts != len(clients) || deletes != len(clients) {
		t.Errorf("defragmentations announced %d times, ended %d times; want %d each", puts, deletes, len(clients))
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

// dbHolds reports whether member i's database file (member/snap/db,
// etcd's bbolt backend) holds s, in any ASCII letter case. etcd's
// write-ahead log and snapshot files are not looked at: they may keep an
// erased value until etcd's next snapshot.
func dbHolds(t *testing.T, i int, s string) bool {
	t.Helper()
	db, err := os.ReadFile(filepath.Join(cluster.DataDir(i), "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(bytes.ToLower(db), bytes.ToLower([]byte(s)))
}

// On a store in use, where the erasure's compaction takes a while on
// every member, no member's database file holds the address afterwards:
// each member is defragmented only after its own compaction finished.
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
	resp, err := member(t, 0).Get(ctx, s.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	held := resp.Header.Revision
	for i := range 3 {
		testio.WaitFor(t, time.Minute, "the address in the database", func() bool { return dbHolds(t, i, addr) })
	}

	if _, err := s.Erase(ctx, addr, "", "admin"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if dbHolds(t, i, addr) {
			t.Errorf("after the erasure, member %d's database file holds the address", i)
		}
		_, err := member(t, i).Get(ctx, s.Prefix(), clientv3.WithPrefix(), clientv3.WithRev(held), clientv3.WithSerializable())
		if !errors.Is(err, rpctypes.ErrCompacted) {
			t.Errorf("member %d: a read at revision %d answered %v, want it compacted", i, held, err)
		}
	}
}
