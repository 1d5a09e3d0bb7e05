package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// migrate4 brings a schema 4 store to schema 5, where three things
// changed:
//   - a record's key hashes prereg.EmailKey's ASCII-only fold (schema 4
//     folded Unicode case): a record whose address that changes moves to
//     its new key and keeps its ID, which the legacy table then maps;
//   - records are written as recordV2: a pending record whose expiry
//     recordV1 wrapped (outside 1678 to 2262, or exactly 1970-01-01, which
//     read as none) gets it back, from the expiry index that held its true
//     Unix second;
//   - the expiry index sorts by expirySecond, so it is rewritten.
//
// Records of other statuses have no index entry to recover a wrapped
// expiry from; they keep what recordV1 reads.
func migrate4(tx *bolt.Tx) error {
	seconds := map[prereg.Key]int64{}
	err := tx.Bucket(bByExpiry).ForEach(func(k, _ []byte) error {
		if len(k) != 9+prereg.KeySize {
			return fmt.Errorf("migrate schema 4 to %d: expiry index entry %x", SchemaVersion, k)
		}
		seconds[prereg.Key(keySuffix(k))] = int64(binary.BigEndian.Uint64(k[:8]))
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bByExpiry); err != nil {
		return fmt.Errorf("migrate schema 4 to %d: %w", SchemaVersion, err)
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
			return fmt.Errorf("migrate schema 4 to %d: decode record %x: %w", SchemaVersion, k, err)
		}
		key := prereg.Key(k)
		sec, indexed := seconds[key]
		repaired := indexed && repairExpiry(r, sec)
		if prereg.RegistrationKey(r.OrganizationID, r.Email) != key {
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
	for _, f := range moves {
		// Out with the old key's entries, in under the new one.
		t.keys[f.r.ID] = f.k
		if err := t.delete(f.r); err != nil {
			return fmt.Errorf("migrate schema 4 to %d: %w", SchemaVersion, err)
		}
		to := prereg.RegistrationKey(f.r.OrganizationID, f.r.Email)
		t.keys[f.r.ID] = to
		if t.recs.Get(to[:]) != nil {
			return fmt.Errorf("migrate schema 4 to %d: registration %s and another one share the key of %s", SchemaVersion, f.r.ID, prereg.MaskEmail(f.r.Email))
		}
		if err := t.put(nil, f.r); err != nil {
			return fmt.Errorf("migrate schema 4 to %d: %w", SchemaVersion, err)
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
