package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// regTx bundles the buckets a registration write touches, so one write
// updates the record and every index in the same transaction.
//
// Records are keyed by an 8-byte big-endian sequence number, so new records
// append to the end of the main bucket and of every index range instead of
// landing at random places in the B+trees (which rewrote thousands of pages
// per import batch). Only two indexes take random keys: the registration ID
// (a hash, for lookups by ID) and the address (for the hook and upserts).
// Every index key ends with the record's 8-byte sequence.
type regTx struct {
	tx                                                    *bolt.Tx
	regs, ids, email, user, org, status, exp, count, sync *bolt.Bucket
	// seqs remembers the sequence of records read in this transaction, so
	// a read-modify-write does not look the ID up twice; loaded keeps the
	// decoded records of a read transaction (the hook reads a user's grants
	// and the address's registrations, often the same records).
	seqs   map[string][]byte
	loaded map[string]*prereg.Registration
}

// newRegTx opens the buckets the login hook reads; writes and listings
// open the rest with all() (opening a bucket is a B+tree lookup, and the
// hook is the hot path).
func newRegTx(tx *bolt.Tx) *regTx {
	t := &regTx{tx: tx, regs: tx.Bucket(bRegs), ids: tx.Bucket(bByID), email: tx.Bucket(bByEmail), user: tx.Bucket(bByUser)}
	if tx.Writable() {
		t.seqs = map[string][]byte{}
		t.all()
		// Appends dominate these buckets: fill pages before splitting.
		for _, b := range []*bolt.Bucket{t.regs, t.org, t.status} {
			b.FillPercent = 0.95
		}
	}
	return t
}

// all opens the buckets newRegTx left closed.
func (t *regTx) all() *regTx {
	if t.org == nil {
		t.org, t.status, t.exp = t.tx.Bucket(bByOrg), t.tx.Bucket(bByStatus), t.tx.Bucket(bByExpiry)
		t.count, t.sync = t.tx.Bucket(bCounts), t.tx.Bucket(bBySync)
	}
	return t
}

// get loads a registration by ID; nil when there is none.
func (t *regTx) get(id string) (*prereg.Registration, error) {
	seq := t.ids.Get([]byte(id))
	if seq == nil {
		return nil, nil
	}
	return t.load(seq)
}

// load reads the record stored under seq.
func (t *regTx) load(seq []byte) (*prereg.Registration, error) {
	if t.loaded != nil {
		if r, ok := t.loaded[string(seq)]; ok {
			c := *r
			return &c, nil
		}
	}
	raw := t.regs.Get(seq)
	if raw == nil {
		return nil, fmt.Errorf("record %x is missing", seq)
	}
	r, err := decodeReg(raw)
	if err != nil {
		return nil, fmt.Errorf("decode record %x: %w", seq, err)
	}
	if t.seqs != nil {
		t.seqs[r.ID] = append([]byte(nil), seq...)
	} else {
		if t.loaded == nil {
			t.loaded = map[string]*prereg.Registration{}
		}
		c := *r
		t.loaded[string(seq)] = &c
	}
	return r, nil
}

// seqSuffix returns the sequence an index key ends with.
func seqSuffix(k []byte) []byte { return k[len(k)-8:] }

func withSeq(prefix []byte, seq []byte) []byte {
	return append(prefix, seq...)
}

func expiryKey(at time.Time, seq []byte) []byte {
	k := make([]byte, 8, 17)
	binary.BigEndian.PutUint64(k, uint64(at.Unix()))
	k = append(k, 0)
	return append(k, seq...)
}

// put writes r over old (nil for a new record), keeping the indexes and
// counters in step. Statuses stored are pending, granted and revoked.
func (t *regTx) put(old *prereg.Registration, r *prereg.Registration) error {
	var seq []byte
	if old != nil {
		seq = t.seqs[old.ID]
		if seq == nil {
			if seq = t.ids.Get([]byte(old.ID)); seq == nil {
				return fmt.Errorf("registration %s has no record", old.ID)
			}
			seq = append([]byte(nil), seq...)
		}
	} else {
		n, err := t.regs.NextSequence()
		if err != nil {
			return err
		}
		seq = be64(n)
		if err := t.ids.Put([]byte(r.ID), seq); err != nil {
			return err
		}
		t.seqs[r.ID] = seq
	}
	raw, err := encodeReg(r)
	if err != nil {
		return err
	}
	if err := t.regs.Put(seq, raw); err != nil {
		return err
	}
	if old == nil {
		return t.index(r, seq)
	}
	return t.reindex(old, r, seq)
}

