package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Erase removes every registration of an address and every other trace of
// it from the store, and returns once no byte of the store file holds it
// (see the package documentation, "Erasure"). limitOrg, when set (an
// organization's token), confines the erasure to that organization's
// registrations, grants, jobs, audit entries and import reports.
func (s *Store) Erase(ctx context.Context, email, limitOrg, actor string) (prereg.Erasure, error) {
	if err := prereg.ValidateEmail(email); err != nil {
		return prereg.Erasure{Registrations: []string{}}, err
	}
	addr := prereg.LowerASCII(strings.TrimSpace(email))
	needles := prereg.EraseNeedles(addr)
	// One erasure at a time: wipeFreed relies on it (readers.synchronize).
	s.eraseMu.Lock()
	defer s.eraseMu.Unlock()
	var (
		out     prereg.Erasure
		settled keyMark
	)
	// What holds the address is searched for in a snapshot first, so
	// that the write transaction (which logins' claims wait for) only
	// revisits what was found there.
	var found *eraseFound
	err := s.view(ctx, func(tx *bolt.Tx) error {
		e := &eraser{t: s.regTx(tx).all(), org: limitOrg, addr: addr, needles: needles, erased: map[string]bool{}, collect: &eraseFound{keys: map[string][][]byte{}}}
		found = e.collect
		return e.run()
	})
	if err != nil {
		return prereg.Erasure{Registrations: []string{}}, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		e := &eraser{t: s.regTx(tx), org: limitOrg, addr: addr, needles: needles, erased: map[string]bool{}, now: s.now().UTC(), found: found}
		if err := e.run(); err != nil {
			return err
		}
		out, settled = e.out, e.settled
		if !out.Found() {
			return nil
		}
		summary := fmt.Sprintf("erasure: %d registrations, %d import reports, %d audit entries, %d grants, %d sync jobs, %d other traces",
			len(out.Registrations), out.ImportsScrubbed, out.AuditEntries, out.Grants, out.Jobs, out.Other)
		return addAudit(tx, e.now, actor, prereg.AuditErased, limitOrg, "", summary)
	})
	if out.Registrations == nil {
		out.Registrations = []string{}
	}
	if err != nil {
		return out, err
	}
	s.pendingAddrs.removeIf(settled)
	if err := s.wipeFreed(ctx, needles); err != nil {
		return out, err
	}
	return out, nil
}

// eraser is one erasure's search (collect set, in a read transaction)
// or its write transaction (found set: only what the search found is
// revisited, and the audit entries written since).
type eraser struct {
	t       *regTx
	org     string // the limited token's organization; "" for tenant-wide
	addr    string // the address, ASCII lower-cased
	needles [][]byte
	erased  map[string]bool // IDs of the registrations removed
	now     time.Time
	out     prereg.Erasure
	settled keyMark
	low     []byte // scratch for holds

	collect, found *eraseFound
}

// eraseFound is what an erasure's search found: by bucket (or "grants",
// "revoked" for records), the keys that may hold a trace.
type eraseFound struct {
	keys map[string][][]byte
	// auditLast is the newest audit entry the search saw.
	auditLast []byte
}

// candidates returns the keys the search found under name, or all keys
// from's iteration when there was no search.
func (e *eraser) candidates(name string) ([][]byte, bool) {
	if e.found == nil {
		return nil, false
	}
	return e.found.keys[name], true
}

// holds reports whether b holds one of needles in any ASCII letter case.
func (e *eraser) holds(b []byte, needles [][]byte) bool {
	e.low = prereg.LowerInto(e.low, b)
	for _, n := range needles {
		if bytes.Contains(e.low, n) {
			return true
		}
	}
	return false
}

// inScope reports whether something of organization org is the erasure's
// to change.
func (e *eraser) inScope(org string) bool { return e.org == "" || org == e.org }

