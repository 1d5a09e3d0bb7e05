package etcdstore

import (
	"bytes"
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// pageSize is how many keys one read of a walk fetches.
const pageSize = 500

// List returns one page of registrations in a stable order and the cursor
// of the next page ("" on the last). It walks the narrowest index the
// filter allows, at one revision.
func (s *Store) List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	items := make([]prereg.Registration, 0, min(f.Limit, 1000))
	next := ""
	var last []byte
	err := s.scanN(ctx, f, int64(f.Limit)+1, func(r *prereg.Registration, pos []byte) (bool, error) {
		if len(items) == f.Limit {
			next = prereg.EncodeCursor(last)
			return false, nil
		}
		items = append(items, *r)
		last = append(last[:0], pos...)
		return true, nil
	})
	return items, next, err
}

// Each calls fn for every registration matching f (Limit and Cursor are
// ignored), in the List order, all read at one revision: a consistent
// snapshot.
func (s *Store) Each(ctx context.Context, f prereg.Filter, fn func(prereg.Registration) error) error {
	f.Cursor = ""
	return s.scan(ctx, f, func(r *prereg.Registration, _ []byte) (bool, error) {
		return true, fn(*r)
	})
}

// EachPending calls fn for every pending, unexpired registration.
func (s *Store) EachPending(ctx context.Context, fn func(prereg.Registration) error) error {
	return s.Each(ctx, prereg.Filter{Status: prereg.StatusPending}, fn)
}

// walker runs one listing: the filter, the visitor, the revision every
// page is read at, and the cursor tag its positions carry.
type walker struct {
	s     *Store
	ctx   context.Context
	now   time.Time
	f     prereg.Filter
	rev   int64
	n     int64 // keys per read
	tag   byte
	visit func(r *prereg.Registration, pos []byte) (bool, error)
}

// scan visits matching records from f.Cursor on; visit gets the record
// (as it reads now) and the position to resume after it.
func (s *Store) scan(ctx context.Context, f prereg.Filter, visit func(r *prereg.Registration, pos []byte) (bool, error)) error {
	return s.scanN(ctx, f, pageSize, visit)
}

// scanN is scan reading n keys at a time (a page of a listing needs
// little more than its limit).
func (s *Store) scanN(ctx context.Context, f prereg.Filter, n int64, visit func(r *prereg.Registration, pos []byte) (bool, error)) error {
	w := &walker{s: s, ctx: ctx, now: s.now(), f: f, visit: visit, n: min(n, pageSize)}
	stored := f.Status
	if stored == prereg.StatusExpired {
		stored = prereg.StatusPending
	}
	var (
		prefix string
		direct bool
	)
	switch {
	case f.Sync != "":
		prefix, w.tag = s.k(kSync, string(f.Sync), "\x00"), 'y'
	case f.Email != "":
		prefix, w.tag, direct = s.k(kRec, string(prereg.EmailPrefix(prereg.EmailKey(f.Email)))), 'e', true
	case f.OrganizationSet && stored != "":
		prefix, w.tag = s.k(kOrg, f.OrganizationID, "\x00", string(stored), "\x00"), 'o'
	case f.OrganizationSet:
		w.tag = 'm'
		return w.byOrg()
	case stored != "":
		w.tag = 's'
		return w.byStatus(string(stored))
	default:
		prefix, w.tag, direct = s.k(kRec), 'r', true
	}
	from := prefix
	if f.Cursor != "" {
		pos, err := prereg.DecodeCursor(f.Cursor, cursorVersion, w.tag)
		if err != nil || !strings.HasPrefix(s.p+string(pos), prefix) {
			return prereg.ErrBadCursor
		}
		from = s.p + string(pos) + "\x00"
	}
	_, err := w.walk(from, end(prefix), direct)
	return err
}

