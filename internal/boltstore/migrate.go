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
	seconds := map[prereg.Key]int64{}
	err := tx.Bucket(bByExpiry).ForEach(func(k, _ []byte) error {
		if len(k) != 9+prereg.KeySize {
			return fmt.Errorf("expiry index entry %x", k)
		}
		seconds[prereg.Key(keySuffix(k))] = int64(binary.BigEndian.Uint64(k[:8]))
		return nil
	})
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
	type fix struct {
		k prereg.Key
		r *prereg.Registration
	}
	var (
		moves    []fix
		rewrites [][2][]byte // key, record: repaired expiries
		entries  [][2][]byte // key, organization: the expiry index
	)
	c := t.recs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := decodeReg(v)
		if err != nil {
			return fmt.Errorf("decode record %x: %w", k, err)
		}
		key := prereg.Key(k)
		sec, indexed := seconds[key]
		repaired := indexed && repairExpiry(r, sec)
		if prereg.RegistrationKey(r.OrganizationID, r.Email) != key || r.ID != key.ID() {
			moves = append(moves, fix{key, r})
			continue
		}
		if repaired {
			raw, err := encodeReg(r)
			if err != nil {
				return err
			}
			rewrites = append(rewrites, [2][]byte{bytes.Clone(k), raw})
		}
		if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
			entries = append(entries, [2][]byte{expiryKey(*r.ExpiresAt, key), []byte(r.OrganizationID)})
		}
	}
	for _, w := range rewrites { // in key order, as read
		if err := t.recs.Put(w[0], w[1]); err != nil {
			return err
		}
	}
	// In key order: bbolt splits nodes only at commit, so keys put in
	// random order into one node move its whole content each time.
	slices.SortFunc(entries, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	for _, e := range entries {
		if err := exp.Put(e[0], e[1]); err != nil {
			return err
		}
	}
	ids := map[string]string{} // old ID -> new
	for _, f := range moves {
		// Out with the old key's entries, in under the new one.
		t.keys[f.r.ID] = f.k
		if err := t.delete(f.r); err != nil {
			return err
		}
		to := prereg.RegistrationKey(f.r.OrganizationID, f.r.Email)
		if t.recs.Get(to[:]) != nil {
			return fmt.Errorf("registration %s and another one share the key of %s", f.r.ID, prereg.MaskEmail(f.r.Email))
		}
		ids[f.r.ID] = to.ID()
		f.r.ID = to.ID()
		if err := t.putKey(to, nil, f.r); err != nil {
			return err
		}
	}
	if err := renameJobRegistrations(tx, ids); err != nil {
		return err
	}
	if tx.Bucket(bLegacyID4) == nil {
		return nil
	}
	return tx.DeleteBucket(bLegacyID4)
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
