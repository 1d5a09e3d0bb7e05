package boltstore

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// releaseEvery is how often, at most, import batches give the store's
// mapped pages back (ReleaseMapped).
const releaseEvery = 200 * time.Millisecond

// ServiceReleaseEvery is the service's Options.ReleaseEvery. Giving the
// mapping back costs one system call under the writer lock, and the pages
// still in use fault back in (from the page cache).
const ServiceReleaseEvery = 100 * time.Millisecond

// ReleaseMapped drops this process's mappings of the store file's pages,
// which stay in the page cache, so that the resident set holds what was
// read lately rather than every page ever read: see "Page release" in
// doc.go.
func (s *Store) ReleaseMapped() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.release(s.db)
}

// release is ReleaseMapped on db, for a caller that cannot take s.mu.
func (s *Store) release(db *bolt.DB) error {
	// The write transaction holds bbolt's writer lock: no commit remaps
	// the file, and Close cannot unmap it, until it is rolled back.
	tx, err := db.Begin(true)
	if err != nil {
		return translate(err, false)
	}
	defer func() { _ = tx.Rollback() }()
	dropMapped(db.Info().Data, tx.Size())
	s.released.Store(time.Now().UnixNano())
	return nil
}

// claimReleaseEvery is how often, at most, grouped commits (claims) give
// the mapped pages back, when Options.ReleaseEvery is set: each claim maps
// a few random pages with their neighbours, so the mapping grows with
// every commit.
const claimReleaseEvery = 10 * time.Millisecond

// releaseAfterCommit gives the mapped pages back after a grouped commit,
// at most every claimReleaseEvery.
func (s *Store) releaseAfterCommit(db *bolt.DB) {
	now := time.Now().UnixNano()
	last := s.released.Load()
	if now-last < int64(claimReleaseEvery) || !s.released.CompareAndSwap(last, now) {
		return
	}
	_ = s.release(db)
}

// releaseSoon calls ReleaseMapped if that was last done more than
// releaseEvery ago.
func (s *Store) releaseSoon() {
	now := time.Now().UnixNano()
	last := s.released.Load()
	if now-last < int64(releaseEvery) || !s.released.CompareAndSwap(last, now) {
		return
	}
	_ = s.ReleaseMapped()
}
