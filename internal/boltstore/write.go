package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Put creates or updates one registration (CONTRACT §1); in must be
// normalised and valid. A write that conflicts with a granted record
// returns a Conflict error and the stored record.
func (s *Store) Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error) {
	var (
		out    prereg.Registration
		change prereg.Change
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		m := writeMode{now: s.now().UTC(), source: source, actor: actor, audit: true}
		r, c, err := s.applyAt(s.regTx(tx), m, prereg.RegistrationKey(in.OrganizationID, in.Email), in, nil)
		out, change = r, c
		return err
	})
	if err != nil && prereg.ErrorCode(err) == prereg.Conflict {
		return out.View(s.now()), prereg.Rejected, err
	}
	return out.View(s.now()), change, err
}

// writeMode is how writes are applied: when, from where and by whom,
// whether each gets an audit entry, and whether they are only evaluated.
type writeMode struct {
	now           time.Time
	source, actor string
	audit, dryRun bool
}

// applyAt performs one write inside t, of in under its key k (a batch
// derives the keys to sort by and reads the clock once); f, when set, is
// the record in becomes if k is new. A conflict is returned as an error
// but leaves the transaction usable (nothing was written for that item).
func (s *Store) applyAt(t *regTx, m writeMode, k prereg.Key, in prereg.Input, f *fresh) (prereg.Registration, prereg.Change, error) {
	now, dryRun := m.now, m.dryRun
	old, err := t.load(k[:])
	if err != nil {
		return prereg.Registration{}, "", err
	}
	var (
		r      prereg.Registration
		change prereg.Change
	)
	if old == nil && f != nil {
		r, change = f.r, prereg.Created
		if dryRun {
			return r, change, nil
		}
		if err := t.insert(k, &r, f.raw, f.entries); err != nil {
			return r, change, err
		}
	} else {
		r, change, err = prereg.ApplyKey(old, in, k, m.source, now)
		if err != nil || dryRun || change == prereg.Unchanged {
			return r, change, err
		}
		if err := t.putKey(k, old, &r); err != nil {
			return r, change, err
		}
	}
	if m.audit {
		action := prereg.AuditCreated
		if change == prereg.Updated {
			action = prereg.AuditUpdated
		}
		summary := fmt.Sprintf("%s for %s with roles %s", change, prereg.MaskEmail(r.Email), strings.Join(r.Roles, "|"))
		if err := addAudit(t.tx, now, m.actor, action, r.OrganizationID, r.ID, summary); err != nil {
			return r, change, err
		}
	}
	return r, change, nil
}

// ApplyBatch is PrepareBatch followed by Apply, for a caller that has one
// batch and nothing to overlap with its commit.
func (s *Store) ApplyBatch(ctx context.Context, items []prereg.Input, source, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	return s.PrepareBatch(items, nil, source).Apply(ctx, actor, dryRun)
}

// Prepared is a batch readied by PrepareBatch; Apply writes it.
type Prepared struct {
	s      *Store
	items  []prereg.Input
	keys   []prereg.Key
	fresh  []fresh
	order  []int // items in key order
	source string
	now    time.Time
}

// PrepareBatch does the part of writing items that needs no transaction:
// it derives their keys (unless the caller knows them: keys[i] must be
// items[i]'s prereg.RegistrationKey, or keys nil) and the record each
// becomes if it is new, on all cores. It touches no state, so an importer
// prepares its next batch while the store commits the current one.
func (s *Store) PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch {
	if keys != nil && len(keys) != len(items) {
		keys = nil // not this batch's keys: derive them
	}
	now := s.now().UTC()
	keys, fr := prepare(items, keys, source, now)
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return bytes.Compare(keys[a][:], keys[b][:]) })
	return &Prepared{s: s, items: items, keys: keys, fresh: fr, order: order, source: source, now: now}
}

var _ prereg.PreparedBatch = (*Prepared)(nil)

