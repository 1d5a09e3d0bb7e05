package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Erase removes every registration of an address and every other trace of
// it, then compacts etcd's history and defragments every member so that
// no stored version holds it (doc.go, "Erasure"). limitOrg, when set (an
// organization's token), confines it to that organization's things.
func (s *Store) Erase(ctx context.Context, email, limitOrg, actor string) (prereg.Erasure, error) {
	out := prereg.Erasure{Registrations: []string{}}
	if err := prereg.ValidateEmail(email); err != nil {
		return out, err
	}
	e := &eraser{s: s, org: limitOrg, addr: prereg.LowerASCII(strings.TrimSpace(email)), erased: map[string]bool{}, out: &out}
	e.needles = prereg.EraseNeedles(e.addr)
	steps := []func(context.Context) error{e.registrations, e.grants, e.audit, e.jobs, e.imports}
	if limitOrg == "" {
		steps = append(steps, e.verifyMarks, e.tokens)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return out, err
		}
	}
	if !out.Found() {
		return out, nil
	}
	summary := fmt.Sprintf("erasure: %d registrations, %d import reports, %d audit entries, %d grants, %d sync jobs, %d other traces",
		len(out.Registrations), out.ImportsScrubbed, out.AuditEntries, out.Grants, out.Jobs, out.Other)
	err := s.Audit(ctx, actor, prereg.AuditErased, limitOrg, "", summary)
	if err != nil {
		return out, err
	}
	out.Unfinished, err = s.forgetHistory(ctx)
	return out, err
}

// eraser is one erasure in progress.
type eraser struct {
	s       *Store
	org     string // the limited token's organization; "" for tenant-wide
	addr    string // the address, ASCII lower-cased
	needles [][]byte
	erased  map[string]bool // IDs of the registrations removed
	out     *prereg.Erasure
	low     []byte
}

func (e *eraser) inScope(org string) bool { return e.org == "" || org == e.org }

