package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// oldestSchema is the oldest layout Open still migrates. Earlier ones
// were never released; Open refuses them (schemaError).
const oldestSchema = 4

// migrations[i] brings a store of schema oldestSchema+i to the next one,
// so SchemaVersion is oldestSchema+len(migrations).
var migrations = []func(tx *bolt.Tx) error{migrate4}

// migrate upgrades a store of schema from to SchemaVersion, one step at a
// time. It runs at open inside the one transaction that also creates any
// new bucket, so a failed migration leaves the file exactly as it was.
func migrate(tx *bolt.Tx, from uint64) error {
	for v := from; v < SchemaVersion; v++ {
		if err := migrations[v-oldestSchema](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}

// schemaError is nil when this code opens a store of schema have, and
// otherwise says why not and what to do.
func schemaError(path string, have uint64) error {
	switch {
	case have > SchemaVersion:
		return prereg.Errorf(prereg.Unavailable, "the store %s was written by a newer prereg (schema %d, this one knows %d): upgrade prereg", path, have, SchemaVersion)
	case have < oldestSchema:
		return prereg.Errorf(prereg.Unavailable, "the store %s has schema %d, which this version cannot open (the oldest it opens is %d); that layout was never released: export it with the prereg that wrote it and import the CSV into a new store", path, have, oldestSchema)
	}
	return nil
}

// migrate4 brings a schema 4 store to schema 5, where four things
// changed:
//   - a record's key hashes prereg.EmailKey's ASCII-only fold (schema 4
//     folded Unicode case): a record whose address that changes moves to
//     its new key, and as an ID is its key, takes the new one as ID; sync
//     jobs that name the old ID are rewritten to name the new one;
//   - records are written as recordV2: a pending record whose expiry
//     recordV1 wrapped (outside 1678 to 2262, or exactly 1970-01-01, which
//     read as none) gets it back, from the expiry index that held its true
//     Unix second;
//   - the expiry index sorts by expirySecond, so it is rewritten;
//   - the table of IDs that were not keys is gone: a record that had such
//     an ID takes its key as ID, like a moved one.
//
// Records of other statuses have no index entry to recover a wrapped
// expiry from; they keep what recordV1 reads.
func migrate4(tx *bolt.Tx) error {
	seconds, err := expirySeconds4(tx)
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bByExpiry); err != nil {
		return err
	}
	exp, err := tx.CreateBucket(bByExpiry)
	if err != nil {
		return err
	}
	t := newRegTx(tx)
	p, err := plan4(t, seconds)
	if err != nil {
		return err
	}
	if err := p.write(t, exp); err != nil {
		return err
	}
	ids, err := p.move(t)
	if err != nil {
		return err
	}
	if err := renameJobRegistrations(tx, ids); err != nil {
		return err
	}
	if tx.Bucket(bLegacyID4) == nil {
		return nil
	}
	return tx.DeleteBucket(bLegacyID4)
}

// expirySeconds4 reads the true Unix second of every entry of schema 4's
// expiry index, by record key.
func expirySeconds4(tx *bolt.Tx) (map[prereg.Key]int64, error) {
	seconds := map[prereg.Key]int64{}
	err := tx.Bucket(bByExpiry).ForEach(func(k, _ []byte) error {
		if len(k) != 9+prereg.KeySize {
			return fmt.Errorf("expiry index entry %x", k)
		}
		seconds[prereg.Key(keySuffix(k))] = int64(binary.BigEndian.Uint64(k[:8]))
		return nil
	})
	return seconds, err
}

// migration4 is what migrate4 found to change, collected while reading
// the records so that none is written under the cursor.
type migration4 struct {
	moves    []move4
	rewrites [][2][]byte // key, record: repaired expiries
	entries  [][2][]byte // key, organization: the expiry index
}

// move4 is a record stored under a key (or ID) that is not its own.
type move4 struct {
	k prereg.Key
	r *prereg.Registration
}

// plan4 reads every record in key order and collects what migrate4 fixes.
func plan4(t *regTx, seconds map[prereg.Key]int64) (*migration4, error) {
	p := &migration4{}
	c := t.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := p.add(k, v, seconds); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// add plans the fixes of the record v stored under k.
func (p *migration4) add(k, v []byte, seconds map[prereg.Key]int64) error {
	r, err := decodeReg(v)
	if err != nil {
		return fmt.Errorf("decode record %x: %w", k, err)
	}
	key := prereg.Key(k)
	sec, indexed := seconds[key]
	repaired := indexed && repairExpiry(r, sec)
	if prereg.RegistrationKey(r.OrganizationID, r.Email) != key || r.ID != key.ID() {
		p.moves = append(p.moves, move4{key, r})
		return nil
	}
	if repaired {
		raw, err := encodeReg(r)
		if err != nil {
			return err
		}
		p.rewrites = append(p.rewrites, [2][]byte{bytes.Clone(k), raw})
	}
	if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
		p.entries = append(p.entries, [2][]byte{expiryKey(*r.ExpiresAt, key), []byte(r.OrganizationID)})
	}
	return nil
}

// write stores the repaired records and the new expiry index.
func (p *migration4) write(t *regTx, exp *bolt.Bucket) error {
	for _, w := range p.rewrites { // in key order, as read
		if err := t.recs.Put(w[0], w[1]); err != nil {
			return err
		}
	}
	// In key order: bbolt splits nodes only at commit, so keys put in
	// random order into one node move its whole content each time.
	slices.SortFunc(p.entries, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	for _, e := range p.entries {
		if err := exp.Put(e[0], e[1]); err != nil {
			return err
		}
	}
	return nil
}

// move stores each moved record under its own key, with that key as its
// ID, and returns the new ID of each old one.
func (p *migration4) move(t *regTx) (map[string]string, error) {
	ids := map[string]string{} // old ID -> new
	for _, f := range p.moves {
		// Out with the old key's entries, in under the new one.
		t.keys[f.r.ID] = f.k
		if err := t.delete(f.r); err != nil {
			return nil, err
		}
		to := prereg.RegistrationKey(f.r.OrganizationID, f.r.Email)
		if t.recs.Get(to[:]) != nil {
			return nil, fmt.Errorf("registration %s and another one share the key of %s", f.r.ID, prereg.MaskEmail(f.r.Email))
		}
		ids[f.r.ID] = to.ID()
		f.r.ID = to.ID()
		if err := t.putKey(to, nil, f.r); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// bLegacyID4 is schema 4's table of IDs that were not keys (ID -> key).
var bLegacyID4 = []byte("idx_legacy_id")

// renameJobRegistrations makes the sync jobs that name a registration by
// an old ID of ids name it by its new one.
func renameJobRegistrations(tx *bolt.Tx, ids map[string]string) error {
	if len(ids) == 0 {
		return nil
	}
	jobs := tx.Bucket(bJobs)
	type job struct {
		k []byte
		j prereg.SyncJob
	}
	var renamed []job
	err := jobs.ForEach(func(k, v []byte) error {
		var j prereg.SyncJob
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("decode job %s: %w", k, err)
		}
		if id, ok := ids[j.RegistrationID]; ok {
			j.RegistrationID = id
			renamed = append(renamed, job{bytes.Clone(k), j})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range renamed {
		if err := putJSON(jobs, r.k, r.j); err != nil {
			return err
		}
	}
	return nil
}

// repairExpiry gives r back the expiry recordV1 wrapped, given its true
// Unix second sec from the expiry index, and reports whether it changed.
// recordV1 held the expiry's Unix nanoseconds modulo 2^64 (0 for none), so
// the nanoseconds within sec are that value minus sec·10^9, modulo 2^64.
func repairExpiry(r *prereg.Registration, sec int64) bool {
	var stored uint64
	if r.ExpiresAt != nil {
		if r.ExpiresAt.Unix() == sec {
			return false
		}
		stored = uint64(r.ExpiresAt.UnixNano())
	}
	nsec := stored - uint64(sec)*uint64(time.Second)
	if nsec >= uint64(time.Second) {
		return false // the index disagrees otherwise: keep what the record says
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	r.ExpiresAt = &t
	return true
}
