package etcdstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Stats counts registrations by status, for one organization when the
// filter names one. There are no counter keys (every write would contend
// on them): each organization's count of a status is a count-only read of
// its part of the organization index, and its expired ones a count-only
// read of its expiry index up to now, all at one revision.
func (s *Store) Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error) {
	st := prereg.Stats{ByOrganization: map[string]prereg.Counts{}}
	w := &walker{s: s, ctx: ctx}
	orgs := []string{f.OrganizationID}
	if !f.OrganizationSet {
		var err error
		if orgs, err = w.orgs(""); err != nil {
			return st, err
		}
	}
	now := s.now()
	per := len(storedStatuses) + 1
	var ops []clientv3.Op
	for _, org := range orgs {
		for _, status := range storedStatuses {
			p := s.k(kOrg, org, "\x00", string(status), "\x00")
			ops = append(ops, clientv3.OpGet(p, clientv3.WithRange(end(p)), clientv3.WithCountOnly()))
		}
		p := s.k(kExp, org, "\x00")
		ops = append(ops, clientv3.OpGet(p, clientv3.WithRange(p+stamp(now.Add(time.Nanosecond))), clientv3.WithCountOnly()))
	}
	counts, err := s.readMany(ctx, ops, w.rev, per)
	if err != nil {
		return st, err
	}
	for i, org := range orgs {
		var cs prereg.Counts
		for j, status := range storedStatuses {
			cs.Add(status, counts[i*per+j])
		}
		expired := counts[i*per+len(storedStatuses)]
		cs.Pending -= expired
		cs.Expired += expired
		if cs.Total > 0 {
			st.ByOrganization[org] = cs
		}
	}
	for _, cs := range st.ByOrganization {
		st.Overall.Pending += cs.Pending
		st.Overall.Granted += cs.Granted
		st.Overall.Revoked += cs.Revoked
		st.Overall.Expired += cs.Expired
		st.Overall.Total += cs.Total
	}
	return st, nil
}

// readMany runs count-only reads in transactions within etcd's limits
// (group reads stay together), all at revision rev (0: the first's), and
// returns their counts.
func (s *Store) readMany(ctx context.Context, ops []clientv3.Op, rev int64, group int) ([]int64, error) {
	out := make([]int64, 0, len(ops))
	step := maxOps / group * group
	for lo := 0; lo < len(ops); lo += step {
		part := ops[lo:min(lo+step, len(ops))]
		if rev != 0 {
			for i, op := range part {
				part[i] = clientv3.OpGet(string(op.KeyBytes()), clientv3.WithRange(string(op.RangeBytes())), clientv3.WithCountOnly(), clientv3.WithRev(rev))
			}
		}
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Txn(cctx).Then(part...).Commit()
		cancel()
		if err != nil {
			return nil, translate(err)
		}
		rev = resp.Header.Revision
		for _, r := range resp.Responses {
			out = append(out, r.GetResponseRange().Count)
		}
	}
	return out, nil
}