// Apply writes (or, with dryRun, only evaluates) the prepared batch in one
// transaction and reports each item's change in input order. Items are
// written in key order, so the pages they touch are few and adjacent; an
// import that hands over its rows in key order across batches (the
// importer does) appends to the B+tree instead of scattering over it.
func (p *Prepared) Apply(ctx context.Context, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	s, items, keys, fr, order, source, now := p.s, p.items, p.keys, p.fresh, p.order, p.source, p.now
	results := make([]prereg.WriteResult, len(items))
	m := writeMode{now: now, source: source, actor: actor, audit: !strings.HasPrefix(source, "import:"), dryRun: dryRun}
	fn := func(tx *bolt.Tx) error {
		t := s.regTx(tx)
		t.trackLast()
		if !dryRun {
			t.deferCounts()
			t.deferIndex()
			// Batches come in key order (imports): fill the pages they
			// append before splitting, or the file ends up half empty.
			t.recs.FillPercent = 0.9
		}
		for _, i := range order {
			var f *fresh
			if fr[i].raw != nil {
				f = &fr[i]
			}
			r, change, err := s.applyAt(t, m, keys[i], items[i], f)
			if err != nil && prereg.ErrorCode(err) != prereg.Conflict {
				return err
			}
			results[i] = prereg.WriteResult{ID: r.ID, Change: change, Status: r.Status, Err: err}
		}
		if dryRun {
			return nil
		}
		if err := t.flushIndex(); err != nil {
			return err
		}
		return t.flushCounts()
	}
	var err error
	if dryRun {
		err = s.view(ctx, fn)
	} else {
		err = s.update(ctx, fn)
	}
	if err != nil {
		return nil, err
	}
	// An import reads the edge of the tree it has just written, batch
	// after batch: without this its resident set grows with the file.
	s.releaseSoon()
	return results, nil
}

// fresh is a batch item prepared as the record it becomes when its key is
// not stored yet (the usual case in an import): the work that needs no
// store, done before the transaction.
type fresh struct {
	r       prereg.Registration
	raw     []byte
	entries []indexEntry
}

// prepare derives the items' keys (unless known) and their fresh records,
// spread over the cores, which takes that work off the one writer.
func prepare(items []prereg.Input, known []prereg.Key, source string, now time.Time) ([]prereg.Key, []fresh) {
	keys := known
	if keys == nil {
		keys = make([]prereg.Key, len(items))
	}
	fr := make([]fresh, len(items))
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if known == nil {
				keys[i] = prereg.RegistrationKey(items[i].OrganizationID, items[i].Email)
			}
			r, _, _ := prereg.ApplyKey(nil, items[i], keys[i], source, now) // a new record is always Created
			raw, err := encodeReg(&r)
			if err != nil {
				// Left unprepared: the transaction takes the slow path
				// and reports the error there.
				continue
			}
			fr[i] = fresh{r: r, raw: raw, entries: indexEntries(&r, keys[i])}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(items) < 512 || workers == 1 {
		work(0, len(items))
		return keys, fr
	}
	var wg sync.WaitGroup
	per := (len(items) + workers - 1) / workers
	for lo := 0; lo < len(items); lo += per {
		wg.Go(func() { work(lo, min(lo+per, len(items))) })
	}
	wg.Wait()
	return keys, fr
}

// Revoke revokes a registration and returns it. A granted one needs force
// (its granted_to is kept for the record, and with Auth0 sync on, a job
// removes the roles it assigned).
func (s *Store) Revoke(ctx context.Context, id string, force bool, actor string) (prereg.Registration, []prereg.SyncJob, error) {
	var (
		out  prereg.Registration
		jobs []prereg.SyncJob
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		jobs = nil
		t := s.regTx(tx)
		old, err := t.find(id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		out = *old
		switch old.Status {
		case prereg.StatusRevoked:
			out = old.View(now)
			return nil
		case prereg.StatusGranted:
			if !force {
				return prereg.Errorf(prereg.Conflict, "registration %s is granted to a user; revoke with force=true to take it back", id)
			}
			// A synced grant gets its revoke job even from a store opened
			// without sync (the CLI on the file): the service runs it later.
			if s.opts.SyncEnabled || old.Sync != prereg.SyncNone {
				job, err := enqueue(tx, prereg.RevokeJob(old), now)
				if err != nil {
					return err
				}
				jobs = append(jobs, job)
			}
		}
		out.Status = prereg.StatusRevoked
		out.UpdatedAt = now
		if err := t.put(old, &out); err != nil {
			return err
		}
		summary := "revoked"
		if old.Status == prereg.StatusGranted {
			summary = "force-revoked a grant to " + old.GrantedTo
		}
		return addAudit(tx, now, actor, prereg.AuditRevoked, out.OrganizationID, id, summary)
	})
	return out, jobs, err
}
