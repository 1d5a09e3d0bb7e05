package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
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
	bSessions  = []byte("sessions")    // sha256 of the cookie -> JSON console session
	allBuckets = [][]byte{bMeta, bRecs, bByUser, bByOrg, bByExpiry, bCounts, bTokens, bTokenHash, bJobs, bImports, bAudit, bVerify, bBySync, bSessions}

	keySchema = []byte("schema_version")
)

// Options tune a Store. The zero value suits a command that opens the file
// for one job; the service also sets LoginSets and ReleaseEvery.
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

	// removeOnClose is the temporary migrated copy OpenSource reads from.
	removeOnClose string
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
	err := s.db.Close()
	if s.removeOnClose != "" {
		os.Remove(s.removeOnClose)
	}
	return err
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
	have, err := s.schema()
	if err != nil {
		return err
	}
	return schemaError(s.path, have)
}

// schema is the schema version the file records.
func (s *Store) schema() (uint64, error) {
	var have uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta == nil {
			return prereg.Errorf(prereg.Invalid, "%s is not a prereg store", s.path)
		}
		v := meta.Get(keySchema)
		if v == nil {
			return prereg.Errorf(prereg.Invalid, "%s has an unknown schema version", s.path)
		}
		have = binary.BigEndian.Uint64(v)
		return nil
	})
	return have, err
}
