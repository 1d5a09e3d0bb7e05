package etcdstore

import (
	"context"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readGroup coalesces the reads of concurrent logins into one read-only
// transaction, as the bolt store's group commit coalesces writes: a login
// that finds no group transaction in flight sends its own at once; logins
// arriving meanwhile queue, and the next transaction (sent as soon as the
// one in flight returns) reads for all of them, up to maxOps ranges. etcd
// pays one ReadIndex round and one request per group instead of per login.
//
// Why it stays linearizable: a login's ranges are read by a transaction
// that was sent after the login queued and answered before the login
// returns; a linearizable transaction takes effect at one instant within
// its own duration, hence within every one of its logins' calls, and all
// of a login's ranges are read at that one revision.
type readGroup struct {
	mu      sync.Mutex
	queue   []*groupRead
	running bool
	sent    atomic.Int64 // transactions sent, for the tests
	hedged  atomic.Int64 // reads also sent to another member (hedge.go)
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
	g := &s.reads
	g.mu.Lock()
	g.queue = append(g.queue, r)
	first := !g.running
	g.running = true
	g.mu.Unlock()
	if first {
		// Nothing in flight: the queue holds this read alone; send it now.
		s.sendGroup()
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

// sendGroup takes the queued reads that fit one transaction, reads them
// and answers each; reads queued meanwhile are sent next, from a goroutine
// of their own so that no caller waits for another's group.
func (s *Store) sendGroup() {
	g := &s.reads
	g.mu.Lock()
	var batch []*groupRead
	n := 0
	for len(g.queue) > 0 && n+len(g.queue[0].ops) <= maxOps {
		n += len(g.queue[0].ops)
		batch = append(batch, g.queue[0])
		g.queue = g.queue[1:]
	}
	g.mu.Unlock()

	ops := make([]clientv3.Op, 0, n)
	for _, r := range batch {
		ops = append(ops, r.ops...)
	}
	// Not any one caller's context: the transaction answers them all.
	g.sent.Add(1)
	resp, err := s.readTxn(ops)
	i := 0
	for _, r := range batch {
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

	g.mu.Lock()
	more := len(g.queue) > 0
	g.running = more
	g.mu.Unlock()
	if more {
		go s.sendGroup()
	}
}
