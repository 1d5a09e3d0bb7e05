package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Audit records an event that is not a registration write (token changes,
// backups, imports).
func (s *Store) Audit(ctx context.Context, actor string, action prereg.AuditAction, org, regID, summary string) error {
	_, err := s.commit(ctx, nil, []clientv3.Op{s.auditOp(s.now(), actor, action, org, regID, summary)})
	return err
}

// AuditTrail returns one page of the trail, newest first. Entries are
// keyed by orderedID, so key order is the order they were written in (on
// one replica; across replicas, as far as their clocks agree).
func (s *Store) AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	prefix := s.k(kAud)
	to := end(prefix)
	if f.Cursor != "" {
		pos, err := prereg.DecodeCursor(f.Cursor, cursorVersion, 'a')
		if err != nil || len(pos) == 0 {
			return nil, "", prereg.ErrBadCursor
		}
		to = prefix + string(pos) // the newest entry older than pos
	}
	var (
		items []prereg.AuditEntry
		next  string
		rev   int64
	)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(to), clientv3.WithLimit(pageSize), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		cctx, cancel := context.WithTimeout(ctx, scanTimeout)
		resp, err := s.cli.Get(cctx, prefix, opts...)
		cancel()
		if err != nil {
			return nil, "", translate(err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			var e prereg.AuditEntry
			if err := json.Unmarshal(kv.Value, &e); err != nil {
				return nil, "", fmt.Errorf("decode audit %q: %w", kv.Key, err)
			}
			if (f.OrganizationSet && e.OrganizationID != f.OrganizationID) || (f.Action != "" && e.Action != f.Action) {
				continue
			}
			if len(items) == f.Limit {
				last := items[len(items)-1].ID
				return items, prereg.EncodeCursor(append([]byte{cursorVersion, 'a'}, last[len("aud_"):]...)), nil
			}
			items = append(items, e)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return items, next, nil
		}
		to = string(resp.Kvs[len(resp.Kvs)-1].Key)
	}
}

// SaveImport keeps an import's report and records the import in the audit
// trail (one entry per import, not one per row).
func (s *Store) SaveImport(ctx context.Context, r prereg.ImportReport) error {
	ops := []clientv3.Op{clientv3.OpPut(s.k(kImp, r.ImportID), mustJSON(r))}
	if !r.DryRun {
		summary := fmt.Sprintf("import %s: %d rows, %d created, %d updated, %d unchanged, %d rejected", r.ImportID, r.Rows, r.Created, r.Updated, r.Unchanged, r.Rejected)
		ops = append(ops, s.auditOp(r.FinishedAt, r.Actor, prereg.AuditImported, r.OrganizationID, "", summary))
	}
	_, err := s.commit(ctx, nil, ops)
	return err
}

// Import returns a past import's report.
func (s *Store) Import(ctx context.Context, id string) (prereg.ImportReport, error) {
	var r prereg.ImportReport
	ok, _, err := s.getJSON(ctx, s.k(kImp, id), &r)
	if err == nil && !ok {
		err = prereg.Errorf(prereg.NotFound, "no import %s", prereg.Truncate(id))
	}
	return r, err
}

// Imports returns one page of past imports, newest (by finish time) first,
// and the cursor of the next page. Reports are few (one per import): it
// decodes the summary of each and sorts.
func (s *Store) Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error) {
	after, err := prereg.StartImports(&f, cursorVersion)
	if err != nil {
		return nil, "", err
	}
	var all []prereg.ImportSummary
	err = s.eachKV(ctx, s.k(kImp), 0, func(kv *mvccKV) error {
		var r prereg.ImportSummary
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return fmt.Errorf("decode import %q: %w", kv.Key, err)
		}
		if r.VisibleTo(f.Viewer) && (after == nil || bytes.Compare(prereg.ImportPos(&r), after) < 0) {
			all = append(all, r)
		}
		return nil
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
