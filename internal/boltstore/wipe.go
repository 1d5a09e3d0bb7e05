package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"maps"
	"os"
	"runtime"
	"slices"
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
	ids, pageSize, err := s.freePages(f)
	if err != nil {
		return err
	}
	// Searched without any lock: a page reused meanwhile holds data
	// written after the erasure's commit, which cannot hold the address.
	pages, err := findNeedles(ctx, f, ids, pageSize, needles)
	if err != nil || len(pages) == 0 {
		return err
	}
	for {
		// Long reads end without the writer lock held; what began since
		// is a few logins, waited for under it.
		if _, err := s.readers.synchronize(ctx, 0); err != nil {
			return err
		}
		tx, err := s.db.Begin(true)
		if err != nil {
			return translate(err, true)
		}
		ok, err := s.readers.synchronize(ctx, wipeWait)
		if ok && err == nil {
			err = zeroPages(tx, f, pageSize, pages)
		}
		_ = tx.Rollback()
		if ok || err != nil {
			return s.noteWrite(err)
		}
	}
}

// freePages lists the pages bbolt's freelist holds (free or pending):
// those of no tree the last commit left, and the page size. It holds the
// writer lock only while it reads the freelist page.
func (s *Store) freePages(f *os.File) ([]int, int, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, 0, translate(err, true)
	}
	defer func() { _ = tx.Rollback() }()
	// Info reads the mapping, which only a commit (excluded here) moves.
	pageSize := s.db.Info().PageSize
	st := s.db.Stats()
	if ids, ok := freelistFromFile(tx, f, pageSize); ok && len(ids) == st.FreePageN+st.PendingPageN {
		return ids, pageSize, nil
	}
	ids, err := scanFree(tx, pageSize)
	return ids, pageSize, err
}

// wipeChunk is how many pages findNeedles reads at a time.
const wipeChunk = 256

// findNeedles returns the pages among ids (sorted) on which one of
// needles begins or ends, in any ASCII letter case.
func findNeedles(ctx context.Context, f *os.File, ids []int, pageSize int, needles [][]byte) ([]int, error) {
	overlap := 0
	for _, n := range needles {
		overlap = max(overlap, len(n)-1)
	}
	found := map[int]bool{}
	var buf, low []byte
	// Runs of consecutive pages, a chunk at a time with the start of the
	// next page, so that no occurrence is cut in two.
	for i := 0; i < len(ids); {
		if err := ctx.Err(); err != nil {
			return nil, prereg.Wrap(prereg.Unavailable, err, "request cancelled")
		}
		start, end := ids[i], ids[i]+1
		for i++; i < len(ids) && ids[i] == end && end-start < wipeChunk; i++ {
			end++
		}
		n := (end - start) * pageSize
		buf = slices.Grow(buf[:0], n+overlap)[:n+overlap]
		got, err := f.ReadAt(buf, int64(start)*int64(pageSize))
		if got < n {
			return nil, err
		}
		low = prereg.LowerInto(low, buf[:got])
		for _, needle := range needles {
			for at := 0; ; {
				j := bytes.Index(low[at:], needle)
				if j < 0 || at+j >= n {
					break
				}
				first := start*pageSize + at + j
				for p := first / pageSize; p <= (first+len(needle)-1)/pageSize; p++ {
					found[p] = true
				}
				at += j + 1
			}
		}
	}
	return slices.Sorted(maps.Keys(found)), nil
}

// zeroPages overwrites with zeros those of pages that are free as tx,
// which holds the writer lock, sees them, and syncs the file.
func zeroPages(tx *bolt.Tx, f *os.File, pageSize int, pages []int) error {
	zero := make([]byte, pageSize)
	for _, p := range pages {
		// Reused since it was searched, or an occurrence that ran past
		// the free pages into a page of the tree: it stays as it is.
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

// scanFree asks Tx.Page of every page whether it is free: every page's
// header is read, which maps the whole file in.
func scanFree(tx *bolt.Tx, pageSize int) ([]int, error) {
	var ids []int
	for id := 2; id < int(tx.Size()/int64(pageSize)); id++ {
		free, err := isFree(tx, id)
		if err != nil {
			return nil, err
		}
		if free {
			ids = append(ids, id)
		}
	}
	return ids, nil
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

// boltFreelistFlag marks a freelist page in its page header (bbolt's
// file format; see verify.go for the meta page).
const boltFreelistFlag = 0x10

// freelistFromFile reads the page IDs listed by the freelist page of the
// meta of the last commit (the one before tx); ok is false if anything
// does not read as expected.
func freelistFromFile(tx *bolt.Tx, f *os.File, pageSize int) (ids []int, ok bool) {
	ord := binary.LittleEndian // as parseMeta reads it
	var freelist uint64
	for m := range 2 {
		b := make([]byte, pageHeaderSize+metaChecksumEnd+8)
		if _, err := f.ReadAt(b, int64(m*pageSize)); err != nil {
			return nil, false
		}
		meta, valid := parseMeta(b)
		if valid && int(meta.txid) == tx.ID()-1 && int64(meta.pages)*int64(pageSize) == tx.Size() {
			freelist = ord.Uint64(b[pageHeaderSize+32:])
		}
	}
	if freelist < 2 {
		return nil, false
	}
	head := make([]byte, pageHeaderSize)
	if _, err := f.ReadAt(head, int64(freelist)*int64(pageSize)); err != nil || ord.Uint16(head[8:])&boltFreelistFlag == 0 {
		return nil, false
	}
	page := make([]byte, (int(ord.Uint32(head[12:]))+1)*pageSize)
	if _, err := f.ReadAt(page, int64(freelist)*int64(pageSize)); err != nil {
		return nil, false
	}
	body, count := page[pageHeaderSize:], int(ord.Uint16(page[10:]))
	if count == 0xFFFF {
		count, body = int(ord.Uint64(body)), body[8:]
	}
	if count*8 > len(body) {
		return nil, false
	}
	ids = make([]int, count)
	for i := range ids {
		ids[i] = int(ord.Uint64(body[i*8:]))
	}
	return ids, slices.IsSorted(ids)
}
