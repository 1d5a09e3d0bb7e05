package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/prereg/prereg/internal/prereg"
)

// SchemaVersion is the layout this code reads and writes. Open refuses a
// file written by a newer version and migrates an older one (migrate).
const SchemaVersion = 5

// Bucket names. Index keys are "<part>\x00<part>…" so prefix scans with
// Cursor.Seek stay within one value of the leading parts.
var (
	bMeta      = []byte("meta")
	bRecs      = []byte("recs")        // prereg.Key -> record
	bByUser    = []byte("idx_user")    // user_id \0 key -> the grant (granted only)
	bByOrg     = []byte("idx_org")     // org \0 orgClass(status) \0 key
	bByExpiry  = []byte("idx_expiry")  // be64(unix) \0 key -> org (pending with expiry)
	bCounts    = []byte("counts")      // org \0 status -> be64 count
	bTokens    = []byte("tokens")      // id -> JSON token record
	bTokenHash = []byte("token_hash")  // sha256 -> id
	bJobs      = []byte("jobs")        // job id -> JSON SyncJob
	bImports   = []byte("imports")     // import id -> JSON ImportReport
	bAudit     = []byte("audit")       // be64 seq -> JSON AuditEntry
	bVerify    = []byte("verify_sent") // user_id -> be64 unix
	bBySync    = []byte("idx_sync")    // sync state \0 key (granted with Auth0 sync)
	allBuckets = [][]byte{bMeta, bRecs, bByUser, bByOrg, bByExpiry, bCounts, bTokens, bTokenHash, bJobs, bImports, bAudit, bVerify, bBySync}

	keySchema = []byte("schema_version")
)

// Options tune a Store; the zero value is ready for production.
type Options struct {
	// Now is the clock; tests inject one to drive expiry.
	Now func() time.Time
	// LockTimeout bounds the wait for another process's lock on the file.
	LockTimeout time.Duration
	// SyncEnabled makes every grant and forced revoke also enqueue a job
	// for Auth0's Management API.
	SyncEnabled bool
	// ReadOnly opens the file without writing (prereg check).
	ReadOnly bool
	// NoSync skips fsync; only benchmarks that measure something else use it.
	NoSync bool
	// LoginSets keeps in memory which addresses have a pending
	// registration and which users were granted one (see keySet), filled
	// in the background after Open, so that most logins read little or
	// nothing of the file. The service sets it; a command that opens the
	// file for one job has no use for it.
	LoginSets bool
	// ReleaseEvery, when set, gives the pages of the file mapped into the
	// process back this often while the store is in use (ReleaseMapped):
	// the service's resident set then holds what the last interval read,
	// not every page ever read.
	ReleaseEvery time.Duration
}

// Store is the bbolt-backed store. Its methods are safe for concurrent use.
type Store struct {
	// mu guards db against Close: every operation holds it shared, Close
	// and Check hold it exclusively.
	mu   sync.RWMutex
	db   *bolt.DB
	path string
	opts Options
	now  func() time.Time

	touchMu sync.Mutex
	touched map[string]time.Time
	// bg tracks background work (token last-use writes, filling the login
	// sets), so Close and Check wait for it; loops the goroutines that run
	// until Close.
	bg, loops sync.WaitGroup

	// unwritable is set when a commit failed for lack of disk (full,
	// read-only, I/O error). Writes then fail at once instead of each
	// waiting on a doomed fsync, and a probe clears it when a commit
	// succeeds again.
	unwritable atomic.Bool
	probing    atomic.Bool
	// probed is notified when a probe ends; rechecked after each run of
	// the recheck loop; filled is closed when the fill of the login sets
	// ends.
	probed, rechecked broadcast
	filled            chan struct{}
	closed            chan struct{}

	// released is when mapped pages were last given back (UnixNano).
	released atomic.Int64

	// used is set by every transaction since the last ReleaseEvery tick.
	used atomic.Bool

	// group shares commits between concurrent claims (batch).
	group *groupCommit

	// readers counts the read transactions in flight, eraseMu runs one
	// erasure at a time and rawMu keeps backups (which copy free pages)
	// out of an erasure's wipe: see doc.go, "Erasure".
	readers readerEpochs
	eraseMu sync.Mutex
	rawMu   sync.RWMutex

	// pendingAddrs, grantedUsers and grants are nil unless
	// Options.LoginSets.
	pendingAddrs, grantedUsers *keySet
	grants                     *grantCache
}

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

