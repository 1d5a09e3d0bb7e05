package boltstore

import (
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// SetSchemaForTest overwrites the schema version (tests of version checks).
func (s *Store) SetSchemaForTest(v uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(keySchema, be64(v)) })
}

// WaitLoginSetsForTest waits until the sets have been filled from the file
// (Options.LoginSets).
func (s *Store) WaitLoginSetsForTest(tb testing.TB) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.pendingAddrs.ready.Load() || !s.grantedUsers.ready.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the login sets were not filled within 10 s")
		}
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

// SetFillChunkForTest makes fillSets read n entries per transaction until
// the returned function restores the default.
func SetFillChunkForTest(n int) func() {
	old := fillChunk
	fillChunk = n
	return func() { fillChunk = old }
}
