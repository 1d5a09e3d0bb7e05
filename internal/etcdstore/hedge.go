package etcdstore

import (
	"context"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// hedgeDelay is how long a login's group read waits for the member the
// store's client sent it to before the same read is also sent to another
// member, and again to the next after as long again. A member answers a
// read in a few milliseconds, but one being defragmented (by an erasure,
// or by an administrator) answers nothing until its whole file is
// rewritten, seconds per 100 MB: without a second member asked, every
// login whose read the client routed there would wait that long, and past
// the call timeout answer 503. 25 ms is well past a healthy member's
// answer, so few reads are sent twice, and leaves the login within the
// hook's 50 ms target when one member stalls.
const hedgeDelay = 25 * time.Millisecond

// hedgeClients makes one client per endpoint, each bound to that member
// alone, from the store's client settings cfg; nil when there are fewer
// than two endpoints (there is no other member to ask). A member whose
// client cannot be made now (etcd authenticates a client with a user as
// it is made, and the member may be down) is left out.
func (s *Store) hedgeClients(cfg clientv3.Config, endpoints []string) []*clientv3.Client {
	if len(endpoints) < 2 {
		return nil
	}
	var out []*clientv3.Client
	for _, ep := range endpoints {
		c := cfg
		c.Endpoints = []string{ep}
		cli, err := clientv3.New(c)
		if err != nil {
			s.log.Warn("etcd: no second client for hedged login reads", "endpoint", ep, "error", err)
			continue
		}
		out = append(out, cli)
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

// readTxn sends a read-only transaction through the store's client and,
// when it has not answered within hedgeDelay, through the members' own
// clients too, one more every hedgeDelay (or at once after a failure),
// and returns the first answer. Each is a linearizable read, so each
// reflects every write acknowledged before it was sent, whichever member
// answers (doc.go, "The login path"); the others are cancelled.
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
	send := func(cli *clientv3.Client) {
		go func() {
			resp, err := cli.Txn(ctx).Then(ops...).Commit()
			answers <- answer{resp, err}
		}()
	}
	send(s.cli)
	// Which member is asked first rotates, so that no one member takes
	// every hedged read.
	first := int(s.reads.hedged.Load())
	sent, inFlight := 0, 1
	next := func() bool {
		if sent == len(s.hedge) {
			return false
		}
		s.reads.hedged.Add(1)
		send(s.hedge[(first+sent)%len(s.hedge)])
		sent++
		inFlight++
		return true
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
			// another for; a refusal (permissions) is the same on all.
			if prereg.ErrorCode(translate(a.err)) != prereg.Unavailable || ctx.Err() != nil {
				return nil, firstErr
			}
			if !next() && inFlight == 0 {
				return nil, firstErr
			}
		case <-timer.C:
			if next() {
				timer.Reset(hedgeDelay)
			}
		}
	}
}

// closeHedge closes the members' clients.
func (s *Store) closeHedge() {
	for _, cli := range s.hedge {
		cli.Close()
	}
}
