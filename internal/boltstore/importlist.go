package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Imports returns one page of past imports, newest (by finish time) first,
// and the cursor of the next page. Reports are few (one per import) and
// kept under their ID, so it decodes the summary of each and sorts; the
// decode skips the row errors and warnings.
func (s *Store) Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error) {
	after, err := prereg.StartImports(&f, cursorVersion)
	if err != nil {
		return nil, "", err
	}
	var all []prereg.ImportSummary
	err = s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bImports).ForEach(func(k, v []byte) error {
			var r prereg.ImportSummary
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode import %s: %w", k, err)
			}
			if !r.VisibleTo(f.Viewer) {
				return nil
			}
			// A position is older than the cursor's when it sorts before it.
			if after != nil && bytes.Compare(prereg.ImportPos(&r), after) >= 0 {
				return nil
			}
			all = append(all, r)
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	page, pos := prereg.PageImports(all, f.Limit)
	next := ""
	if pos != nil {
		next = prereg.EncodeCursor(append([]byte{cursorVersion, 'i'}, pos...))
	}
	return page, next, nil
}
