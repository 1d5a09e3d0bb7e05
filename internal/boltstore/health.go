package boltstore

import (
	"context"
	"errors"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

var errUnwritable = prereg.Errorf(prereg.Unavailable, "the store cannot be written right now (disk full or read-only?); it is retried in the background")

func (s *Store) writeGate(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return prereg.Wrap(prereg.Unavailable, err, "request cancelled")
	}
	if s.unwritable.Load() {
		return errUnwritable
	}
	return nil
}

// noteWrite translates a write's error and, when it is the file system
// refusing (an errno from a write or fsync), marks the store unwritable and
// starts the probe that will clear the mark.
func (s *Store) noteWrite(err error) error {
	var fe fnError
	if errors.As(err, &fe) {
		return translate(fe.err, false)
	}
	var errno syscall.Errno
	if err != nil && errors.As(err, &errno) {
		if s.unwritable.CompareAndSwap(false, true) {
			s.startProbe()
		}
	}
	return translate(err, true)
}

// startProbe retries a tiny commit until one succeeds, then lets writes
// through again: service resumes by itself once the disk has room.
func (s *Store) startProbe() {
	if !s.probing.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.probed.notify()
		defer s.probing.Store(false)
		s.every(500*time.Millisecond, func() bool {
			s.mu.RLock()
			err := s.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bMeta).Put(keyPing, be64(uint64(s.now().UnixNano())))
			})
			s.mu.RUnlock()
			if err == nil {
				s.unwritable.Store(false)
			}
			return err != nil
		})
	}()
}

// Writable reports whether writes are currently accepted.
func (s *Store) Writable() bool { return !s.unwritable.Load() }

// Check runs bbolt's consistency check and returns every problem found.
// It holds the store exclusively: bbolt's check reads the shared freelist,
// which a concurrent commit would change under it.
func (s *Store) Check() []error {
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	_ = s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	return errs
}

// Size is the size of the store file in bytes, for metrics.
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

var keyPing = []byte("ready_probe")

// Ping proves the store can commit a write (readiness): a full disk or a
// read-only file system fails here before it fails a login.
func (s *Store) Ping(ctx context.Context) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(keyPing, be64(uint64(s.now().UnixNano())))
	})
}
