package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// keySet is one of the login sets, pendingAddrs or grantedUsers: a set of
// 56-bit key hashes. What they hold and the rule that keeps them correct:
// see "The login sets" in doc.go. A nil set is a disabled one.
type keySet struct {
	ready  atomic.Bool
	shards [256]keyShard

	// recheck holds the keys of removals to try again; settled is set once
	// the fill's own have been tried.
	recheckMu sync.Mutex
	recheck   map[uint64]struct{}
	settled   atomic.Bool
}

// keyShard is an open-addressing hash set of the 56-bit keys whose top
// byte is its index: the other 48 bits, with the top bit set so that 0
// means an empty slot. Keys are hashes already, so they index the table
// as they are: 8 bytes a key, none of it pointers for the garbage
// collector to scan.
type keyShard struct {
	mu    sync.RWMutex
	slots []uint64
	n     int
	// gen counts the adds (of new or present keys), so a removal decided
	// in a transaction can tell whether an add came after it.
	gen uint64
}

// keyMark is a removal decided in a transaction: the key and the
// generation of its shard at that time.
type keyMark struct {
	key, gen uint64
	set      bool
}

const keyPresent = 1 << 63

// prefixKey is the set key of an address prefix: its 7 bytes.
func prefixKey(prefix []byte) uint64 {
	var b [8]byte
	copy(b[1:], prefix[:prereg.EmailPrefixSize])
	return binary.BigEndian.Uint64(b[:])
}

// userSeed keys grantedUsers; the set lives in memory only, so a hash
// seeded per process will do.
var userSeed = maphash.MakeSeed()

// userKey is the set key of a user_id.
func userKey(userID string) uint64 { return maphash.String(userSeed, userID) >> 8 }

func (p *keySet) shard(k uint64) (*keyShard, uint64) {
	return &p.shards[byte(k>>48)], k&(1<<48-1) | keyPresent
}

// find returns the slot of w, or of the empty slot where it would go.
func (sh *keyShard) find(w uint64) (int, bool) {
	mask := len(sh.slots) - 1
	for i := int(w) & mask; ; i = (i + 1) & mask {
		switch sh.slots[i] {
		case w:
			return i, true
		case 0:
			return i, false
		}
	}
}

// has reports whether k may be in the file.
func (p *keySet) has(k uint64) bool {
	ok, _ := p.hasGen(k)
	return ok
}

// hasGen is has, with the generation of k's shard for unchanged.
func (p *keySet) hasGen(k uint64) (bool, uint64) {
	if p == nil || !p.ready.Load() {
		return true, 0
	}
	sh, w := p.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if sh.n == 0 {
		return false, sh.gen
	}
	_, ok := sh.find(w)
	return ok, sh.gen
}

// unchanged reports whether nothing was added to k's shard since hasGen
// returned gen: then k, absent then, was absent all along.
func (p *keySet) unchanged(k, gen uint64) bool {
	sh, _ := p.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.gen == gen
}

// add records that k is in the file.
func (p *keySet) add(k uint64) {
	if p == nil {
		return
	}
	sh, w := p.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.gen++
	if len(sh.slots) == 0 {
		sh.slots = make([]uint64, 16)
	}
	i, ok := sh.find(w)
	if ok {
		return
	}
	sh.slots[i] = w
	sh.n++
	if sh.n*4 > len(sh.slots)*3 {
		sh.grow()
	}
}

// grow doubles the table: linear probing slows down past 3/4 full.
func (sh *keyShard) grow() {
	old := sh.slots
	sh.slots = make([]uint64, 2*len(old))
	for _, w := range old {
		if w != 0 {
			i, _ := sh.find(w)
			sh.slots[i] = w
		}
	}
}

// mark notes, inside a write transaction, that k is no longer in the
// file; removeIf applies it once that transaction committed.
func (p *keySet) mark(k uint64) keyMark {
	if p == nil {
		return keyMark{}
	}
	sh, _ := p.shard(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return keyMark{key: k, gen: sh.gen, set: true}
}

// removeIf removes a marked key unless something was added to its shard
// since the mark: that add may have been a record with this key, written
// after the transaction that found none (a stale key is harmless, a
// missing one is not).
func (p *keySet) removeIf(m keyMark) {
	if p == nil || !m.set {
		return
	}
	if !p.ready.Load() {
		p.again(m.key) // the fill may add it back from an older snapshot
	}
	sh, w := p.shard(m.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != m.gen {
		p.again(m.key)
		return
	}
	if sh.n == 0 {
		return
	}
	i, ok := sh.find(w)
	if !ok {
		return
	}
	// Backward-shift deletion: move up every later entry of the run that
	// would otherwise no longer be reachable from its home slot.
	mask := len(sh.slots) - 1
	for j := (i + 1) & mask; sh.slots[j] != 0; j = (j + 1) & mask {
		home := int(sh.slots[j]) & mask
		// j's entry may move to i if i lies cyclically in [home, j).
		if (j-home)&mask >= (j-i)&mask {
			sh.slots[i] = sh.slots[j]
			i = j
		}
	}
	sh.slots[i] = 0
	sh.n--
}

// again remembers k for recheckPending.
func (p *keySet) again(k uint64) {
	p.recheckMu.Lock()
	defer p.recheckMu.Unlock()
	if p.recheck == nil {
		p.recheck = map[uint64]struct{}{}
	}
	p.recheck[k] = struct{}{}
}

// takeRecheck returns and forgets the keys again remembered.
func (p *keySet) takeRecheck() []uint64 {
	p.recheckMu.Lock()
	defer p.recheckMu.Unlock()
	out := make([]uint64, 0, len(p.recheck))
	for k := range p.recheck {
		out = append(out, k)
	}
	p.recheck = nil
	return out
}

// recheckPending tries again the removals from pendingAddrs that were
// refused or may have been undone by the fill: in a write transaction (so
// that no writer can add one of these addresses between its look and its
// commit, as for any removal), it looks for a pending record under each,
// and removes those without one once it committed, by removeIf's rule.
// It shares a grouped commit with claims when there are any.
func (s *Store) recheckPending(ctx context.Context) error {
	keys := s.pendingAddrs.takeRecheck()
	if len(keys) == 0 {
		return nil
	}
	var marks []keyMark
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		marks = marks[:0]
		t := s.regTx(tx)
		var prefix [8]byte
		for _, k := range keys {
			binary.BigEndian.PutUint64(prefix[:], k)
			m, err := t.noPendingUnder(prefix[1:])
			if err != nil {
				return err
			}
			if m.set {
				marks = append(marks, m)
			}
		}
		return nil
	})
	if err != nil {
		for _, k := range keys {
			s.pendingAddrs.again(k)
		}
		return err
	}
	for _, m := range marks {
		s.pendingAddrs.removeIf(m)
	}
	return nil
}

