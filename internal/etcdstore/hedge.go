package etcdstore

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/prereg/prereg/internal/prereg"
)

// hedgeDelay is how long a login's group read waits for the member it
// was sent to before the same read is also sent to every other member. A
// member answers a read in a few milliseconds, but one being
// defragmented (by an erasure, or by an administrator) answers nothing
// until its whole file is rewritten, seconds per 100 MB: without another
// member asked, every login whose read the client routed there would wait
// that long, and past the call timeout answer 503. 25 ms is well past a
// healthy member's answer, so few reads are sent more than once, and
// leaves the login within the hook's 50 ms target when one member stalls.
const hedgeDelay = 25 * time.Millisecond

// hedgeClients makes one client per endpoint, each bound to that member
// alone, from the store's client settings cfg; nil when fewer than two
// can be made (there is no other member to ask). A member whose
// client cannot be made now (etcd authenticates a client with a user as
// it is made, and the member may be down) is left out.
func (s *Store) hedgeClients(cfg clientv3.Config, endpoints []string) []*clientv3.Client {
	if len(endpoints) < 2 {
		return nil
	}
	// Made at once: a member that is down costs Open one dial timeout,
	// not one each.
	made := make([]*clientv3.Client, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			c := cfg
			c.Endpoints = []string{ep}
			cli, err := clientv3.New(c)
			if err != nil {
				s.log.Warn("etcd: no client of its own for hedged login reads", "endpoint", ep, "error", err)
				return
			}
			// Connected now, so that pick sees a member that is down.
			cli.ActiveConnection().Connect()
			made[i] = cli
		})
	}
	wg.Wait()
	var out []*clientv3.Client
	for _, cli := range made {
		if cli != nil {
			out = append(out, cli)
		}
	}
	if len(out) < 2 {
		// One member alone would take every read and write: the
		// store's client, which turns over them all, serves better.
		for _, cli := range out {
			cli.Close()
		}
		return nil
	}
	return out
}

// plainEndpoints reports whether every endpoint is plain http://: a
// client the caller made (New) shows its endpoints and user but not its
// TLS settings, so the store makes clients of its own for it only then.
func plainEndpoints(eps []string) bool {
	for _, ep := range eps {
		if !strings.HasPrefix(ep, "http://") {
			return false
		}
	}
	return len(eps) > 0
}

// hedgeState is what the store knows of its members' clients (Store.hedge).
type hedgeState struct {
	// next turns the round robin over the members.
	next atomic.Uint32
	// stalled marks a member that left a read unanswered for hedgeDelay;
	// reads and writes avoid it until a probe of it answers.
	stalled []atomic.Bool
	// announced marks a member another replica (or this one) is about to
	// defragment, or defragments (defrag.go): reads and writes avoid it
	// until the announcement ends. ids are the members' IDs, once known.
	announced []atomic.Bool
	ids       []atomic.Uint64
	watcher   sync.WaitGroup
	// ctx ends the probes when the store closes.
	ctx    context.Context
	cancel context.CancelFunc
}

// initHedge gives the store its members' clients.
func (s *Store) initHedge(clis []*clientv3.Client) {
	s.hedge = clis
	s.hedgeState.stalled = make([]atomic.Bool, len(clis))
	s.hedgeState.announced = make([]atomic.Bool, len(clis))
	s.hedgeState.ids = make([]atomic.Uint64, len(clis))
	s.hedgeState.ctx, s.hedgeState.cancel = context.WithCancel(context.Background())
	if len(clis) > 1 {
		s.hedgeState.watcher.Go(s.watchDefrags)
	}
}

// pick is the member to send a login's read or a write to: the next in
// turn that is neither stalled nor announced (defrag.go), or -1 (the
// store's own client) when there are no members' clients or none is
// either. The store turns over the
// members itself, rather than leaving it to its client, so that it knows
// which member stalls and sends nothing more there: not even the claims,
// which are not hedged.
func (s *Store) pick() int {
	h := &s.hedgeState
	n := len(s.hedge)
	start := int(h.next.Add(1))
	for k := range n {
		if i := (start + k) % n; !h.stalled[i].Load() && !h.announced[i].Load() && usable(s.hedge[i]) {
			return i
		}
	}
	return -1
}

