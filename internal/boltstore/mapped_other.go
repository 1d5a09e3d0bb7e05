//go:build !linux

package boltstore

// releaseMappedLocked is a no-op where prereg does not know how the kernel
// counts mapped file pages.
func (s *Store) releaseMappedLocked() {}