// holds reports whether b holds the address in any ASCII letter case
// (raw, or as JSON escapes it).
func (e *eraser) holds(b []byte) bool {
	e.low = prereg.LowerInto(e.low, b)
	for _, n := range e.needles {
		if bytes.Contains(e.low, n) {
			return true
		}
	}
	return false
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

// registrations removes the address's registrations in scope, with their
// index entries, in one transaction that holds only if nothing under the
// address changed since they were read: it is atomic for the login hook.
// An address of more organizations than one transaction holds is removed
// in several, chained on the address (chain).
func (e *eraser) registrations(ctx context.Context) error {
	s := e.s
	addr := s.k(kRec, string(prereg.EmailPrefix(prereg.EmailKey(e.addr))))
	return retry(ctx, "erase", func() error {
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Get(cctx, addr, clientv3.WithPrefix())
		cancel()
		if err != nil {
			return translate(err)
		}
		c := &chain{s: s, addr: addr, after: resp.Header.Revision}
		for _, kv := range resp.Kvs {
			r, err := decodeReg(kv.Value)
			if err != nil {
				return err
			}
			if prereg.LowerASCII(strings.TrimSpace(r.Email)) != e.addr || !e.inScope(r.OrganizationID) {
				continue
			}
			k, _ := keyTail(kv.Key)
			id := r.ID
			err = c.add(ctx, s.unchanged(stored{k: k, mod: kv.ModRevision}), s.deleteOps(k, r), func() {
				e.erased[id] = true
				e.out.Registrations = append(e.out.Registrations, id)
			})
			if err != nil {
				return err
			}
		}
		if len(c.done) == 0 {
			return nil
		}
		_, err = c.flush(ctx)
		return err
	})
}

// grants cuts the address out of the granted_to and sync error of the
// records of other addresses granted (or once granted: revoked records
// keep granted_to) to a user_id holding it.
func (e *eraser) grants(ctx context.Context) error {
	s := e.s
	keys := map[prereg.Key]bool{}
	err := s.eachKV(ctx, s.k(kUser), 0, func(kv *mvccKV) error {
		if e.holds(kv.Key[:len(kv.Key)-prereg.KeySize]) {
			k, _ := keyTail(kv.Key)
			keys[k] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	orgs, err := (&walker{s: s, ctx: ctx}).orgs("")
	if err != nil {
		return err
	}
	for _, org := range orgs {
		if !e.inScope(org) {
			continue
		}
		err := s.eachKV(ctx, s.k(kOrg, org, "\x00", string(prereg.StatusRevoked), "\x00"), 0, func(kv *mvccKV) error {
			k, _ := keyTail(kv.Key)
			keys[k] = true
			return nil
		})
		if err != nil {
			return err
		}
	}
	for k := range keys {
		if err := e.rewriteGrant(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

func (e *eraser) rewriteGrant(ctx context.Context, k prereg.Key) error {
	s := e.s
	return retry(ctx, "erase", func() error {
		st, err := s.load(ctx, k)
		if err != nil || st.r == nil || !e.inScope(st.r.OrganizationID) {
			return err
		}
		r := *st.r
		var cutUser, cutErr bool
		r.GrantedTo, cutUser = prereg.ReplaceFold(r.GrantedTo, e.addr)
		r.SyncError, cutErr = prereg.ReplaceFold(r.SyncError, e.addr)
		if !cutUser && !cutErr {
			return nil
		}
		ops, err := s.putOps(k, st.r, &r)
		if err != nil {
			return err
		}
		if _, err := s.commit(ctx, []clientv3.Cmp{s.unchanged(st)}, ops); err != nil {
			return err
		}
		e.out.Grants++
		return nil
	})
}

// audit removes the entries of the removed registrations and cuts the
// address out of the others in scope.
func (e *eraser) audit(ctx context.Context) error {
	return e.rewrite(ctx, kAud, true, func(raw []byte) ([]byte, []string, error) {
		var a prereg.AuditEntry
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, nil, err
		}
		if !e.inScope(a.OrganizationID) {
			return raw, nil, nil
		}
		if e.erased[a.RegistrationID] {
			return nil, nil, nil
		}
		var cut1, cut2 bool
		a.Summary, cut1 = prereg.ReplaceFold(a.Summary, e.addr)
		a.Actor, cut2 = prereg.ReplaceFold(a.Actor, e.addr)
		if !cut1 && !cut2 {
			return raw, nil, nil
		}
		return []byte(mustJSON(a)), nil, nil
	}, &e.out.AuditEntries)
}

// jobs removes the sync jobs in scope of the removed registrations or for
// a user_id holding the address: there is no one left to sync.
func (e *eraser) jobs(ctx context.Context) error {
	s := e.s
	return e.rewrite(ctx, kJob, true, func(raw []byte) ([]byte, []string, error) {
		var j prereg.SyncJob
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, nil, err
		}
		if !e.inScope(j.OrganizationID) {
			return raw, nil, nil
		}
		return nil, []string{s.k(kDue, stamp(j.NotBefore), j.ID), s.k(kOwn, j.ID)}, nil
	}, &e.out.Jobs)
}

// imports cuts the address out of kept import reports in scope: row
// errors echo the offending value.
func (e *eraser) imports(ctx context.Context) error {
	return e.rewrite(ctx, kImp, false, func(raw []byte) ([]byte, []string, error) {
		var r prereg.ImportReport
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, err
		}
		if !e.inScope(r.OrganizationID) {
			return raw, nil, nil
		}
		if !prereg.ScrubImport(&r, e.addr) {
			return raw, nil, nil
		}
		return []byte(mustJSON(r)), nil, nil
	}, &e.out.ImportsScrubbed)
}

// verifyMarks forgets the verification emails sent to user_ids holding
// the address.
func (e *eraser) verifyMarks(ctx context.Context) error {
	s := e.s
	prefix := s.k(kVerify)
	var ops []clientv3.Op
	err := s.eachKV(ctx, prefix, 0, func(kv *mvccKV) error {
		if e.holds(kv.Key[len(prefix):]) {
			ops = append(ops, clientv3.OpDelete(string(kv.Key)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for lo := 0; lo < len(ops); lo += maxOps {
		if _, err := s.commit(ctx, nil, ops[lo:min(lo+maxOps, len(ops))]); err != nil {
			return err
		}
	}
	e.out.Other += len(ops)
	return nil
}

// tokens cuts the address out of token names.
func (e *eraser) tokens(ctx context.Context) error {
	return e.rewrite(ctx, kTok, false, func(raw []byte) ([]byte, []string, error) {
		var r tokenRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, nil, err
		}
		var cut bool
		if r.Name, cut = prereg.ReplaceFold(r.Name, e.addr); !cut {
			return raw, nil, nil
		}
		return []byte(mustJSON(r)), nil, nil
	}, &e.out.Other)
}

// rewrite runs fn on every value under space that holds the address (or,
// with erasedToo, names a removed registration). fn returns the value to
// put, or nil to delete it along with the keys it names; a value it
// returns unchanged is left alone. Each change holds only if the value is
// still as read; one that changed meanwhile is read again.
func (e *eraser) rewrite(ctx context.Context, space string, erasedToo bool, fn func(raw []byte) ([]byte, []string, error), changed *int) error {
	s := e.s
	var keys []string
	err := s.eachKV(ctx, s.k(space), 0, func(kv *mvccKV) error {
		if e.holds(kv.Value) || (erasedToo && e.mentionsErased(kv.Value)) {
			keys = append(keys, string(kv.Key))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		err := retry(ctx, "erase", func() error {
			cctx, cancel := s.call(ctx)
			resp, err := s.cli.Get(cctx, k)
			cancel()
			if err != nil || len(resp.Kvs) == 0 {
				return translate(err)
			}
			kv := resp.Kvs[0]
			v, also, err := fn(kv.Value)
			if err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			if v != nil && bytes.Equal(v, kv.Value) {
				return nil
			}
			ops := []clientv3.Op{clientv3.OpPut(k, string(v))}
			if v == nil {
				ops = []clientv3.Op{clientv3.OpDelete(k)}
				for _, a := range also {
					ops = append(ops, clientv3.OpDelete(a))
				}
			}
			_, err = s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", kv.ModRevision)}, ops)
			if err == nil {
				*changed++
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// forgetHistory compacts etcd's history at the current revision, so that
// no older version of a key (the erased values) can be read, and
// defragments every member, so that the freed pages of its database are
// dropped from the file.
//
// A member compacts in the background after it applies the compaction,
// and a defragmentation that runs before it finished leaves the deleted
// versions in freed pages. So the compaction is asked of each member in
// turn, through a client of that member alone, with
// WithCompactPhysical: the member answers once its own compaction is
// done (for the members after the first, etcd answers "compacted" after
// waiting for it). Only then is the member defragmented.
//
// etcd lets only root compact and defragment: a user limited to the
// prefix erases the keys, and the log says what an administrator must
// run to finish.
func (s *Store) forgetHistory(ctx context.Context) (unfinished string, err error) {
	cctx, cancel := s.call(ctx)
	resp, err := s.cli.Get(cctx, s.k(kSchema))
	cancel()
	if err != nil {
		return "", translate(err)
	}
	rev := resp.Header.Revision
	cctx, cancel = s.call(ctx)
	members, err := s.cli.MemberList(cctx)
	cancel()
	if err != nil {
		return "", translate(err)
	}
	var left []string
	for _, m := range s.leaderLast(ctx, members.Members) {
		var err error
		for _, u := range m.ClientURLs {
			if err = s.forgetOn(ctx, u, m.ID, rev); err == nil {
				break
			}
		}
		switch {
		case err == nil:
		case isEtcd(err, rpctypes.ErrPermissionDenied):
			msg := fmt.Sprintf("etcd lets only root compact and defragment, so older versions of the erased keys stay in etcd's files: run `etcdctl compact %d --physical` and then `etcdctl defrag --cluster` as root", rev)
			s.log.Warn("erasure: " + msg)
			return msg, nil
		default:
			msg := fmt.Sprintf("compacting and defragmenting member %s failed (%v), so its file keeps older versions of the erased keys: when it is back, run `etcdctl compact %d --physical` and `etcdctl defrag` on it", m.Name, err, rev)
			s.log.Warn("erasure: " + msg)
			left = append(left, msg)
		}
	}
	return strings.Join(left, "; "), nil
}

// leaderLast orders members with the leader last, as etcd's operators
// advise: every write is applied through the leader, so while a follower
// is defragmented writes go on, and they wait (for the leader's file) only
// once, at the end. When no member says who leads, the order is kept.
func (s *Store) leaderLast(ctx context.Context, members []*pb.Member) []*pb.Member {
	var leader uint64
	for _, m := range members {
		for _, u := range m.ClientURLs {
			cctx, cancel := s.call(ctx)
			st, err := s.cli.Status(cctx, u)
			cancel()
			if err == nil {
				leader = st.Leader
				break
			}
		}
		if leader != 0 {
			break
		}
	}
	out := make([]*pb.Member, 0, len(members))
	var last []*pb.Member
	for _, m := range members {
		if m.ID == leader {
			last = append(last, m)
		} else {
			out = append(out, m)
		}
	}
	return append(out, last...)
}

// forgetOn compacts the history of the member id at url up to rev,
// waiting until its compaction is done, then defragments it, announced
// to every replica (defrag.go).
func (s *Store) forgetOn(ctx context.Context, url string, id uint64, rev int64) error {
	cfg := s.member
	cfg.Endpoints = []string{url}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	cctx, cancel := context.WithTimeout(ctx, defragTimeout)
	defer cancel()
	if _, err := cli.Compact(cctx, rev, clientv3.WithCompactPhysical()); err != nil && !isEtcd(err, rpctypes.ErrCompacted) {
		return err
	}
	release, err := s.announceDefrag(cctx, id)
	if err != nil {
		return err
	}
	defer release()
	_, err = cli.Defragment(cctx, url)
	return err
}

// defragTimeout bounds the compaction and defragmentation of one member:
// defragmenting rewrites the member's whole file, a second or more per
// 100 MB.
const defragTimeout = time.Minute