// size is the number of keys held.
func (p *keySet) size() int {
	n := 0
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.RLock()
		n += sh.n
		sh.mu.RUnlock()
	}
	return n
}

// noteRecord adds a record's key to the set it belongs in, before the
// commit that stores it.
func (t *regTx) noteRecord(k prereg.Key, r *prereg.Registration) {
	switch r.Status {
	case prereg.StatusPending:
		t.pendingAddrs.add(prefixKey(k[:]))
	case prereg.StatusGranted:
		t.grantedUsers.add(userKey(r.GrantedTo))
	}
}

// noPendingUnder returns a mark for prefix when no record under it is
// pending, as transaction t sees the records; an empty mark otherwise.
func (t *regTx) noPendingUnder(prefix []byte) (keyMark, error) {
	if t.pendingAddrs == nil {
		return keyMark{}, nil
	}
	m := t.pendingAddrs.mark(prefixKey(prefix))
	c := t.recs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		pending, err := recordPending(v)
		if err != nil {
			return keyMark{}, fmt.Errorf("read the status of record %x: %w", k, err)
		}
		if pending {
			return keyMark{}, nil
		}
	}
	return m, nil
}

var errClosing = errors.New("the store is closing")

// fillChunk is how many entries fillSets reads per transaction.
var fillChunk = 32768

// fillSets fills the sets from the file, then declares them ready. It
// stops early (leaving them not ready, so logins read the file) when the
// store closes.
//
// It reads in chunks, each in a transaction of its own, and gives the
// mapped pages back after each (ReleaseMapped, which must not run inside
// a read transaction): a walk of every record would otherwise map the
// whole file into the service. A record written meanwhile is added by its
// writer, so chunks seeing the file at different times miss nothing.
func (s *Store) fillSets() error {
	users := func(k, _ []byte) error {
		if len(k) > prereg.KeySize { // user_id, NUL, key
			s.grantedUsers.add(userKey(string(k[:len(k)-prereg.KeySize-1])))
		}
		return nil
	}
	recs := func(k, v []byte) error {
		pending, err := recordPending(v)
		if err != nil {
			return fmt.Errorf("read the status of record %x: %w", k, err)
		}
		if pending {
			s.pendingAddrs.add(prefixKey(k))
		}
		return nil
	}
	for _, b := range []struct {
		name []byte
		fn   func(k, v []byte) error
	}{{bByUser, users}, {bRecs, recs}} {
		var from []byte
		for {
			select {
			case <-s.closed:
				return errClosing
			default:
			}
			var done bool
			err := s.view(context.Background(), func(tx *bolt.Tx) error {
				c := tx.Bucket(b.name).Cursor()
				k, v := c.First()
				if from != nil {
					if k, v = c.Seek(from); bytes.Equal(k, from) {
						k, v = c.Next()
					}
				}
				for n := 0; k != nil && n < fillChunk; k, v = c.Next() {
					if err := b.fn(k, v); err != nil {
						return err
					}
					from = append(from[:0], k...)
					n++
				}
				done = k == nil
				return nil
			})
			if err != nil {
				return err
			}
			if err := s.ReleaseMapped(); err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	s.grantedUsers.ready.Store(true)
	s.pendingAddrs.ready.Store(true)
	err := s.recheckPending(context.Background())
	s.pendingAddrs.settled.Store(true)
	return err
}

// recordPending reads whether a stored record is pending without decoding
// the rest of it.
func recordPending(raw []byte) (bool, error) {
	if len(raw) == 0 || raw[0] != recordV1 && raw[0] != recordV2 {
		return false, errBadRecord
	}
	d := &recordReader{b: raw[1:]}
	for range 3 { // ID, address, organization
		d.view()
	}
	for n := d.uvarint(); n > 0 && d.err == nil; n-- { // roles
		d.view()
	}
	d.view() // connection
	st := d.view()
	return string(st) == string(prereg.StatusPending), d.err
}