// reindex moves only the index entries that differ between old and r: a
// claim leaves the address entry alone, for instance, and every page left
// alone is a page the commit need not write.
func (t *regTx) reindex(old, r *prereg.Registration, seq []byte) error {
	before, after := t.indexKeys(old, seq), t.indexKeys(r, seq)
	same := func(a, b indexEntry) bool { return a.b == b.b && bytes.Equal(a.k, b.k) && bytes.Equal(a.v, b.v) }
	for _, e := range before {
		if !slices.ContainsFunc(after, func(x indexEntry) bool { return same(e, x) }) {
			if err := e.b.Delete(e.k); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, func(x indexEntry) bool { return same(e, x) }) {
			v := e.v
			if v == nil {
				v = []byte{}
			}
			if err := e.b.Put(e.k, v); err != nil {
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

// indexKeys lists the index entries of r: bucket, key and value.
func (t *regTx) indexKeys(r *prereg.Registration, seq []byte) []indexEntry {
	st := string(r.Status)
	out := []indexEntry{
		{t.email, withSeq(key(prereg.EmailKey(r.Email), r.OrganizationID, ""), seq), nil},
		{t.org, withSeq(key(r.OrganizationID, st, ""), seq), nil},
		{t.status, withSeq(key(st, ""), seq), nil},
	}
	if r.Status == prereg.StatusGranted {
		out = append(out, indexEntry{t.user, withSeq(key(r.GrantedTo, ""), seq), nil})
		if r.Sync != prereg.SyncNone {
			out = append(out, indexEntry{t.sync, withSeq(key(string(r.Sync), ""), seq), nil})
		}
	}
	if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
		out = append(out, indexEntry{t.exp, expiryKey(*r.ExpiresAt, seq), []byte(r.OrganizationID)})
	}
	return out
}

type indexEntry struct {
	b    *bolt.Bucket
	k, v []byte
}

func (t *regTx) index(r *prereg.Registration, seq []byte) error {
	for _, e := range t.indexKeys(r, seq) {
		v := e.v
		if v == nil {
			v = []byte{}
		}
		if err := e.b.Put(e.k, v); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, 1)
}

func (t *regTx) unindex(r *prereg.Registration, seq []byte) error {
	for _, e := range t.indexKeys(r, seq) {
		if err := e.b.Delete(e.k); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, -1)
}

func (t *regTx) delete(r *prereg.Registration) error {
	seq := t.seqs[r.ID]
	if seq == nil {
		if seq = t.ids.Get([]byte(r.ID)); seq == nil {
			return nil
		}
		seq = append([]byte(nil), seq...)
	}
	if err := t.unindex(r, seq); err != nil {
		return err
	}
	if err := t.ids.Delete([]byte(r.ID)); err != nil {
		return err
	}
	delete(t.seqs, r.ID)
	return t.regs.Delete(seq)
}

func (t *regTx) addCount(org string, st prereg.Status, d int64) error {
	k := key(org, string(st))
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

// Get returns one registration as it reads now (expired computed).
func (s *Store) Get(ctx context.Context, id string) (prereg.Registration, error) {
	var out prereg.Registration
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := newRegTx(tx).get(id)
		if err != nil {
			return err
		}
		if r == nil {
			return prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(id))
		}
		out = r.View(s.now())
		return nil
	})
	return out, err
}

// Put creates or updates one registration (CONTRACT §1); in must be
// normalised and valid. A write that conflicts with a granted record
// returns a Conflict error and the stored record.
func (s *Store) Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error) {
	var (
		out    prereg.Registration
		change prereg.Change
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		r, c, err := s.apply(newRegTx(tx), in, source, actor, true, false)
		out, change = r, c
		return err
	})
	if err != nil && prereg.ErrorCode(err) == prereg.Conflict {
		return out.View(s.now()), prereg.Rejected, err
	}
	return out.View(s.now()), change, err
}

// apply performs one write inside t. A conflict is returned as an error but
// leaves the transaction usable (nothing was written for that item).
func (s *Store) apply(t *regTx, in prereg.Input, source, actor string, audit, dryRun bool) (prereg.Registration, prereg.Change, error) {
	now := s.now().UTC()
	id := prereg.RegistrationID(in.OrganizationID, in.Email)
	old, err := t.get(id)
	if err != nil {
		return prereg.Registration{}, "", err
	}
	r, change, err := prereg.Apply(old, in, source, now)
	if err != nil || dryRun || change == prereg.Unchanged {
		return r, change, err
	}
	if err := t.put(old, &r); err != nil {
		return r, change, err
	}
	if audit {
		action := prereg.AuditCreated
		if change == prereg.Updated {
			action = prereg.AuditUpdated
		}
		summary := fmt.Sprintf("%s for %s with roles %s", change, prereg.MaskEmail(r.Email), strings.Join(r.Roles, "|"))
		if err := addAudit(t.tx, now, actor, action, r.OrganizationID, r.ID, summary); err != nil {
			return r, change, err
		}
	}
	return r, change, nil
}

