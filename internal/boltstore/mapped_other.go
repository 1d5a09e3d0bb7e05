//go:build !linux

package boltstore

// dropMapped is a no-op where prereg does not know how the kernel counts
// mapped file pages.
func dropMapped(uintptr, int64) {}
