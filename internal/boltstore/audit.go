package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

func beUint(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// addAudit appends an entry in the caller's transaction: the trail holds
// exactly the changes that were committed.
func addAudit(tx *bolt.Tx, at time.Time, actor string, action prereg.AuditAction, org, regID, summary string) error {
	b := tx.Bucket(bAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e := prereg.AuditEntry{ID: fmt.Sprintf("aud_%016x", seq), At: at.UTC(), Actor: actor, Action: action, OrganizationID: org, RegistrationID: regID, Summary: summary}
	return putJSON(b, be64(seq), e)
}

// Audit records an event that is not a registration write (token changes,
// backups, imports).
func (s *Store) Audit(ctx context.Context, actor string, action prereg.AuditAction, org, regID, summary string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return addAudit(tx, s.now(), actor, action, org, regID, summary)
	})
}

// AuditTrail returns one page of the trail, newest first.
func (s *Store) AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var (
		items   []prereg.AuditEntry
		next    string
		lastKey []byte
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bAudit).Cursor()
		var k, v []byte
		if f.Cursor != "" {
			pos, err := prereg.DecodeCursor(f.Cursor, cursorVersion, 'a')
			if err != nil || len(pos) != 8 {
				return prereg.ErrBadCursor
			}
			// Resume at the newest entry older than pos.
			if k, _ = c.Seek(pos); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Last()
		}
		for ; k != nil; k, v = c.Prev() {
			var e prereg.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit %x: %w", k, err)
			}
			if f.OrganizationSet && e.OrganizationID != f.OrganizationID {
				continue
			}
			if f.Action != "" && e.Action != f.Action {
				continue
			}
			if len(items) == f.Limit {
				next = prereg.EncodeCursor(append([]byte{cursorVersion, 'a'}, lastKey...))
				return nil
			}
			items = append(items, e)
			lastKey = append(lastKey[:0], k...)
		}
		return nil
	})
	return items, next, err
}
