package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// regTx bundles the buckets a registration write touches, so one write
// updates the record and every index in the same transaction.
//
// Records are keyed by their prereg.Key: a hash of the address followed by
// a hash of the (organization, address) pair. Every registration of an
// address therefore sits in one short run of keys, which the login hook
// reads with a single prefix scan and no index; an ID is the key itself,
// base32-encoded; and an import written in key order fills pages front to
// back. The indexes (user, organization and status, expiry, sync state)
// are keys ending in the record's 15-byte key.
type regTx struct {
	tx                                  *bolt.Tx
	recs, user, org, exp, count, syncIx *bolt.Bucket
	// keys remembers the key of every record read in a write transaction
	// (by ID), so a read-modify-write hashes nothing twice.
	keys map[string]prereg.Key
	// deltas, when set, collects counter changes until flushCounts (a
	// batch of thousands of rows touches a handful of counters).
	deltas map[string]int64
	// ops, when set, collects index writes until flushIndex.
	ops []deferredOp
	// last, when set, is the greatest record key: a key beyond it cannot
	// be stored, so load needs no search. An import writes in key order,
	// so into a store it grows, most of its keys are beyond the last.
	last []byte
	// pendingAddrs and grantedUsers learn of every record written (see
	// keySet); grants forgets the users whose grants a write changes.
	pendingAddrs, grantedUsers *keySet
	grants                     *grantCache
}

// newRegTx opens the buckets the login hook reads; writes and listings
// open the rest with all() (opening a bucket is a B+tree lookup, and the
// hook is the hot path).
func newRegTx(tx *bolt.Tx) *regTx {
	t := &regTx{tx: tx, recs: tx.Bucket(bRecs), user: tx.Bucket(bByUser)}
	if tx.Writable() {
		t.keys = map[string]prereg.Key{}
		t.all()
		// Keys within an organization's range of the index mostly arrive
		// in order (imports are written in key order): fill pages before
		// splitting.
		t.org.FillPercent = 0.9
	}
	return t
}

// all opens the buckets newRegTx left closed.
func (t *regTx) all() *regTx {
	if t.org == nil {
		t.org, t.exp = t.tx.Bucket(bByOrg), t.tx.Bucket(bByExpiry)
		t.count, t.syncIx = t.tx.Bucket(bCounts), t.tx.Bucket(bBySync)
	}
	return t
}

// keyOf finds the key of an ID: an ID is its record's key.
func (t *regTx) keyOf(id string) (prereg.Key, bool) {
	if k, ok := t.keys[id]; ok {
		return k, true
	}
	return prereg.ParseKey(id)
}

// get loads a registration by ID; nil when there is none.
func (t *regTx) get(id string) (*prereg.Registration, error) {
	k, ok := t.keyOf(id)
	if !ok {
		return nil, nil
	}
	r, err := t.load(k[:])
	if r == nil || err != nil {
		return nil, err
	}
	if r.ID != id {
		// A string that decodes to some record's key without being its
		// ID: not found.
		return nil, nil
	}
	return r, nil
}

// find is get for a registration that must exist: a NotFound error
// otherwise.
func (t *regTx) find(id string) (*prereg.Registration, error) {
	r, err := t.get(id)
	if err == nil && r == nil {
		err = prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(id))
	}
	return r, err
}

// load reads the record stored under key k; nil when there is none.
func (t *regTx) load(k []byte) (*prereg.Registration, error) {
	if t.last != nil && bytes.Compare(k, t.last) > 0 {
		return nil, nil
	}
	raw := t.recs.Get(k)
	if raw == nil {
		return nil, nil
	}
	return t.decode(k, raw)
}

// trackLast makes load skip the search for keys beyond the greatest one.
func (t *regTx) trackLast() {
	k, _ := t.recs.Cursor().Last()
	t.last = append(make([]byte, 0, prereg.KeySize), k...)
	if k == nil {
		t.last = t.last[:0] // empty bucket: every key is beyond
	}
}

// decode decodes the record raw stored under k and remembers it.
func (t *regTx) decode(k, raw []byte) (*prereg.Registration, error) {
	r, err := decodeReg(raw)
	if err != nil {
		return nil, fmt.Errorf("decode record %x: %w", k, err)
	}
	if t.keys != nil {
		t.keys[r.ID] = prereg.Key(k)
	}
	return r, nil
}

