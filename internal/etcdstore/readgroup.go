package etcdstore

import (
	"context"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readGroup coalesces the reads of concurrent logins into one read-only
// transaction (coalesce.go), up to maxOps ranges: etcd pays one ReadIndex
// round and one request per group instead of per login.
//
// Why it stays linearizable: a login's ranges are read by a transaction
// that was sent after the login queued and answered before the login
// returns; a linearizable transaction takes effect at one instant within
// its own duration, hence within every one of its logins' calls, and all
// of a login's ranges are read at that one revision.
type readGroup struct {
	coalescer[*groupRead]
	hedged atomic.Int64 // reads also sent to another member (hedge.go)
}

// groupRead is one caller's ranges and, once read, their answers.
type groupRead struct {
	ops  []clientv3.Op
	done chan struct{}
	// Set before done is closed.
	rev    int64
	ranges []*pb.RangeResponse
	err    error
}

// read answers ops (read-only ranges, at most maxOps) at one linearizable
// revision, in a transaction it may share with other callers.
func (s *Store) read(ctx context.Context, ops ...clientv3.Op) (int64, []*pb.RangeResponse, error) {
	r := &groupRead{ops: ops, done: make(chan struct{})}
	if s.reads.join(r) {
		s.reads.run(takeReads, s.sendReads)
	}
	// A caller whose context ends leaves; the group it is in still
	// answers the others, and its result is dropped.
	select {
	case <-r.done:
		return r.rev, r.ranges, r.err
	case <-ctx.Done():
		return 0, nil, translate(ctx.Err())
	}
}

// takeReads takes the queued reads that fit one transaction, in order.
func takeReads(queue []*groupRead) (group, left []*groupRead) {
	n := 0
	for len(queue) > 0 && n+len(queue[0].ops) <= maxOps {
		n += len(queue[0].ops)
		group, queue = append(group, queue[0]), queue[1:]
	}
	return group, queue
}

// sendReads reads the ranges of group in one transaction and answers each.
func (s *Store) sendReads(group []*groupRead) {
	var ops []clientv3.Op
	for _, r := range group {
		ops = append(ops, r.ops...)
	}
	// Not any one caller's context: the transaction answers them all.
	resp, err := s.readTxn(ops)
	i := 0
	for _, r := range group {
		if err != nil {
			r.err = translate(err)
		} else {
			r.rev = resp.Header.Revision
			for range r.ops {
				r.ranges = append(r.ranges, resp.Responses[i].GetResponseRange())
				i++
			}
		}
		close(r.done)
	}
}
