package boltstore

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// keySuffix returns the record key an index key ends with.
func keySuffix(ik []byte) []byte { return ik[len(ik)-prereg.KeySize:] }

func withKey(prefix []byte, k prereg.Key) []byte {
	return append(prefix, k[:]...)
}

// expiryKey is the expiry index key of a record expiring at: its Unix
// second (expirySecond), a zero byte and its key.
func expiryKey(at time.Time, k prereg.Key) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9+prereg.KeySize), expirySecond(at))
	b = append(b, 0)
	return append(b, k[:]...)
}

// expirySecond is t's Unix second with the sign bit flipped, so that the
// index sorts times before 1970 (kept by stores of schema 4) first.
func expirySecond(t time.Time) uint64 { return uint64(t.Unix()) ^ 1<<63 }

// recordKey is the key r is stored under.
func (t *regTx) recordKey(r *prereg.Registration) prereg.Key {
	if k, ok := t.keys[r.ID]; ok {
		return k
	}
	k := prereg.RegistrationKey(r.OrganizationID, r.Email)
	if t.keys != nil {
		t.keys[r.ID] = k
	}
	return k
}

// put writes r over old (nil for a new record), keeping the indexes and
// counters in step. Statuses stored are pending, granted and revoked.
func (t *regTx) put(old *prereg.Registration, r *prereg.Registration) error {
	return t.putKey(t.recordKey(r), old, r)
}

// putKey is put for a caller that knows r's key.
func (t *regTx) putKey(k prereg.Key, old *prereg.Registration, r *prereg.Registration) error {
	raw, err := encodeReg(r)
	if err != nil {
		return err
	}
	if old == nil {
		return t.insert(k, r, raw, indexEntries(r, k))
	}
	t.noteRecord(k, r)
	t.dropGrants(old, r)
	if err := t.putRaw(k, raw); err != nil {
		return err
	}
	return t.reindex(old, r, k)
}

// putRaw stores an encoded record under k.
func (t *regTx) putRaw(k prereg.Key, raw []byte) error {
	if err := t.recs.Put(k[:], raw); err != nil {
		return err
	}
	if t.last != nil && bytes.Compare(k[:], t.last) > 0 {
		t.last = append(t.last[:0], k[:]...)
	}
	return nil
}

// insert stores a new record r, encoded as raw, with its index entries.
func (t *regTx) insert(k prereg.Key, r *prereg.Registration, raw []byte, entries []indexEntry) error {
	t.noteRecord(k, r)
	t.dropGrants(r)
	if err := t.putRaw(k, raw); err != nil {
		return err
	}
	for _, e := range entries {
		if err := t.indexOp(e, false); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, 1)
}

// reindex moves only the index entries that differ between old and r: a
// sync-state change leaves the organization entry alone, for instance,
// and every page left alone is a page the commit need not write.
func (t *regTx) reindex(old, r *prereg.Registration, k prereg.Key) error {
	before, after := indexEntries(old, k), indexEntries(r, k)
	same := func(a, b indexEntry) bool { return a.ix == b.ix && bytes.Equal(a.k, b.k) && bytes.Equal(a.v, b.v) }
	for _, e := range before {
		if !slices.ContainsFunc(after, func(x indexEntry) bool { return same(e, x) }) {
			if err := t.indexOp(e, true); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, func(x indexEntry) bool { return same(e, x) }) {
			if err := t.indexOp(e, false); err != nil {
				return err
			}
		}
	}
	if old.OrganizationID == r.OrganizationID && old.Status == r.Status {
		return nil
	}
	if err := t.addCount(old.OrganizationID, old.Status, -1); err != nil {
		return err
	}
	return t.addCount(r.OrganizationID, r.Status, 1)
}

// Index buckets, as indexEntry names them.
const (
	ixOrg = iota
	ixUser
	ixExpiry
	ixSync
)

// bucket returns the index bucket ix names.
func (t *regTx) bucket(ix int) *bolt.Bucket {
	switch ix {
	case ixOrg:
		return t.org
	case ixUser:
		return t.user
	case ixExpiry:
		return t.exp
	}
	return t.syncIx
}