// indexed loads the record an index entry points to; a missing one means
// the index and the records disagree, which is an error.
func (t *regTx) indexed(ik []byte) (*prereg.Registration, error) {
	k := keySuffix(ik)
	r, err := t.load(k)
	if err == nil && r == nil {
		err = fmt.Errorf("index entry %x points to no record", ik)
	}
	return r, err
}

// keySuffix returns the record key an index key ends with.
func keySuffix(ik []byte) []byte { return ik[len(ik)-prereg.KeySize:] }

func withKey(prefix []byte, k prereg.Key) []byte {
	return append(prefix, k[:]...)
}

// expiryKey is the expiry index key of a record expiring at: its Unix
// second (expirySecond), a zero byte and its key.
func expiryKey(at time.Time, k prereg.Key) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 9+prereg.KeySize), expirySecond(at))
	b = append(b, 0)
	return append(b, k[:]...)
}

// expirySecond is t's Unix second with the sign bit flipped, so that the
// index sorts times before 1970 (kept by stores of schema 4) first.
func expirySecond(t time.Time) uint64 { return uint64(t.Unix()) ^ 1<<63 }

// recordKey is the key r is stored under.
func (t *regTx) recordKey(r *prereg.Registration) prereg.Key {
	if k, ok := t.keys[r.ID]; ok {
		return k
	}
	k := prereg.RegistrationKey(r.OrganizationID, r.Email)
	if t.keys != nil {
		t.keys[r.ID] = k
	}
	return k
}

// put writes r over old (nil for a new record), keeping the indexes and
// counters in step. Statuses stored are pending, granted and revoked.
func (t *regTx) put(old *prereg.Registration, r *prereg.Registration) error {
	return t.putKey(t.recordKey(r), old, r)
}

// putKey is put for a caller that knows r's key.
func (t *regTx) putKey(k prereg.Key, old *prereg.Registration, r *prereg.Registration) error {
	raw, err := encodeReg(r)
	if err != nil {
		return err
	}
	if old == nil {
		return t.insert(k, r, raw, indexEntries(r, k))
	}
	t.noteRecord(k, r)
	t.dropGrants(old, r)
	if err := t.putRaw(k, raw); err != nil {
		return err
	}
	return t.reindex(old, r, k)
}

// putRaw stores an encoded record under k.
func (t *regTx) putRaw(k prereg.Key, raw []byte) error {
	if err := t.recs.Put(k[:], raw); err != nil {
		return err
	}
	if t.last != nil && bytes.Compare(k[:], t.last) > 0 {
		t.last = append(t.last[:0], k[:]...)
	}
	return nil
}

// insert stores a new record r, encoded as raw, with its index entries.
func (t *regTx) insert(k prereg.Key, r *prereg.Registration, raw []byte, entries []indexEntry) error {
	t.noteRecord(k, r)
	t.dropGrants(r)
	if err := t.putRaw(k, raw); err != nil {
		return err
	}
	for _, e := range entries {
		if err := t.indexOp(e, false); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, 1)
}