// page reads up to n keys from from to end at the walk's revision (the
// first read fixes it).
func (w *walker) page(from, to string, n int64) ([]*mvccKV, bool, error) {
	ctx, cancel := context.WithTimeout(w.ctx, scanTimeout)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithRange(to), clientv3.WithLimit(n)}
	if w.rev != 0 {
		opts = append(opts, clientv3.WithRev(w.rev))
	}
	resp, err := w.s.cli.Get(ctx, from, opts...)
	if err != nil {
		return nil, false, translate(err)
	}
	if w.rev == 0 {
		w.rev = resp.Header.Revision
	}
	return resp.Kvs, resp.More, nil
}

// walk visits the keys from from to to: records themselves when direct,
// else index entries whose records it reads. It reports whether the
// visitor wants more.
func (w *walker) walk(from, to string, direct bool) (bool, error) {
	for {
		kvs, more, err := w.page(from, to, w.n)
		if err != nil {
			return false, err
		}
		// Filtered walks read further the next time.
		w.n = min(2*w.n, pageSize)
		recs, err := w.records(kvs, direct)
		if err != nil {
			return false, err
		}
		for i, r := range recs {
			if cont, err := w.offer(r, []byte(kvs[i].Key[len(w.s.p):])); err != nil || !cont {
				return false, err
			}
		}
		if !more || len(kvs) == 0 {
			return true, nil
		}
		from = string(kvs[len(kvs)-1].Key) + "\x00"
	}
}

// offer visits r when it passes the filter.
func (w *walker) offer(r *prereg.Registration, pos []byte) (bool, error) {
	view := r.View(w.now)
	f := w.f
	switch {
	case f.Status != "" && view.Status != f.Status,
		f.OrganizationSet && view.OrganizationID != f.OrganizationID,
		f.Sync != "" && view.Sync != f.Sync,
		f.Email != "" && prereg.EmailKey(view.Email) != prereg.EmailKey(f.Email):
		return true, nil
	}
	if err := w.ctx.Err(); err != nil {
		return false, translate(err)
	}
	return w.visit(&view, append([]byte{cursorVersion, w.tag}, pos...))
}