// usable reports whether cli's member is connected or may be (a client
// not used yet connects on its first call). A member that is down is
// not: a call to it would wait until its deadline, where the store's
// client would have sent it to a live member.
func usable(cli *clientv3.Client) bool {
	switch cli.ActiveConnection().GetState() {
	case connectivity.Ready, connectivity.Idle:
		return true
	}
	return false
}

// writer is the client for a write (a claim, an erasure's change). A
// write is not hedged: sent twice, its second copy would fail its
// compares, and the caller would take its own change for another's.
func (s *Store) writer() *clientv3.Client {
	if i := s.pick(); i >= 0 {
		return s.hedge[i]
	}
	return s.cli
}

// markStalled keeps reads and writes away from member i until it answers
// a read of its own (a defragmentation ends, a paused machine resumes, a
// lost member is back).
func (s *Store) markStalled(i int) {
	h := &s.hedgeState
	if h.stalled[i].Swap(true) {
		return // already probed
	}
	go func() {
		for h.ctx.Err() == nil {
			ctx, cancel := context.WithTimeout(h.ctx, defragTimeout)
			_, err := s.hedge[i].Get(ctx, s.k(kSchema), clientv3.WithSerializable())
			cancel()
			if err == nil {
				h.stalled[i].Store(false)
				return
			}
			select {
			case <-h.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

// readTxn sends a read-only transaction to a member (pick) and, when it
// has not answered within hedgeDelay, to every other member too, and
// returns the first answer. Each is a linearizable read, so each reflects
// every write acknowledged before it was sent, whichever member answers
// (doc.go, "The login path"); the others are cancelled.
func (s *Store) readTxn(ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := s.call(context.Background())
	defer cancel()
	if len(s.hedge) == 0 {
		return s.cli.Txn(ctx).Then(ops...).Commit()
	}
	type answer struct {
		resp *clientv3.TxnResponse
		err  error
	}
	// Room for every answer: a read answering after the winner does not
	// block.
	answers := make(chan answer, 1+len(s.hedge))
	send := func(i int) {
		cli := s.cli
		if i >= 0 {
			cli = s.hedge[i]
		}
		go func() {
			resp, err := cli.Txn(ctx).Then(ops...).Commit()
			answers <- answer{resp, err}
		}()
	}
	first := s.pick()
	send(first)
	inFlight, hedged := 1, false
	hedge := func() {
		if hedged {
			return
		}
		hedged = true
		s.reads.hedged.Add(1)
		if first >= 0 {
			s.markStalled(first)
		}
		for i := range s.hedge {
			if i != first {
				send(i)
				inFlight++
			}
		}
	}
	timer := time.NewTimer(hedgeDelay)
	defer timer.Stop()
	var firstErr error
	for {
		select {
		case a := <-answers:
			inFlight--
			if a.err == nil {
				return a.resp, nil
			}
			if firstErr == nil {
				firstErr = a.err
			}
			// Only a member that cannot answer now is worth asking
			// others for; a refusal (permissions) is the same on all.
			if prereg.ErrorCode(translate(a.err)) != prereg.Unavailable || ctx.Err() != nil {
				return nil, firstErr
			}
			hedge()
			if inFlight == 0 {
				return nil, firstErr
			}
		case <-timer.C:
			hedge()
		}
	}
}

// closeHedge ends the probes and closes the members' clients.
func (s *Store) closeHedge() {
	if s.hedgeState.cancel != nil {
		s.hedgeState.cancel()
		s.hedgeState.watcher.Wait()
	}
	for _, cli := range s.hedge {
		cli.Close()
	}
}