// reindex moves only the index entries that differ between old and r: a
// sync-state change leaves the organization entry alone, for instance,
// and every page left alone is a page the commit need not write.
func (t *regTx) reindex(old, r *prereg.Registration, k prereg.Key) error {
	before, after := indexEntries(old, k), indexEntries(r, k)
	same := func(a, b indexEntry) bool { return a.ix == b.ix && bytes.Equal(a.k, b.k) && bytes.Equal(a.v, b.v) }
	for _, e := range before {
		if !slices.ContainsFunc(after, func(x indexEntry) bool { return same(e, x) }) {
			if err := t.indexOp(e, true); err != nil {
				return err
			}
		}
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, func(x indexEntry) bool { return same(e, x) }) {
			if err := t.indexOp(e, false); err != nil {
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

// Index buckets, as indexEntry names them.
const (
	ixOrg = iota
	ixUser
	ixExpiry
	ixSync
)

// bucket returns the index bucket ix names.
func (t *regTx) bucket(ix int) *bolt.Bucket {
	switch ix {
	case ixOrg:
		return t.org
	case ixUser:
		return t.user
	case ixExpiry:
		return t.exp
	}
	return t.syncIx
}

// indexEntries lists the index entries of r: bucket, key and value. There
// is no status index: a listing by status walks the organization index,
// one organization at a time, guided by the counters, or for granted
// records the user index.
//
// The user index carries each grant's answer (ID, organization, roles,
// sync state), so that the login of an already granted user reads a few
// small entries there instead of records scattered over the file.
func indexEntries(r *prereg.Registration, k prereg.Key) []indexEntry {
	out := make([]indexEntry, 1, 3)
	out[0] = indexEntry{ixOrg, withKey(key(r.OrganizationID, orgClass(r.Status), ""), k), nil}
	if r.Status == prereg.StatusGranted {
		out = append(out, indexEntry{ixUser, withKey(key(r.GrantedTo, ""), k), encodeGrant(r)})
		if r.Sync != prereg.SyncNone {
			out = append(out, indexEntry{ixSync, withKey(key(string(r.Sync), ""), k), nil})
		}
	}
	if r.Status == prereg.StatusPending && r.ExpiresAt != nil {
		out = append(out, indexEntry{ixExpiry, expiryKey(*r.ExpiresAt, k), []byte(r.OrganizationID)})
	}
	return out
}

// orgClass is the part of the organization index a record of stored
// status st is filed under. Pending and granted records share one, named
// "pending" as schema 3 named its pending part, so that a claim leaves the
// record's organization entry where it is: moving it (a delete and an
// insert at random places of the index) made 3.8 of the 6.5 pages a grant
// wrote on a store of 1 M records, and a commit's time is its pages
// (issue 6; README, Performance). A listing of that part filters by the
// record's status, and a listing of granted records can walk the user
// index instead, which holds exactly them.
func orgClass(st prereg.Status) string {
	if st == prereg.StatusGranted {
		return string(prereg.StatusPending)
	}
	return string(st)
}

type indexEntry struct {
	ix   int
	k, v []byte
}

// indexOp puts (or deletes) one index entry, or keeps it for flushIndex
// when the transaction defers index writes.
func (t *regTx) indexOp(e indexEntry, del bool) error {
	if t.ops != nil {
		t.ops = append(t.ops, deferredOp{e, del, len(t.ops)})
		return nil
	}
	b := t.bucket(e.ix)
	if del {
		return b.Delete(e.k)
	}
	if e.v == nil {
		e.v = []byte{}
	}
	return b.Put(e.k, e.v)
}

type deferredOp struct {
	indexEntry
	del bool
	seq int // order of the call, which settles ties
}

// deferIndex keeps index writes until flushIndex, which applies them in
// key order: a batch's records arrive in record-key order, which spreads
// their index entries over a hundred places of the organization index;
// sorted, consecutive writes land on the same page, whose path from the
// root is still in the CPU's cache.
func (t *regTx) deferIndex() { t.ops = make([]deferredOp, 0, 256) }

// flushIndex applies the deferred index writes. Writes to one key keep
// their order (a delete after a put of the same entry still wins).
func (t *regTx) flushIndex() error {
	ops := t.ops
	t.ops = nil
	slices.SortFunc(ops, func(a, b deferredOp) int {
		if a.ix != b.ix {
			return a.ix - b.ix
		}
		if c := bytes.Compare(a.k, b.k); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	for _, op := range ops {
		if err := t.indexOp(op.indexEntry, op.del); err != nil {
			return err
		}
	}
	return nil
}

func (t *regTx) unindex(r *prereg.Registration, k prereg.Key) error {
	for _, e := range indexEntries(r, k) {
		if err := t.indexOp(e, true); err != nil {
			return err
		}
	}
	return t.addCount(r.OrganizationID, r.Status, -1)
}

func (t *regTx) delete(r *prereg.Registration) error {
	t.dropGrants(r)
	k := t.recordKey(r)
	if err := t.unindex(r, k); err != nil {
		return err
	}
	delete(t.keys, r.ID)
	return t.recs.Delete(k[:])
}

func (t *regTx) addCount(org string, st prereg.Status, d int64) error {
	k := key(org, string(st))
	if t.deltas != nil {
		t.deltas[string(k)] += d
		return nil
	}
	return t.writeCount(k, d)
}

func (t *regTx) writeCount(k []byte, d int64) error {
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

// deferCounts collects counter changes until flushCounts.
func (t *regTx) deferCounts() { t.deltas = map[string]int64{} }

// flushCounts writes the counter changes deferCounts collected.
func (t *regTx) flushCounts() error {
	ks := make([]string, 0, len(t.deltas))
	for k, d := range t.deltas {
		if d != 0 {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	for _, k := range ks {
		if err := t.writeCount([]byte(k), t.deltas[k]); err != nil {
			return err
		}
	}
	t.deltas = nil
	return nil
}

// Get returns one registration as it reads now (expired computed).
func (s *Store) Get(ctx context.Context, id string) (prereg.Registration, error) {
	var out prereg.Registration
	err := s.view(ctx, func(tx *bolt.Tx) error {
		r, err := s.regTx(tx).find(id)
		if err != nil {
			return err
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

// ApplyBatch writes (or, with dryRun, only evaluates) items in one
// transaction and reports each item's change in input order. Items are
// written in key order, so the pages they touch are few and adjacent; an
// import that hands over its rows in key order across batches (the
// importer does) appends to the B+tree instead of scattering over it.
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

// Apply writes (or, with dryRun, only evaluates) the prepared batch, as
// ApplyBatch does.
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
// spread over the cores: it would otherwise be a third of the one
// writer's time.
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
				job, err := enqueue(tx, prereg.SyncJob{Kind: prereg.JobRevoke, RegistrationID: id, UserID: old.GrantedTo, OrganizationID: old.OrganizationID, Roles: revokeRoles(old)}, now)
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

// revokeRoles are the roles a force-revoke removes: the role IDs the
// grant's sync assigned, or, for a grant synced before they were kept (or
// whose sync had not finished), its role names, resolved again. A grant
// made while sync was off assigned none, but its revoke job still takes it
// out of the user's app_metadata.
func revokeRoles(r *prereg.Registration) []string {
	switch {
	case r.Sync == prereg.SyncNone:
		return []string{}
	case r.SyncedRoleIDs != nil:
		return r.SyncedRoleIDs
	}
	return r.Roles
}

// ErrBadCursor is returned for a cursor this store did not produce.
var errBadCursor = prereg.Errorf(prereg.Invalid, "cursor is not valid; start again without it")

// List returns one page of registrations in a stable order and the cursor
// of the next page ("" on the last). It walks the narrowest index the
// filter allows, so a page costs about Limit reads, not a scan.
func (s *Store) List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error) {
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
func (s *Store) Each(ctx context.Context, f prereg.Filter, fn func(prereg.Registration) error) error {
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
	return s.Each(ctx, prereg.Filter{Status: prereg.StatusPending}, fn)
}

// scan visits matching records from f.Cursor on; visit gets the record (as
// it reads now) and the position to resume after it, and returns false to
// stop. The position is the key just visited, so paging is stable while
// records are added or removed elsewhere.
func (s *Store) scan(tx *bolt.Tx, f prereg.Filter, visit func(r *prereg.Registration, pos []byte) (bool, error)) error {
	now := s.now()
	t := s.regTx(tx).all()
	// Stored status to walk: expired lives under pending.
	stored := f.Status
	if stored == prereg.StatusExpired {
		stored = prereg.StatusPending
	}
	w := walker{t: t, now: now, f: f, visit: visit}
	var (
		b      *bolt.Bucket
		prefix []byte
	)
	switch {
	case f.Sync != "":
		b, prefix, w.tag = t.syncIx, key(string(f.Sync), ""), 'y'
	case f.Email != "":
		b, prefix, w.tag = t.recs, prereg.EmailPrefix(prereg.EmailKey(f.Email)), 'e'
	case stored == prereg.StatusGranted && !(f.OrganizationSet && t.orgWalkForGrants(f)):
		b, prefix, w.tag = t.user, nil, 'g'
	case f.OrganizationSet && stored != "":
		b, prefix, w.tag = t.org, key(f.OrganizationID, orgClass(stored), ""), 'o'
	case f.OrganizationSet:
		b, prefix, w.tag = t.org, key(f.OrganizationID, ""), 'o'
	case stored != "":
		w.tag = 's'
		return w.byStatus(string(stored))
	default:
		b, prefix, w.tag = t.recs, nil, 'r'
	}
	from := prefix
	if f.Cursor != "" {
		pos, err := decodeCursor(f.Cursor, w.tag)
		if err != nil || !bytes.HasPrefix(pos, prefix) {
			return errBadCursor
		}
		from = append(pos, 0) // the first key after pos
	}
	_, err := w.walk(b, prefix, from)
	return err
}

// orgWalkForGrants decides how one organization's granted records are
// listed: through its part of the organization index, where they sit among
// its pending ones (every record of that part is read), or through the
// user index, which holds every grant of every organization (only the
// organization's are read). The counters say which is shorter. A cursor
// keeps the walk that made it, whatever the counters say by then.
func (t *regTx) orgWalkForGrants(f prereg.Filter) bool {
	if f.Cursor != "" {
		_, err := decodeCursor(f.Cursor, 'o')
		return err == nil
	}
	var part, grants uint64
	c := t.count.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(v) != 8 {
			continue
		}
		n, status := binary.BigEndian.Uint64(v), prereg.Status(k[i+1:])
		if status == prereg.StatusGranted {
			grants += n
		}
		if string(k[:i]) == f.OrganizationID && orgClass(status) == orgClass(prereg.StatusGranted) {
			part += n
		}
	}
	return part <= grants
}

// walker runs one listing: the filter, the visitor, and the cursor tag its
// positions carry.
type walker struct {
	t     *regTx
	now   time.Time
	f     prereg.Filter
	tag   byte
	visit func(r *prereg.Registration, pos []byte) (bool, error)
}

// walk visits the keys of b under prefix from from on; it reports whether
// the visitor wants more.
func (w *walker) walk(b *bolt.Bucket, prefix, from []byte) (bool, error) {
	f := w.f
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var r *prereg.Registration
		var err error
		if b == w.t.recs {
			if r, err = decodeReg(v); err != nil {
				return false, fmt.Errorf("decode record %x: %w", k, err)
			}
		} else {
			if b == w.t.user && f.OrganizationSet && !grantInOrg(v, f.OrganizationID) {
				continue // another organization's grant: no record read
			}
			if r, err = w.t.indexed(k); err != nil {
				return false, err
			}
		}
		view := r.View(w.now)
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
		cont, err := w.visit(&view, append([]byte{cursorVersion, w.tag}, k...))
		if err != nil || !cont {
			return false, err
		}
	}
	return true, nil
}

// byStatus lists one stored status across organizations: the counters
// name every organization that has records of it, in order, and each
// one's range of the organization index holds them. Positions are
// organization-index keys, so a cursor resumes inside its organization.
func (w *walker) byStatus(status string) error {
	var (
		fromOrg []byte
		from    []byte
	)
	if w.f.Cursor != "" {
		pos, err := decodeCursor(w.f.Cursor, w.tag)
		if err != nil {
			return errBadCursor
		}
		i := bytes.IndexByte(pos, 0)
		if i < 0 || !bytes.HasPrefix(pos[i+1:], key(status, "")) || len(pos) != i+1+len(status)+1+prereg.KeySize {
			return errBadCursor
		}
		fromOrg, from = pos[:i], append(pos, 0)
	}
	cc := w.t.count.Cursor()
	for ck, _ := cc.Seek(fromOrg); ck != nil; ck, _ = cc.Next() {
		i := bytes.IndexByte(ck, 0)
		if i < 0 || string(ck[i+1:]) != status {
			continue
		}
		prefix := key(string(ck[:i]), status, "")
		start := prefix
		if from != nil && bytes.Equal(ck[:i], fromOrg) {
			start = from
		}
		cont, err := w.walk(w.t.org, prefix, start)
		if err != nil || !cont {
			return err
		}
	}
	return nil
}

// cursorVersion starts every cursor, so a later layout can tell old
// cursors apart (2: schema 3's record keys).
const cursorVersion = 2

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