func (e *eraser) run() error {
	steps := []func() error{e.registrations, e.grants, e.revoked, e.audit, e.jobs, e.imports}
	if e.org == "" {
		steps = append(steps, e.verifyMarks, e.tokens)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// registrations removes the address's registrations in scope.
func (e *eraser) registrations() error {
	t := e.t
	prefix := prereg.EmailPrefix(prereg.EmailKey(e.addr))
	var regs []*prereg.Registration
	c := t.recs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := t.decode(k, v)
		if err != nil {
			return err
		}
		if prereg.LowerASCII(strings.TrimSpace(r.Email)) == e.addr && e.inScope(r.OrganizationID) {
			regs = append(regs, r)
		}
	}
	for _, r := range regs {
		if e.collect != nil {
			e.erased[r.ID] = true
			continue
		}
		if err := t.delete(r); err != nil {
			return err
		}
		e.erased[r.ID] = true
		e.out.Registrations = append(e.out.Registrations, r.ID)
	}
	if e.collect != nil {
		return nil
	}
	// The service's memory of the address goes too (unless another
	// address shares its hash prefix, or another organization's
	// registration stays).
	var err error
	e.settled, err = t.noPendingUnder(prefix)
	return err
}

// grants gives the grants of user_ids holding the address (of other
// addresses: the address's own are gone) the user_id without it.
func (e *eraser) grants() error {
	if keys, ok := e.candidates("grants"); ok {
		return e.rewriteUsers(keys, "")
	}
	var keys [][]byte
	c := e.t.user.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > prereg.KeySize && e.holds(k[:len(k)-prereg.KeySize-1], e.needles[:1]) {
			keys = append(keys, bytes.Clone(keySuffix(k)))
		}
	}
	return e.rewriteUsers(keys, "grants")
}

// revoked does for revoked registrations (which keep granted_to but are
// in no user index) what grants does for granted ones.
func (e *eraser) revoked() error {
	if keys, ok := e.candidates("revoked"); ok {
		return e.rewriteUsers(keys, "")
	}
	class := orgClass(prereg.StatusRevoked)
	var keys [][]byte
	cc := e.t.count.Cursor()
	for ck, _ := cc.First(); ck != nil; ck, _ = cc.Next() {
		i := bytes.IndexByte(ck, 0)
		if i < 0 || string(ck[i+1:]) != string(prereg.StatusRevoked) || !e.inScope(string(ck[:i])) {
			continue
		}
		prefix := key(string(ck[:i]), class, "")
		c := e.t.org.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(keySuffix(k)))
		}
	}
	return e.rewriteUsers(keys, "revoked")
}

// rewriteUsers cuts the address out of the granted_to and sync error of
// the records under keys that hold it and are in scope; a search notes
// their keys under name instead.
func (e *eraser) rewriteUsers(keys [][]byte, name string) error {
	for _, k := range keys {
		r, err := e.t.load(k)
		if err != nil {
			return err
		}
		if r == nil || !e.inScope(r.OrganizationID) {
			continue
		}
		user, cutUser := prereg.ReplaceFold(r.GrantedTo, e.addr)
		syncErr, cutErr := prereg.ReplaceFold(r.SyncError, e.addr)
		if !cutUser && !cutErr {
			continue
		}
		if e.collect != nil {
			e.collect.keys[name] = append(e.collect.keys[name], k)
			continue
		}
		old := *r
		r.GrantedTo, r.SyncError = user, syncErr
		if err := e.t.put(&old, r); err != nil {
			return err
		}
		e.out.Grants++
	}
	return nil
}

// audit removes the entries of the removed registrations and cuts the
// address out of the summaries of the others in scope.
func (e *eraser) audit() error {
	return e.rewriteJSON(bAudit, func(raw []byte) ([]byte, bool, error) {
		var a prereg.AuditEntry
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, false, err
		}
		if !e.inScope(a.OrganizationID) {
			return raw, false, nil
		}
		if e.erased[a.RegistrationID] {
			return nil, true, nil
		}
		var cut1, cut2 bool
		a.Summary, cut1 = prereg.ReplaceFold(a.Summary, e.addr)
		a.Actor, cut2 = prereg.ReplaceFold(a.Actor, e.addr)
		if !cut1 && !cut2 {
			return raw, false, nil
		}
		out, err := json.Marshal(a)
		return out, true, err
	}, func(v []byte) bool { return e.mentionsErased(v) }, &e.out.AuditEntries)
}

// jobs removes the sync jobs in scope of the removed registrations or for
// a user_id holding the address: there is no one left to sync.
func (e *eraser) jobs() error {
	return e.rewriteJSON(bJobs, func(raw []byte) ([]byte, bool, error) {
		var j prereg.SyncJob
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, false, err
		}
		return nil, e.inScope(j.OrganizationID), nil
	}, func(v []byte) bool { return e.mentionsErased(v) }, &e.out.Jobs)
}