// indexEntries lists the index entries of r: bucket, key and value. There
// is no status index: a listing by status walks the organization index,
// one organization at a time, guided by the counters, or for granted
// records the user index.
//
// The user index carries each grant's answer (ID, organization, roles,
// sync state), so that the login of an already granted user reads a few
// small entries there instead of records scattered over the file.
func indexEntries(r *prereg.Registration, k prereg.Key) []indexEntry {
	out := make([]indexEntry, 1, 3)
	out[0] = indexEntry{ixOrg, withKey(key(r.OrganizationID, orgClass(r.Status), ""), k), nil}
	if r.Status == prereg.StatusGranted {
		out = append(out, indexEntry{ixUser, withKey(key(r.GrantedTo, ""), k), encodeGrant(r)})
		if r.Sync != prereg.SyncNone {
			out = append(out, indexEntry{ixSync, withKey(key(string(r.Sync), ""), k), nil})
		}
	}
	if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
		out = append(out, indexEntry{ixExpiry, expiryKey(*r.ExpiresAt, k), []byte(r.OrganizationID)})
	}
	return out
}

// orgClass is the part of the organization index a record of stored
// status st is filed under. Pending and granted records share one, named
// "pending" as schema 3 named its pending part, so that a claim leaves the
// record's organization entry where it is instead of moving it (a delete
// and an insert at random places of the index), and so writes fewer
// pages. A listing of that part filters by the record's status, and one
// of granted records can walk the user index instead, which holds them.
func orgClass(st prereg.Status) string {
	if st == prereg.StatusGranted {
		return string(prereg.StatusPending)
	}
	return string(st)
}

type indexEntry struct {
	ix   int
	k, v []byte
}

// indexOp puts (or deletes) one index entry, or keeps it for flushIndex
// when the transaction defers index writes.
func (t *regTx) indexOp(e indexEntry, del bool) error {
	if t.ops != nil {
		t.ops = append(t.ops, deferredOp{e, del, len(t.ops)})
		return nil
	}
	b := t.bucket(e.ix)
	if del {
		return b.Delete(e.k)
	}
	if e.v == nil {
		e.v = []byte{}
	}
	return b.Put(e.k, e.v)
}

type deferredOp struct {
	indexEntry
	del bool
	seq int // order of the call, which settles ties
}

// deferIndex keeps index writes until flushIndex, which applies them in
// key order: a batch's records arrive in record-key order, which spreads
// their index entries over a hundred places of the organization index;
// sorted, consecutive writes land on the same page, whose path from the
// root is still in the CPU's cache.
func (t *regTx) deferIndex() { t.ops = make([]deferredOp, 0, 256) }

// flushIndex applies the deferred index writes. Writes to one key keep
// their order (a delete after a put of the same entry still wins).
func (t *regTx) flushIndex() error {
	ops := t.ops
	t.ops = nil
	slices.SortFunc(ops, func(a, b deferredOp) int {
		if a.ix != b.ix {
			return a.ix - b.ix
		}
		if c := bytes.Compare(a.k, b.k); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, op := range ops {
		if err := t.indexOp(op.indexEntry, op.del); err != nil {
			return err
		}
	}
	return nil
}

func (t *regTx) unindex(r *prereg.Registration, k prereg.Key) error {
	for _, e := range indexEntries(r, k) {
		if err := t.indexOp(e, true); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, -1)
}

func (t *regTx) delete(r *prereg.Registration) error {
	t.dropGrants(r)
	k := t.recordKey(r)
	if err := t.unindex(r, k); err != nil {
		return err
	}
	delete(t.keys, r.ID)
	return t.recs.Delete(k[:])
}

func (t *regTx) addCount(org string, st prereg.Status, d int64) error {
	k := key(org, string(st))
	if t.deltas != nil {
		t.deltas[string(k)] += d
		return nil
	}
	return t.writeCount(k, d)
}

func (t *regTx) writeCount(k []byte, d int64) error {
	var n int64
	if v := t.count.Get(k); v != nil {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += d
	if n <= 0 {
		return t.count.Delete(k)
	}
	return t.count.Put(k, be64(uint64(n)))
}

// deferCounts collects counter changes until flushCounts.
func (t *regTx) deferCounts() { t.deltas = map[string]int64{} }

// flushCounts writes the counter changes deferCounts collected.
func (t *regTx) flushCounts() error {
	ks := make([]string, 0, len(t.deltas))
	for k, d := range t.deltas {
		if d != 0 {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		if err := t.writeCount([]byte(k), t.deltas[k]); err != nil {
			return err
		}
	}
	t.deltas = nil
	return nil
}
