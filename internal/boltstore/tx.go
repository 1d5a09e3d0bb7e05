package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/prereg/prereg/internal/prereg"
)

// view and update run fn under the shared lock and translate bbolt errors.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return prereg.Wrap(prereg.Unavailable, err, "request cancelled")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	defer s.markUsed() // after the reads, for the tick that follows them
	// Counted for erasures, which overwrite freed pages only once no read
	// transaction can see them: every read transaction comes through here.
	defer s.readers.enter().Add(-1)
	return translate(s.db.View(fn), false)
}

func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.writeGate(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	defer s.markUsed()
	return s.noteWrite(s.grants.update(s.db, tagged(fn)))
}

// batch is update with concurrent callers sharing one commit and one
// fsync (groupCommit). fn may run more than once, so it must reset what
// it collects at its start.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := s.writeGate(ctx); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	defer s.markUsed()
	return s.noteWrite(s.group.do(s.db, tagged(fn)))
}

// fnError marks an error returned by a transaction's own function, to tell
// it from one of bbolt's commit: only the commit does I/O.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }
func (e fnError) Unwrap() error { return e.err }

// tagged wraps fn so that its errors come back as fnError.
func tagged(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return fnError{err}
		}
		return nil
	}
}

// translate gives a bbolt error its code. commit says err came from
// committing a write: only that is I/O the caller may retry later (disk
// full, read-only file system). Anything else unknown (a record that does
// not decode) is a fault of ours: Internal, its cause kept for the log.
func translate(err error, commit bool) error {
	if err == nil {
		return nil
	}
	var pe *prereg.Error
	if errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return prereg.Wrap(prereg.Unavailable, err, "the store is closed")
	case errors.Is(err, berrors.ErrDatabaseReadOnly), errors.Is(err, berrors.ErrTxNotWritable):
		return prereg.Wrap(prereg.Unavailable, err, "the store is read-only")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return prereg.Wrap(prereg.Unavailable, err, "request cancelled")
	case commit:
		return prereg.Wrap(prereg.Unavailable, err, "the store cannot be written right now")
	}
	return prereg.Wrap(prereg.Internal, err, "internal error")
}

func be64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return b.Put(k, raw)
}
