package boltstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/prereg/prereg/internal/prereg"
)

// SetSchemaForTest overwrites the schema version (tests of version checks).
func (s *Store) SetSchemaForTest(v uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(keySchema, be64(v)) })
}

// WaitLoginSetsForTest waits until the sets have been filled from the file
// (Options.LoginSets) and the removals asked for meanwhile tried again.
func (s *Store) WaitLoginSetsForTest(tb testing.TB) {
	tb.Helper()
	if s.filled == nil {
		tb.Fatal("the store was opened without login sets")
	}
	waitForTest(tb, s.filled, "the fill of the login sets")
	if !s.pendingAddrs.settled.Load() || !s.grantedUsers.ready.Load() {
		tb.Fatal("the fill of the login sets stopped before the end")
	}
}

// WaitWritableForTest waits until a probe has found the store writable
// again.
func (s *Store) WaitWritableForTest(tb testing.TB) {
	tb.Helper()
	for !s.Writable() {
		next := s.probed.next()
		if s.Writable() {
			return
		}
		waitForTest(tb, next, "the end of a probe")
	}
}

// WaitRecheckLoopForTest waits for a whole run of the recheck loop that
// began after the call.
func (s *Store) WaitRecheckLoopForTest(tb testing.TB) {
	tb.Helper()
	waitForTest(tb, s.rechecked.next(), "a run of the recheck loop")
	waitForTest(tb, s.rechecked.next(), "a run of the recheck loop")
}

// waitForTest waits for ch to close, at most 10 s.
func waitForTest(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s did not come within 10 s", what)
	}
}

// PendingSizeForTest is the number of address prefixes in pendingAddrs.
func (s *Store) PendingSizeForTest() int { return s.pendingAddrs.size() }

// GrantedUsersForTest is the number of users in grantedUsers.
func (s *Store) GrantedUsersForTest() int { return s.grantedUsers.size() }

// CheckLoginSetsForTest checks the sets' rule: the address prefix of every
// pending record is in pendingAddrs, the user of every grant in
// grantedUsers.
func (s *Store) CheckLoginSetsForTest() error {
	if s.pendingAddrs == nil || !s.pendingAddrs.ready.Load() {
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bRecs).ForEach(func(k, v []byte) error {
			r, err := decodeReg(v)
			if err != nil {
				return err
			}
			if r.Status == prereg.StatusPending && !s.pendingAddrs.has(prefixKey(k)) {
				return fmt.Errorf("pending record %x is missing from pendingAddrs", k)
			}
			if r.Status == prereg.StatusGranted && !s.grantedUsers.has(userKey(r.GrantedTo)) {
				return fmt.Errorf("the user of granted record %x is missing from grantedUsers", k)
			}
			return nil
		})
	})
}

// CheckGrantCacheForTest checks that every user's cached grants are what
// the file holds.
func (s *Store) CheckGrantCacheForTest() error {
	if s.grants == nil {
		return nil
	}
	return s.db.View(func(tx *bolt.Tx) error {
		t := &regTx{tx: tx, user: tx.Bucket(bByUser)}
		for i := range s.grants.shards {
			sh := &s.grants.shards[i]
			sh.mu.Lock()
			entries := maps.Clone(sh.m)
			sh.mu.Unlock()
			for _, e := range entries {
				want, err := userGrants(t, e.user)
				if err != nil {
					return err
				}
				if !sameGrants(e.grants, want) {
					return fmt.Errorf("user %s: cached grants %+v, the file holds %+v", e.user, e.grants, want)
				}
			}
		}
		return nil
	})
}

func sameGrants(a, b []prereg.Registration) bool {
	byID := func(x, y prereg.Registration) int { return strings.Compare(x.ID, y.ID) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byID)
	slices.SortFunc(b, byID)
	return slices.EqualFunc(a, b, func(x, y prereg.Registration) bool {
		return x.ID == y.ID && x.OrganizationID == y.OrganizationID && x.Sync == y.Sync && x.Status == y.Status && slices.Equal(x.Roles, y.Roles)
	})
}

// GrantCacheSizeForTest is the number of users in the grant cache.
func (s *Store) GrantCacheSizeForTest() int {
	n := 0
	for i := range s.grants.shards {
		sh := &s.grants.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// SetFillChunkForTest makes fillSets read n entries per transaction until
// the returned function restores the default.
func SetFillChunkForTest(n int) func() {
	old := fillChunk
	fillChunk = n
	return func() { fillChunk = old }
}

// CheckIndexesForTest checks that every record's ID is its key and that
// the four registration indexes hold exactly the entries indexEntries
// gives for the records: none missing, none stray, every value as written.
func (s *Store) CheckIndexesForTest() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		t := newRegTx(tx).all()
		want := map[int]map[string]string{}
		for _, ix := range []int{ixOrg, ixUser, ixExpiry, ixSync} {
			want[ix] = map[string]string{}
		}
		err := t.recs.ForEach(func(k, v []byte) error {
			r, err := decodeReg(v)
			if err != nil {
				return err
			}
			if r.ID != prereg.Key(k).ID() {
				return fmt.Errorf("record %x has ID %s, not its key", k, r.ID)
			}
			for _, e := range indexEntries(r, prereg.Key(k)) {
				want[e.ix][string(e.k)] = string(e.v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for ix, entries := range want {
			err := t.bucket(ix).ForEach(func(k, v []byte) error {
				w, ok := entries[string(k)]
				switch {
				case !ok:
					return fmt.Errorf("index %d holds %q, which no record gives", ix, k)
				case w != string(v):
					return fmt.Errorf("index %d entry %q holds %x, want %x", ix, k, v, w)
				}
				delete(entries, string(k))
				return nil
			})
			if err != nil {
				return err
			}
			for k := range entries {
				return fmt.Errorf("index %d lacks %q", ix, k)
			}
		}
		return nil
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return nil // the test closed the store itself
	}
	return err
}

// OrgIndexForTest lists the keys of the organization index.
func (s *Store) OrgIndexForTest() ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bByOrg).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// RecheckForTest runs recheckPending now and reports how many keys were
// waiting for it.
func (s *Store) RecheckForTest(ctx context.Context) (int, error) {
	s.pendingAddrs.recheckMu.Lock()
	n := len(s.pendingAddrs.recheck)
	s.pendingAddrs.recheckMu.Unlock()
	return n, s.recheckPending(ctx)
}

// StalePendingForTest puts the address of email back into pendingAddrs, as
// a fill from an older snapshot would, and leaves it to recheckPending.
func (s *Store) StalePendingForTest(email string) {
	k := prefixKey(prereg.EmailPrefix(prereg.EmailKey(email)))
	s.pendingAddrs.add(k)
	s.pendingAddrs.again(k)
}

// SetRecheckEveryForTest sets recheckEvery for stores opened until the
// returned function restores it.
func SetRecheckEveryForTest(d time.Duration) func() {
	old := recheckEvery
	recheckEvery = d
	return func() { recheckEvery = old }
}

// ReadTxForTest is the number of read transactions begun so far.
func (s *Store) ReadTxForTest() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.db.Stats().TxN
}

// ErrUnwritableForTest is the error of a write refused while the store is
// marked unwritable.
var ErrUnwritableForTest = errUnwritable
