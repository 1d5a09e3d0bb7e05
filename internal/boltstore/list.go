package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

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
				next = prereg.EncodeCursor(last)
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
		w.tag = 'm'
		return w.byOrg(f.OrganizationID)
	case stored != "":
		w.tag = 's'
		return w.byStatus(string(stored))
	default:
		b, prefix, w.tag = t.recs, nil, 'r'
	}
	from := prefix
	if f.Cursor != "" {
		pos, err := prereg.DecodeCursor(f.Cursor, cursorVersion, w.tag)
		if err != nil || !bytes.HasPrefix(pos, prefix) {
			return prereg.ErrBadCursor
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
		_, err := prereg.DecodeCursor(f.Cursor, cursorVersion, 'o')
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
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := w.record(b, k, v)
		if err != nil {
			return false, err
		}
		if r == nil {
			continue
		}
		view := r.View(w.now)
		if !w.matches(&view) {
			continue
		}
		cont, err := w.visit(&view, append([]byte{cursorVersion, w.tag}, k...))
		if err != nil || !cont {
			return false, err
		}
	}
	return true, nil
}

// record reads the registration the entry k, v of b stands for: the
// record itself in the records bucket, else the one the index entry points
// to. It returns nil for a grant of another organization, without reading.
func (w *walker) record(b *bolt.Bucket, k, v []byte) (*prereg.Registration, error) {
	if b == w.t.recs {
		r, err := decodeReg(v)
		if err != nil {
			return nil, fmt.Errorf("decode record %x: %w", k, err)
		}
		return r, nil
	}
	if b == w.t.user && w.f.OrganizationSet && !grantInOrg(v, w.f.OrganizationID) {
		return nil, nil
	}
	return w.t.indexed(k)
}

// matches reports whether view passes the filter.
func (w *walker) matches(view *prereg.Registration) bool {
	f := w.f
	switch {
	case f.Status != "" && view.Status != f.Status,
		f.OrganizationSet && view.OrganizationID != f.OrganizationID,
		f.Sync != "" && view.Sync != f.Sync,
		f.Email != "" && prereg.EmailKey(view.Email) != prereg.EmailKey(f.Email):
		return false
	}
	return true
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
		pos, err := prereg.DecodeCursor(w.f.Cursor, cursorVersion, w.tag)
		if err != nil {
			return prereg.ErrBadCursor
		}
		i := bytes.IndexByte(pos, 0)
		if i < 0 || !bytes.HasPrefix(pos[i+1:], key(status, "")) || len(pos) != i+1+len(status)+1+prereg.KeySize {
			return prereg.ErrBadCursor
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

// byOrg lists every record of one organization in key order, merging the
// parts of its index (see orgClass) as it goes: a record that moves
// between parts while a client pages (revoked, or reopened) keeps its
// place in the order, so it is listed once. Positions are the
// organization, NUL and the record's key.
func (w *walker) byOrg(org string) error {
	base := key(org, "")
	var after []byte
	if w.f.Cursor != "" {
		pos, err := prereg.DecodeCursor(w.f.Cursor, cursorVersion, w.tag)
		if err != nil || !bytes.HasPrefix(pos, base) || len(pos) != len(base)+prereg.KeySize {
			return prereg.ErrBadCursor
		}
		after = pos[len(base):]
	}
	var parts [2]orgPart
	for i, st := range []prereg.Status{prereg.StatusPending, prereg.StatusRevoked} {
		parts[i].open(w.t.org, key(org, orgClass(st), ""), after)
	}
	for {
		p := nextPart(&parts)
		if p == nil {
			return nil
		}
		ik, rk := p.k, p.k[len(p.prefix):]
		p.next()
		r, err := w.t.indexed(ik)
		if err != nil {
			return err
		}
		view := r.View(w.now)
		if !w.matches(&view) {
			continue
		}
		pos := append(append([]byte{cursorVersion, w.tag}, base...), rk...)
		if cont, err := w.visit(&view, pos); err != nil || !cont {
			return err
		}
	}
}

// orgPart is a cursor over one part of an organization's index.
type orgPart struct {
	c      *bolt.Cursor
	prefix []byte
	k      []byte // the current entry; nil past the part's end
}

// open places the cursor on the part's first entry after record key after
// (from the start when after is nil).
func (p *orgPart) open(b *bolt.Bucket, prefix, after []byte) {
	p.c, p.prefix = b.Cursor(), prefix
	seek := prefix
	if after != nil {
		seek = append(append(append([]byte(nil), prefix...), after...), 0)
	}
	p.k, _ = p.c.Seek(seek)
	p.stopAtEnd()
}

func (p *orgPart) next() {
	p.k, _ = p.c.Next()
	p.stopAtEnd()
}

func (p *orgPart) stopAtEnd() {
	if p.k != nil && !bytes.HasPrefix(p.k, p.prefix) {
		p.k = nil
	}
}

// nextPart returns the part whose current record key is the smallest, or
// nil when both are done.
func nextPart(parts *[2]orgPart) *orgPart {
	var best *orgPart
	for i := range parts {
		p := &parts[i]
		if p.k != nil && (best == nil || bytes.Compare(p.k[len(p.prefix):], best.k[len(best.prefix):]) < 0) {
			best = p
		}
	}
	return best
}

// cursorVersion starts every cursor, so a later layout can tell old
// cursors apart (2: schema 3's record keys).
const cursorVersion = 2
