package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// SaveImport keeps an import's report and records the import in the audit
// trail (one entry per import, not one per row).
func (s *Store) SaveImport(ctx context.Context, r prereg.ImportReport) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bImports), []byte(r.ImportID), r); err != nil {
			return err
		}
		if r.DryRun {
			return nil
		}
		summary := fmt.Sprintf("import %s: %d rows, %d created, %d updated, %d unchanged, %d rejected", r.ImportID, r.Rows, r.Created, r.Updated, r.Unchanged, r.Rejected)
		return addAudit(tx, r.FinishedAt, r.Actor, prereg.AuditImported, r.OrganizationID, "", summary)
	})
}

// Import returns a past import's report.
func (s *Store) Import(ctx context.Context, id string) (prereg.ImportReport, error) {
	var r prereg.ImportReport
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bImports), []byte(id), &r)
		if err != nil {
			return err
		}
		if !ok {
			return prereg.Errorf(prereg.NotFound, "no import %s", prereg.Truncate(id))
		}
		return nil
	})
	return r, err
}