// Open opens (creating if needed) the store file at path. A file locked by
// another process is an Unavailable error within LockTimeout, never a hang.
func Open(path string, opts Options) (*Store, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		// A truncated file would crash bbolt with a bus error: refuse it.
		if err := VerifyFile(path); err != nil {
			return nil, err
		}
	}
	db, err := openDB(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path, opts: opts, now: opts.Now, touched: map[string]time.Time{}, closed: make(chan struct{}), group: &groupCommit{}}
	if !opts.ReadOnly {
		if err := s.init(); err != nil {
			db.Close()
			return nil, err
		}
	} else if err := s.checkSchema(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.LoginSets && !opts.ReadOnly {
		// Filled in the background: a start must not wait for a walk of
		// every record, and until it is filled logins read the records.
		// A walk that fails (a record it cannot read) leaves it so.
		s.pendingAddrs, s.grantedUsers, s.grants = &keySet{}, &keySet{}, &grantCache{}
		s.group.grants = s.grants
		s.filled = make(chan struct{})
		s.bg.Go(func() {
			defer close(s.filled)
			_ = s.fillSets()
		})
		every := recheckEvery // read here: tests set it around Open
		s.loops.Go(func() { s.recheckLoop(every) })
	}
	if opts.ReleaseEvery > 0 && !opts.ReadOnly {
		s.group.after = s.releaseAfterCommit
		s.loops.Go(s.releaseLoop)
	}
	return s, nil
}

// recheckEvery is how often removals from pendingAddrs that were refused
// are tried again (recheckPending), when there are any: a write
// transaction each time, shared with claims when there are some.
var recheckEvery = time.Second

// recheckLoop runs recheckPending every d once the fill has settled,
// until Close.
func (s *Store) recheckLoop(d time.Duration) {
	s.every(d, func() bool {
		if s.pendingAddrs.settled.Load() {
			_ = s.recheckPending(context.Background())
		}
		s.rechecked.notify()
		return true
	})
}

// releaseLoop calls ReleaseMapped every ReleaseEvery after a transaction
// ran, until Close.
func (s *Store) releaseLoop() {
	s.every(s.opts.ReleaseEvery, func() bool {
		if s.used.Swap(false) {
			_ = s.ReleaseMapped()
		}
		return true
	})
}

// every calls fn every d until Close or until fn returns false.
func (s *Store) every(d time.Duration, fn func() (more bool)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
			if !fn() {
				return
			}
		}
	}
}

// markUsed notes a transaction for releaseLoop; a load first, so that
// concurrent readers do not all write one cache line.
func (s *Store) markUsed() {
	if !s.used.Load() {
		s.used.Store(true)
	}
}

// regTx is newRegTx for this store's transactions: writes keep the
// sets in step.
func (s *Store) regTx(tx *bolt.Tx) *regTx {
	t := newRegTx(tx)
	t.pendingAddrs, t.grantedUsers, t.grants = s.pendingAddrs, s.grantedUsers, s.grants
	return t
}

func openDB(path string, opts Options) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		ReadOnly:     opts.ReadOnly,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
		// The freelist is written on every commit: without it, every open
		// walks every page of the file to rebuild it (seconds, and the
		// whole file pulled into memory, on a store of a million records).
		NoFreelistSync: false,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("the store %s is locked by another process (is prereg serve running? use --server to go through it)", path))
		}
		if errors.Is(err, os.ErrNotExist) && opts.ReadOnly {
			return nil, prereg.Wrap(prereg.NotFound, err, fmt.Sprintf("no store at %s", path))
		}
		return nil, prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("cannot open the store %s: %s", path, osCause(err)))
	}
	return db, nil
}

// osCause is the operating system's reason for a failed file operation
// ("permission denied", "no such file or directory"), without the path
// the caller names already.
func osCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Path is the file the store lives in.
func (s *Store) Path() string { return s.path }

// Close closes the file; operations after Close fail.
func (s *Store) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.bg.Wait()
	s.loops.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bMeta)
		v := meta.Get(keySchema)
		if v == nil {
			if tx.Bucket(bRecs).Stats().KeyN > 0 {
				return prereg.Errorf(prereg.Invalid, "%s has registrations but no schema version: not a prereg store", s.path)
			}
			return meta.Put(keySchema, be64(SchemaVersion))
		}
		have := binary.BigEndian.Uint64(v)
		if err := schemaError(s.path, have); err != nil {
			return err
		}
		if have < SchemaVersion {
			if err := migrate(tx, have); err != nil {
				return err
			}
			return meta.Put(keySchema, be64(SchemaVersion))
		}
		return nil
	})
}

func (s *Store) checkSchema() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return prereg.Errorf(prereg.Invalid, "%s is not a prereg store", s.path)
		}
		v := meta.Get(keySchema)
		if v == nil {
			return prereg.Errorf(prereg.Invalid, "%s has an unknown schema version", s.path)
		}
		return schemaError(s.path, binary.BigEndian.Uint64(v))
	})
}

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
