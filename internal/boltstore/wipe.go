package boltstore

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// readerEpochs counts the read transactions in flight by epoch, so that
// an erasure can wait for those that began before a given moment
// (synchronize) while new ones start freely. Every read transaction of
// the store enters it (Store.view).
type readerEpochs struct {
	epoch atomic.Uint64
	_     [56]byte // each counter on a cache line of its own
	n     [2]paddedCount
}

type paddedCount struct {
	atomic.Int64
	_ [56]byte
}

// enter counts a read transaction about to begin, in the current epoch's
// slot; the caller decrements the slot returned once it has ended.
func (r *readerEpochs) enter() *atomic.Int64 {
	for {
		e := r.epoch.Load()
		c := &r.n[e&1].Int64
		c.Add(1)
		// Counted in e only if e is still current: a synchronize that
		// advanced the epoch meanwhile may already have read the slot.
		if r.epoch.Load() == e {
			return c
		}
		c.Add(-1)
	}
}

// synchronize waits until every read transaction that entered before the
// call has ended, for at most limit (0: no limit) and until ctx ends. It
// reports whether they all ended. Callers are serialized (Store.eraseMu).
func (r *readerEpochs) synchronize(ctx context.Context, limit time.Duration) (bool, error) {
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	e := r.epoch.Load()
	// The slot the next epoch counts in may still hold readers of the
	// epoch before e, left by a synchronize that gave up: they go first.
	if ok, err := drain(ctx, &r.n[(e+1)&1].Int64, deadline); !ok || err != nil {
		return ok, err
	}
	r.epoch.Store(e + 1)
	return drain(ctx, &r.n[e&1].Int64, deadline)
}

// drain waits for c to reach zero, until deadline (if set) or ctx ends.
func drain(ctx context.Context, c *atomic.Int64, deadline time.Time) (bool, error) {
	for spin := 0; c.Load() != 0; spin++ {
		if err := ctx.Err(); err != nil {
			return false, prereg.Wrap(prereg.Unavailable, err, "request cancelled")
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return false, nil
		}
		// Logins hold a read transaction for microseconds: yield first,
		// then poll gently for the long ones (listings, exports).
		if spin < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(200 * time.Microsecond)
		}
	}
	return true, nil
}

// wipeWait bounds how long wipeFreed holds bbolt's writer lock waiting
// for read transactions that began just before it took it.
const wipeWait = 10 * time.Millisecond

// wipeFreed overwrites with zeros every page of the file that is not part
// of the current tree and holds one of needles (see doc.go, "Erasure").
func (s *Store) wipeFreed(ctx context.Context, needles [][]byte) error {
	// Backups copy free pages too: none runs during the wipe.
	s.rawMu.Lock()
	defer s.rawMu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return prereg.Wrap(prereg.Unavailable, err, "cannot open the store file to wipe it")
	}
	defer f.Close()
	for {
		// Long reads end without the writer lock held; what began since
		// is a few logins, waited for under it.
		if _, err := s.readers.synchronize(ctx, 0); err != nil {
			return err
		}
		tx, err := s.db.Begin(true)
		if err != nil {
			return translate(err)
		}
		ok, err := s.readers.synchronize(ctx, wipeWait)
		if ok && err == nil {
			err = wipePages(tx, f, s.db.Info().PageSize, needles)
		}
		_ = tx.Rollback()
		if ok || err != nil {
			return s.noteWrite(err)
		}
	}
}

// wipeChunk is how many pages wipePages reads at a time.
const wipeChunk = 256

// wipePages zeroes the free pages of the file (as tx, which holds the
// writer lock, sees them) on which one of needles begins or ends, and
// syncs the file if it wrote any.
func wipePages(tx *bolt.Tx, f *os.File, pageSize int, needles [][]byte) error {
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n)-1)
	}
	hwm := int(tx.Size() / int64(pageSize))
	dirty := map[int]bool{}
	var buf, low []byte
	// Runs of consecutive free pages, read a chunk at a time with the
	// start of the next chunk of the run, so no occurrence is cut in two.
	for start := 2; start < hwm; {
		free, err := isFree(tx, start)
		if err != nil {
			return err
		}
		if !free {
			start++
			continue
		}
		end := start + 1
		for end < hwm && end < start+wipeChunk {
			if free, err = isFree(tx, end); err != nil {
				return err
			} else if !free {
				break
			}
			end++
		}
		n := (end - start) * pageSize
		buf = append(buf[:0], make([]byte, n+overlap)...)
		got, err := f.ReadAt(buf, int64(start)*int64(pageSize))
		if got < n {
			return err
		}
		low = lowerInto(low, buf[:got])
		for _, needle := range needles {
			for i := 0; ; {
				j := bytes.Index(low[i:], needle)
				if j < 0 || i+j >= n {
					break
				}
				at := start*pageSize + i + j
				for p := at / pageSize; p <= (at+len(needle)-1)/pageSize; p++ {
					dirty[p] = true
				}
				i += j + 1
			}
		}
		start = end
	}
	if len(dirty) == 0 {
		return nil
	}
	zero := make([]byte, pageSize)
	for p := range dirty {
		// An occurrence may run past its run of free pages into a page
		// of the tree, which stays as it is.
		if free, err := isFree(tx, p); err != nil || !free {
			if err != nil {
				return err
			}
			continue
		}
		if _, err := f.WriteAt(zero, int64(p)*int64(pageSize)); err != nil {
			return err
		}
	}
	return f.Sync()
}

// isFree reports whether page id is free or pending in bbolt's freelist:
// not part of the tree the latest commit left.
func isFree(tx *bolt.Tx, id int) (bool, error) {
	info, err := tx.Page(id)
	if err != nil || info == nil {
		return false, err
	}
	return info.Type == "free", nil
}