// imports cuts the address out of kept import reports in scope: row
// errors echo the offending value, which may hold the address.
func (e *eraser) imports() error {
	return e.rewriteJSON(bImports, func(raw []byte) ([]byte, bool, error) {
		var r prereg.ImportReport
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, false, err
		}
		if !e.inScope(r.OrganizationID) {
			return raw, false, nil
		}
		if !prereg.ScrubImport(&r, e.addr) {
			return raw, false, nil
		}
		out, err := json.Marshal(r)
		return out, true, err
	}, func([]byte) bool { return false }, &e.out.ImportsScrubbed)
}

// mentionsErased reports whether a stored JSON value names a removed
// registration.
func (e *eraser) mentionsErased(v []byte) bool {
	for id := range e.erased {
		if bytes.Contains(v, []byte(id)) {
			return true
		}
	}
	return false
}

// rewriteJSON runs fn on every value of bucket name that holds the
// address (or that also matches), deleting it when fn returns nil and
// putting what it returns otherwise; changed counts the values fn changed.
// A search only notes the keys of those values.
func (e *eraser) rewriteJSON(name []byte, fn func(raw []byte) ([]byte, bool, error), also func(v []byte) bool, changed *int) error {
	return e.rewrite(name, func(_, v []byte) bool { return e.holds(v, e.needles) || also(v) }, fn, changed)
}

// rewrite is rewriteJSON with the match on key and value given.
func (e *eraser) rewrite(name []byte, match func(k, v []byte) bool, fn func(raw []byte) ([]byte, bool, error), changed *int) error {
	b := e.t.tx.Bucket(name)
	type change struct{ k, v []byte }
	var changes []change
	visit := func(k, v []byte) error {
		if !match(k, v) {
			return nil
		}
		if e.collect != nil {
			e.collect.keys[string(name)] = append(e.collect.keys[string(name)], bytes.Clone(k))
			return nil
		}
		out, ok, err := fn(v)
		if err != nil {
			return fmt.Errorf("decode %s %s: %w", name, k, err)
		}
		if ok {
			changes = append(changes, change{bytes.Clone(k), out})
		}
		return nil
	}
	if err := e.each(b, name, visit); err != nil {
		return err
	}
	for _, c := range changes {
		var err error
		if c.v == nil {
			err = b.Delete(c.k)
		} else {
			err = b.Put(c.k, c.v)
		}
		if err != nil {
			return err
		}
	}
	*changed += len(changes)
	return nil
}

// each visits the values of bucket b (named name) that may hold a trace:
// all of them in a search; in the write transaction, those the search
// found and the audit entries written since.
func (e *eraser) each(b *bolt.Bucket, name []byte, visit func(k, v []byte) error) error {
	keys, ok := e.candidates(string(name))
	if !ok {
		if e.collect != nil && bytes.Equal(name, bAudit) {
			e.collect.auditLast, _ = b.Cursor().Last()
			e.collect.auditLast = bytes.Clone(e.collect.auditLast)
		}
		return b.ForEach(visit)
	}
	for _, k := range keys {
		if v := b.Get(k); v != nil {
			if err := visit(k, v); err != nil {
				return err
			}
		}
	}
	if !bytes.Equal(name, bAudit) {
		return nil
	}
	c := b.Cursor()
	k, v := c.First()
	if last := e.found.auditLast; last != nil {
		if k, v = c.Seek(last); bytes.Equal(k, last) {
			k, v = c.Next()
		}
	}
	for ; k != nil; k, v = c.Next() {
		if err := visit(k, v); err != nil {
			return err
		}
	}
	return nil
}

// verifyMarks forgets the verification emails sent to user_ids holding
// the address.
func (e *eraser) verifyMarks() error {
	return e.rewrite(bVerify, func(k, _ []byte) bool { return e.holds(k, e.needles[:1]) },
		func([]byte) ([]byte, bool, error) { return nil, true, nil }, &e.out.Other)
}

// tokens cuts the address out of token names.
func (e *eraser) tokens() error {
	return e.rewriteJSON(bTokens, func(raw []byte) ([]byte, bool, error) {
		var r tokenRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, false, err
		}
		var cut bool
		if r.Name, cut = prereg.ReplaceFold(r.Name, e.addr); !cut {
			return raw, false, nil
		}
		out, err := json.Marshal(r)
		return out, true, err
	}, func([]byte) bool { return false }, &e.out.Other)
}

// Backup writes a consistent copy of the store to w (a read transaction
// sees one snapshot while writers go on) and returns its size. It copies
// free pages too, so it waits for an erasure's wipe (wipeFreed) to end.
func (s *Store) Backup(ctx context.Context, w io.Writer, size func(n int64)) (int64, error) {
	s.rawMu.RLock()
	defer s.rawMu.RUnlock()
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