// records decodes the records kvs are (direct) or point to, read at the
// walk's revision: an index entry whose record is missing is an error.
func (w *walker) records(kvs []*mvccKV, direct bool) ([]*prereg.Registration, error) {
	out := make([]*prereg.Registration, len(kvs))
	if direct {
		for i, kv := range kvs {
			r, err := decodeReg(kv.Value)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	keys := make([]prereg.Key, len(kvs))
	for i, kv := range kvs {
		keys[i], _ = keyTail(kv.Key)
	}
	return w.s.loadAt(w.ctx, keys, w.rev)
}

// loadAt reads the records under keys at revision rev (0: now); every
// one must exist.
func (s *Store) loadAt(ctx context.Context, keys []prereg.Key, rev int64) ([]*prereg.Registration, error) {
	out := make([]*prereg.Registration, 0, len(keys))
	for lo := 0; lo < len(keys); lo += maxOps {
		part := keys[lo:min(lo+maxOps, len(keys))]
		ops := make([]clientv3.Op, len(part))
		for i, k := range part {
			if rev != 0 {
				ops[i] = clientv3.OpGet(s.recKey(k), clientv3.WithRev(rev))
			} else {
				ops[i] = clientv3.OpGet(s.recKey(k))
			}
		}
		cctx, cancel := context.WithTimeout(ctx, scanTimeout)
		resp, err := s.cli.Txn(cctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return nil, translate(err)
		}
		for i, rr := range resp.Responses {
			kvs := rr.GetResponseRange().Kvs
			if len(kvs) != 1 {
				return nil, prereg.Errorf(prereg.Internal, "an index entry points to no record (key %x)", part[i][:])
			}
			r, err := decodeReg(kvs[0].Value)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// byStatus lists one stored status across organizations: the register of
// organizations names them in order, and each one's range of the
// organization index holds its records. Positions are organization index
// keys, so a cursor resumes inside its organization.
func (w *walker) byStatus(status string) error {
	s := w.s
	var fromOrg, from string
	if w.f.Cursor != "" {
		pos, err := prereg.DecodeCursor(w.f.Cursor, cursorVersion, w.tag)
		if err != nil || !bytes.HasPrefix(pos, []byte(kOrg)) {
			return prereg.ErrBadCursor
		}
		org, rest, ok := strings.Cut(string(pos[len(kOrg):]), "\x00")
		if !ok || !strings.HasPrefix(rest, status+"\x00") || len(rest) != len(status)+1+prereg.KeySize {
			return prereg.ErrBadCursor
		}
		fromOrg, from = org, s.p+string(pos)+"\x00"
	}
	orgs, err := w.orgs(fromOrg)
	if err != nil {
		return err
	}
	for _, org := range orgs {
		prefix := s.k(kOrg, org, "\x00", status, "\x00")
		start := prefix
		if from != "" && org == fromOrg {
			start = from
		}
		cont, err := w.walk(start, end(prefix), false)
		if err != nil || !cont {
			return err
		}
	}
	return nil
}

// orgs returns the registered organizations from from on, in order.
func (w *walker) orgs(from string) ([]string, error) {
	prefix := w.s.k(kOrgs)
	var out []string
	start := prefix + from
	for {
		kvs, more, err := w.page(start, end(prefix), pageSize)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			out = append(out, string(kv.Key[len(prefix):]))
		}
		if !more || len(kvs) == 0 {
			return out, nil
		}
		start = string(kvs[len(kvs)-1].Key) + "\x00"
	}
}

// byOrg lists every record of one organization in key order, merging the
// parts of its index (one per stored status) as it goes: a record that
// moves between parts while a client pages (revoked, or reopened) keeps
// its place in the order, so it is listed once. Positions are the
// organization, NUL and the record's key.
func (w *walker) byOrg() error {
	s, org := w.s, w.f.OrganizationID
	base := kOrg + org + "\x00"
	var after string
	if w.f.Cursor != "" {
		pos, err := prereg.DecodeCursor(w.f.Cursor, cursorVersion, w.tag)
		if err != nil || !bytes.HasPrefix(pos, []byte(base)) || len(pos) != len(base)+prereg.KeySize {
			return prereg.ErrBadCursor
		}
		after = string(pos[len(base):])
	}
	parts := make([]orgPart, len(storedStatuses))
	for i, st := range storedStatuses {
		prefix := s.k(base, string(st), "\x00")
		parts[i] = orgPart{w: w, from: prefix, to: end(prefix)}
		if after != "" {
			parts[i].from = prefix + after + "\x00"
		}
	}
	for {
		// The next entries in key order across the parts, then their
		// records in one read.
		var (
			batch []*mvccKV
			pos   [][]byte
		)
		for int64(len(batch)) < w.n {
			var best *orgPart
			for i := range parts {
				p := &parts[i]
				if err := p.fill(); err != nil {
					return err
				}
				if len(p.buf) > 0 && (best == nil || bytes.Compare(p.head(), best.head()) < 0) {
					best = p
				}
			}
			if best == nil {
				break
			}
			rk := best.head()
			batch = append(batch, best.buf[0])
			pos = append(pos, []byte(base+string(rk)))
			best.buf = best.buf[1:]
		}
		if len(batch) == 0 {
			return nil
		}
		recs, err := w.records(batch, false)
		if err != nil {
			return err
		}
		for i, r := range recs {
			if cont, err := w.offer(r, pos[i]); err != nil || !cont {
				return err
			}
		}
		w.n = min(2*w.n, pageSize)
	}
}

// orgPart is a buffered walk over one part of an organization's index.
type orgPart struct {
	w        *walker
	from, to string
	buf      []*mvccKV
	done     bool
}

func (p *orgPart) head() []byte { return p.buf[0].Key[len(p.buf[0].Key)-prereg.KeySize:] }

// fill reads the next page when the buffer is empty.
func (p *orgPart) fill() error {
	if len(p.buf) > 0 || p.done {
		return nil
	}
	kvs, more, err := p.w.page(p.from, p.to, p.w.n)
	if err != nil {
		return err
	}
	p.buf, p.done = kvs, !more
	if len(kvs) > 0 {
		p.from = string(kvs[len(kvs)-1].Key) + "\x00"
	}
	return nil
}

// cursorVersion starts every cursor, so a later layout can tell old
// cursors apart.
const cursorVersion = 1
