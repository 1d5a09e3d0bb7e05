package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Stats counts registrations by status, for one organization when the
// filter names one. It reads the counters kept on every write plus the expiry
// index up to now, never the records.
func (s *Store) Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error) {
	st := prereg.Stats{ByOrganization: map[string]prereg.Counts{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bCounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := bytes.IndexByte(k, 0)
			o, status := string(k[:i]), prereg.Status(k[i+1:])
			if f.OrganizationSet && o != f.OrganizationID {
				continue
			}
			n := int64(binary.BigEndian.Uint64(v))
			cs := st.ByOrganization[o]
			cs.Add(status, n)
			st.ByOrganization[o] = cs
		}
		now := s.now()
		nowSec := expirySecond(now)
		t := newRegTx(tx)
		ec := tx.Bucket(bByExpiry).Cursor()
		for k, v := ec.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= nowSec; k, v = ec.Next() {
			o := string(v)
			if f.OrganizationSet && o != f.OrganizationID {
				continue
			}
			if binary.BigEndian.Uint64(k[:8]) == nowSec {
				// Expiring within this second: the record's nanoseconds
				// decide, as they do for the list and the hook.
				r, err := t.indexed(k)
				if err != nil {
					return err
				}
				if r.EffectiveStatus(now) != prereg.StatusExpired {
					continue
				}
			}
			cs := st.ByOrganization[o]
			cs.Pending--
			cs.Expired++
			st.ByOrganization[o] = cs
		}
		return nil
	})
	for _, cs := range st.ByOrganization {
		st.Overall.Pending += cs.Pending
		st.Overall.Granted += cs.Granted
		st.Overall.Revoked += cs.Revoked
		st.Overall.Expired += cs.Expired
		st.Overall.Total += cs.Total
	}
	return st, err
}
