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

// ReleaseMapped drops this process's mappings of the store file's pages.
//
// bbolt reads the file through a shared memory mapping. Every page a read
// touches is mapped into the process, and the kernel's fault-around maps
// cached neighbours with it; an import reads the edge of the tree it has
// just written, batch after batch, so its resident set would grow with
// the file. Those pages are clean page cache, but they count in RSS and
// in the OOM killer's choice of victim. Dropped, they stay cached (the
// next read of one is a minor fault, not I/O). Readers go on meanwhile;
// writers wait for the one system call.
//
// The service calls it every ServiceReleaseEvery (Options.ReleaseEvery);
// its login sets (keySet) keep most logins off the records, or random
// reads would map the whole file back within a second of each release.
func (s *Store) ReleaseMapped() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.release(s.db)
}

// release is ReleaseMapped on db, for a caller that cannot take s.mu.
func (s *Store) release(db *bolt.DB) error {
	// A write transaction holds bbolt's writer lock: no commit, and so no
	// remapping of the file, can happen until it is rolled back, and Close
	// (which takes that lock too) cannot unmap it either.
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
// the mapped pages back, when Options.ReleaseEvery is set. A claim maps a
// few random pages of the file with their neighbours (several hundred
// KiB), so the mapping grows by megabytes per commit. The release runs on
// the committing goroutine between two commits, where it costs nothing
// measurable: paired runs of 1 M records gave 2 121 and 2 033 grants/s
// at 10 ms, 1 894 and 2 077 at 25 ms (1 460 against 1 685/s when
// releaseLoop did it after every 64 writes, waiting for the writer lock
// behind queued commits), and the service stays under 100 MiB.
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
