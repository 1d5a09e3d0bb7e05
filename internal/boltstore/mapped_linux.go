package boltstore

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMappedLocked drops this process's mappings of the store file's
// pages: MADV_DONTNEED on bbolt's read-only shared mapping. The pages stay
// in the kernel's page cache, so the next read of one costs a minor fault,
// not I/O, but they stop counting in the process's resident set, which
// otherwise climbs towards the file's size: every read fault maps the page
// and, by the kernel's fault-around, up to 15 cached neighbours, and a bulk
// import reads the edge of the tree it has just written, batch after
// batch. The caller holds s.mu exclusively, so no transaction runs and
// none can remap the file meanwhile.
func (s *Store) releaseMappedLocked() {
	var size int64
	if err := s.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }); err != nil || size <= 0 {
		return
	}
	// Info().Data is the start of the mapping, which is at least the
	// size of the data; an error (an old kernel) changes nothing.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, s.db.Info().Data, uintptr(size), syscall.MADV_DONTNEED)
}
