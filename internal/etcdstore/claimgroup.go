package etcdstore

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// claimGroup sends the claims of concurrent logins to etcd together, as
// readGroup does their reads: a claim that finds no group in flight is
// sent at once; claims arriving meanwhile queue, and the next request
// (sent as soon as the one in flight returns) carries them all, each as a
// transaction of its own nested in one outer transaction. etcd then pays
// one request, one raft entry and one apply for the group instead of one
// per login, which is most of what a small transaction costs it.
//
// Why each claim means what it meant alone: a nested transaction keeps
// its own compares and commits or fails by them alone, so a claim whose
// record changed fails (errRetry, its login reads again) without holding
// back the others. etcd evaluates every compare of the request against
// the state before it, then applies the writes of the nested
// transactions that hold, in order, in one revision. Two claims of one
// group never touch the same keys, since a group holds at most one claim
// per address prefix and per user (the others wait for the next group):
// a claim's compares look only under its address, and it writes only its
// address's records, their index entries and keys named by new IDs. So
// the group's revision is the state each claim would have produced
// alone, one after the other in the group's order, each at an instant
// within its own login's call (sent after it queued, answered before it
// returns): linearizable, as a claim sent alone.
type claimGroup = coalescer[*groupClaim]

// groupClaim is one claim's transaction and, once sent, its answer.
type groupClaim struct {
	cmps       []clientv3.Cmp
	ops        []clientv3.Op
	addr, user string // what no other claim of its group may share
	done       chan struct{}
	// Set before done is closed.
	resp *clientv3.TxnResponse
	err  error
}

// commitClaim commits one claim's transaction (as commit does: errRetry
// when a compare failed), in a request it may share with other logins'.
// addr and user name the claim's address prefix and user.
func (s *Store) commitClaim(ctx context.Context, addr, user string, cmps []clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	if len(ops) > maxOps || len(cmps) > maxOps {
		return s.commit(ctx, cmps, ops) // refused there, with the reason
	}
	c := &groupClaim{cmps: cmps, ops: ops, addr: addr, user: user, done: make(chan struct{})}
	if s.claims.join(c) {
		s.claims.run(takeClaims, s.sendClaims)
	}
	// A caller whose context ends leaves; its claim, once sent, may still
	// commit, as a transaction of its own whose answer is lost would.
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, translate(ctx.Err())
	}
	if c.err != nil {
		return nil, c.err
	}
	if !c.resp.Succeeded {
		return c.resp, errRetry
	}
	return c.resp, nil
}

// sendClaims sends the claims of group in one request and answers each.
func (s *Store) sendClaims(group []*groupClaim) {
	resps, err := s.claimTxn(group)
	for i, c := range group {
		if err != nil {
			c.err = err
		} else {
			c.resp = resps[i]
		}
		close(c.done)
	}
}

// takeClaims takes from the queue, in order, the claims that fit one
// request: within etcd's operations per transaction in all, and none
// sharing an address or a user with one taken before it. The queue's
// first claim is always taken.
func takeClaims(queue []*groupClaim) (batch, left []*groupClaim) {
	var (
		ops, cmps  int
		addrs, ids = map[string]bool{}, map[string]bool{}
	)
	for _, c := range queue {
		// etcd counts an outer transaction's operations against each
		// nested one's limit: leave room for them.
		n := len(batch) + 1
		fits := ops+len(c.ops)+n <= maxOps && cmps+len(c.cmps)+n <= maxOps
		if len(batch) > 0 && (!fits || addrs[c.addr] || ids[c.user]) {
			left = append(left, c)
			continue
		}
		batch = append(batch, c)
		ops, cmps = ops+len(c.ops), cmps+len(c.cmps)
		addrs[c.addr], ids[c.user] = true, true
	}
	return batch, left
}

// claimTxn commits the claims of batch, one alone as a plain transaction,
// several as transactions nested in one, and returns each one's answer
// (its own Succeeded and responses, the request's header).
func (s *Store) claimTxn(batch []*groupClaim) ([]*clientv3.TxnResponse, error) {
	// Not any one caller's context: the request answers them all.
	ctx, cancel := s.call(context.Background())
	defer cancel()
	if len(batch) == 1 {
		resp, err := s.writer().Txn(ctx).If(batch[0].cmps...).Then(batch[0].ops...).Commit()
		if err != nil {
			return nil, translate(err)
		}
		return []*clientv3.TxnResponse{resp}, nil
	}
	nested := make([]clientv3.Op, len(batch))
	for i, c := range batch {
		nested[i] = clientv3.OpTxn(c.cmps, c.ops, nil)
	}
	resp, err := s.writer().Txn(ctx).Then(nested...).Commit()
	if err != nil {
		return nil, translate(err)
	}
	if len(resp.Responses) != len(batch) {
		return nil, prereg.Errorf(prereg.Internal, "etcd answered %d of %d grouped claims", len(resp.Responses), len(batch))
	}
	out := make([]*clientv3.TxnResponse, len(batch))
	for i, r := range resp.Responses {
		t := r.GetResponseTxn()
		out[i] = &clientv3.TxnResponse{Header: resp.Header, Succeeded: t.Succeeded, Responses: t.Responses}
	}
	return out, nil
}
