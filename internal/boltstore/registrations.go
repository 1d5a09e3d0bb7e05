package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// regTx bundles the buckets a registration write touches, so one write
// updates the record and every index in the same transaction (key layout:
// see "Keys and records" in doc.go).
type regTx struct {
	tx                                  *bolt.Tx
	recs, user, org, exp, count, syncIx *bolt.Bucket
	// keys remembers the key of every record read in a write transaction
	// (by ID), so a read-modify-write hashes nothing twice.
	keys map[string]prereg.Key
	// deltas, when set, collects counter changes until flushCounts (a
	// batch of thousands of rows touches a handful of counters).
	deltas map[string]int64
	// ops, when set, collects index writes until flushIndex.
	ops []deferredOp
	// last, when set, is the greatest record key: a key beyond it cannot
	// be stored, so load needs no search. An import writes in key order,
	// so into a store it grows, most of its keys are beyond the last.
	last []byte
	// pendingAddrs and grantedUsers learn of every record written (see
	// keySet); grants forgets the users whose grants a write changes.
	pendingAddrs, grantedUsers *keySet
	grants                     *grantCache
}

// newRegTx opens the buckets the login hook reads; writes and listings
// open the rest with all() (opening a bucket is a B+tree lookup, and the
// hook is the hot path).
func newRegTx(tx *bolt.Tx) *regTx {
	t := &regTx{tx: tx, recs: tx.Bucket(bRecs), user: tx.Bucket(bByUser)}
	if tx.Writable() {
		t.keys = map[string]prereg.Key{}
		t.all()
		// Keys within an organization's range of the index mostly arrive
		// in order (imports are written in key order): fill pages before
		// splitting.
		t.org.FillPercent = 0.9
	}
	return t
}

// all opens the buckets newRegTx left closed.
func (t *regTx) all() *regTx {
	if t.org == nil {
		t.org, t.exp = t.tx.Bucket(bByOrg), t.tx.Bucket(bByExpiry)
		t.count, t.syncIx = t.tx.Bucket(bCounts), t.tx.Bucket(bBySync)
	}
	return t
}

// keyOf finds the key of an ID: an ID is its record's key.
func (t *regTx) keyOf(id string) (prereg.Key, bool) {
	if k, ok := t.keys[id]; ok {
		return k, true
	}
	return prereg.ParseKey(id)
}

// get loads a registration by ID; nil when there is none.
func (t *regTx) get(id string) (*prereg.Registration, error) {
	k, ok := t.keyOf(id)
	if !ok {
		return nil, nil
	}
	r, err := t.load(k[:])
	if r == nil || err != nil {
		return nil, err
	}
	if r.ID != id {
		// A string that decodes to some record's key without being its
		// ID: not found.
		return nil, nil
	}
	return r, nil
}

// find is get for a registration that must exist: a NotFound error
// otherwise.
func (t *regTx) find(id string) (*prereg.Registration, error) {
	r, err := t.get(id)
	if err == nil && r == nil {
		err = prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(id))
	}
	return r, err
}

// load reads the record stored under key k; nil when there is none.
func (t *regTx) load(k []byte) (*prereg.Registration, error) {
	if t.last != nil && bytes.Compare(k, t.last) > 0 {
		return nil, nil
	}
	raw := t.recs.Get(k)
	if raw == nil {
		return nil, nil
	}
	return t.decode(k, raw)
}

// trackLast makes load skip the search for keys beyond the greatest one.
func (t *regTx) trackLast() {
	k, _ := t.recs.Cursor().Last()
	t.last = append(make([]byte, 0, prereg.KeySize), k...)
	if k == nil {
		t.last = t.last[:0] // empty bucket: every key is beyond
	}
}

// decode decodes the record raw stored under k and remembers it.
func (t *regTx) decode(k, raw []byte) (*prereg.Registration, error) {
	r, err := decodeReg(raw)
	if err != nil {
		return nil, fmt.Errorf("decode record %x: %w", k, err)
	}
	if t.keys != nil {
		t.keys[r.ID] = prereg.Key(k)
	}
	return r, nil
}

// indexed loads the record an index entry points to; a missing one means
// the index and the records disagree, which is an error.
func (t *regTx) indexed(ik []byte) (*prereg.Registration, error) {
	k := keySuffix(ik)
	r, err := t.load(k)
	if err == nil && r == nil {
		err = fmt.Errorf("index entry %x points to no record", ik)
	}
	return r, err
}

// Get returns one registration as it reads now (expired computed).
func (s *Store) Get(ctx context.Context, id string) (prereg.Registration, error) {
	var out prereg.Registration
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := s.regTx(tx).find(id)
		if err != nil {
			return err
		}
		out = r.View(s.now())
		return nil
	})
	return out, err
}