// ApplyBatch writes (or, with dryRun, only evaluates) items in one
// transaction and reports each item's change in input order. Items are
// written in ID order so the B+tree pages fill sequentially.
func (s *Store) ApplyBatch(ctx context.Context, items []prereg.Input, source, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	order := make([]int, len(items))
	ids := make([]string, len(items))
	for i := range items {
		order[i] = i
		ids[i] = prereg.RegistrationID(items[i].OrganizationID, items[i].Email)
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(ids[a], ids[b]) })
	results := make([]prereg.WriteResult, len(items))
	audit := !strings.HasPrefix(source, "import:")
	fn := func(tx *bolt.Tx) error {
		t := newRegTx(tx)
		for _, i := range order {
			_, change, err := s.apply(t, items[i], source, actor, audit, dryRun)
			if err != nil && prereg.ErrorCode(err) != prereg.Conflict {
				return err
			}
			results[i] = prereg.WriteResult{ID: ids[i], Change: change, Err: err}
		}
		return nil
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
	return results, nil
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
		t := newRegTx(tx)
		old, err := t.get(id)
		if err != nil {
			return err
		}
		if old == nil {
			return prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(id))
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
			if s.opts.SyncEnabled && old.Sync != prereg.SyncNone {
				job, err := enqueue(tx, prereg.SyncJob{Kind: prereg.JobRevoke, RegistrationID: id, UserID: old.GrantedTo, OrganizationID: old.OrganizationID, Roles: old.Roles}, now)
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

// Filter selects registrations for List, Export and Stats.
type Filter struct {
	Status         prereg.Status
	OrganizationID string
	// OrganizationSet says OrganizationID is a filter even when empty
	// (tenant-wide registrations only).
	OrganizationSet bool
	Email           string // matched on the normalised key
	// Sync selects grants by Auth0 sync state (they are all granted).
	Sync   prereg.SyncState
	Limit  int
	Cursor string
}

// ErrBadCursor is returned for a cursor this store did not produce.
var errBadCursor = prereg.Errorf(prereg.Invalid, "cursor is not valid; start again without it")

// List returns one page of registrations in a stable order and the cursor
// of the next page ("" on the last). It walks the narrowest index the
// filter allows, so a page costs about Limit reads, not a scan.
func (s *Store) List(ctx context.Context, f Filter) ([]prereg.Registration, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	items := make([]prereg.Registration, 0, min(f.Limit, 1000))
	next := ""
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var last []byte
		return s.scan(tx, f, func(r *prereg.Registration, pos []byte) (bool, error) {
			if len(items) == f.Limit {
				// There is more: resume after the last item returned.
				next = encodeCursor(last)
				return false, nil
			}
			items = append(items, *r)
			last = append(last[:0], pos...)
			return true, nil
		})
	})
	return items, next, err
}

// Each calls fn for every registration matching f (Limit and Cursor are
// ignored), in the List order, inside one read transaction so the result is
// a consistent snapshot.
func (s *Store) Each(ctx context.Context, f Filter, fn func(prereg.Registration) error) error {
	f.Cursor = ""
	return s.view(ctx, func(tx *bolt.Tx) error {
		n := 0
		return s.scan(tx, f, func(r *prereg.Registration, _ []byte) (bool, error) {
			n++
			if n%1024 == 0 && ctx.Err() != nil {
				return false, ctx.Err()
			}
			return true, fn(*r)
		})
	})
}

// EachPending calls fn for every claimable-by-status registration: pending
// and not expired.
func (s *Store) EachPending(ctx context.Context, fn func(prereg.Registration) error) error {
	return s.Each(ctx, Filter{Status: prereg.StatusPending}, fn)
}

