package boltstore

import "syscall"

// dropMapped drops this process's mappings of the first size bytes of the
// store file: MADV_DONTNEED on bbolt's read-only shared mapping, which
// starts at data. The pages stay in the kernel's page cache, so the next
// read of one costs a minor fault, not I/O, but they stop counting in the
// process's resident set. The caller holds bbolt's writer lock, so no
// commit can remap the file meanwhile; readers may go on (their next touch
// of a dropped page maps the same cached page again).
func dropMapped(data uintptr, size int64) {
	// An error (an old kernel) changes nothing.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, data, uintptr(size), syscall.MADV_DONTNEED)
}