// scan visits matching records from f.Cursor on; visit gets the record (as
// it reads now) and the position to resume after it, and returns false to
// stop. The position is the index key just visited, so paging is stable
// while records are added or removed elsewhere.
func (s *Store) scan(tx *bolt.Tx, f Filter, visit func(r *prereg.Registration, pos []byte) (bool, error)) error {
	now := s.now()
	t := newRegTx(tx).all()
	// Stored status to walk: expired lives under pending.
	stored := f.Status
	if stored == prereg.StatusExpired {
		stored = prereg.StatusPending
	}
	var (
		b      *bolt.Bucket
		prefix []byte
		tag    byte // which walk a cursor belongs to
	)
	switch {
	case f.Sync != "":
		b, prefix, tag = t.sync, key(string(f.Sync), ""), 'y'
	case f.Email != "":
		b, prefix, tag = t.email, key(prereg.EmailKey(f.Email), ""), 'e'
	case f.OrganizationSet && stored != "":
		b, prefix, tag = t.org, key(f.OrganizationID, string(stored), ""), 'o'
	case f.OrganizationSet:
		b, prefix, tag = t.org, key(f.OrganizationID, ""), 'o'
	case stored != "":
		b, prefix, tag = t.status, key(string(stored), ""), 's'
	default:
		b, prefix, tag = t.regs, nil, 'r'
	}
	start := prefix
	if f.Cursor != "" {
		pos, err := decodeCursor(f.Cursor, tag)
		if err != nil || !bytes.HasPrefix(pos, prefix) {
			return errBadCursor
		}
		start = append(pos, 0) // the first key after pos
	}
	c := b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r *prereg.Registration
		var err error
		if b == t.regs {
			if r, err = decodeReg(v); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
		} else if r, err = t.load(seqSuffix(k)); err != nil {
			return err
		}
		view := r.View(now)
		if f.Status != "" && view.Status != f.Status {
			continue
		}
		if f.OrganizationSet && view.OrganizationID != f.OrganizationID {
			continue
		}
		if f.Sync != "" && view.Sync != f.Sync {
			continue
		}
		if f.Email != "" && prereg.EmailKey(view.Email) != prereg.EmailKey(f.Email) {
			continue
		}
		cont, err := visit(&view, append([]byte{cursorVersion, tag}, k...))
		if err != nil || !cont {
			return err
		}
	}
	return nil
}

// cursorVersion starts every cursor, so a later layout can tell old
// cursors apart.
const cursorVersion = 1

// Cursors are a version byte, a tag naming the walk, and the index position
// to resume after, base64url'd: opaque to callers. The tag and a prefix
// check on decode keep a cursor from one listing out of another.
func encodeCursor(pos []byte) string { return base64.RawURLEncoding.EncodeToString(pos) }

// decodeCursor returns the position of a cursor made for the walk tag.
func decodeCursor(s string, tag byte) ([]byte, error) {
	if len(s) > 2048 {
		return nil, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 2 || raw[0] != cursorVersion || raw[1] != tag {
		return nil, errBadCursor
	}
	return raw[2:], nil
}

// Counts are registration counts by status.
type Counts struct {
	Pending int64 `json:"pending"`
	Granted int64 `json:"granted"`
	Revoked int64 `json:"revoked"`
	Expired int64 `json:"expired"`
	Total   int64 `json:"total"`
}

func (c *Counts) add(st prereg.Status, n int64) {
	switch st {
	case prereg.StatusPending:
		c.Pending += n
	case prereg.StatusGranted:
		c.Granted += n
	case prereg.StatusRevoked:
		c.Revoked += n
	case prereg.StatusExpired:
		c.Expired += n
	}
	c.Total += n
}

// Stats are counts overall and per organization ("" is tenant-wide).
type Stats struct {
	Overall        Counts            `json:"overall"`
	ByOrganization map[string]Counts `json:"by_organization"`
}

// Stats counts registrations by status, for one organization when
// onlyOrg is set. It reads the counters kept on every write plus the expiry
// index up to now, never the records.
func (s *Store) Stats(ctx context.Context, org string, onlyOrg bool) (Stats, error) {
	st := Stats{ByOrganization: map[string]Counts{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bCounts).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			i := bytes.IndexByte(k, 0)
			o, status := string(k[:i]), prereg.Status(k[i+1:])
			if onlyOrg && o != org {
				continue
			}
			n := int64(binary.BigEndian.Uint64(v))
			cs := st.ByOrganization[o]
			cs.add(status, n)
			st.ByOrganization[o] = cs
		}
		now := uint64(s.now().Unix())
		ec := tx.Bucket(bByExpiry).Cursor()
		for k, v := ec.First(); k != nil && binary.BigEndian.Uint64(k[:8]) <= now; k, v = ec.Next() {
			o := string(v)
			if onlyOrg && o != org {
				continue
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
