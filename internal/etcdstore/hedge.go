package etcdstore

import (
	"context"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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
// alone, from the store's client settings cfg; nil when there are fewer
// than two endpoints (there is no other member to ask). A member whose
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

// preferFor is how long the login reads go first to a member that
// answered a hedged read, rather than through the store's client: the
// member the client's round robin would also pick is likely still
// stalled (a defragmentation lasts seconds), and a read waiting for it
// holds up the group queued behind (readgroup.go).
const preferFor = time.Second

// hedgeState remembers the member that last answered a hedged read.
type hedgeState struct {
	mu     sync.Mutex
	prefer int // index in Store.hedge; valid until until
	until  time.Time
}

// readTxn sends a read-only transaction through the store's client (or
// the member preferred since a recent hedged read) and, when it has not
// answered within hedgeDelay, through every other member's own client
// too, and returns the first answer. Each is a linearizable read, so each
// reflects every write acknowledged before it was sent, whichever member
// answers (doc.go, "The login path"); the others are cancelled.
func (s *Store) readTxn(ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := s.call(context.Background())
	defer cancel()
	if len(s.hedge) == 0 {
		return s.cli.Txn(ctx).Then(ops...).Commit()
	}
	type answer struct {
		from int // index in s.hedge, -1 for s.cli
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
			answers <- answer{i, resp, err}
		}()
	}
	first := s.preferred()
	send(first)
	inFlight, hedged := 1, false
	// hedge asks every member not asked yet: the client's member is not
	// known, so only asking all others is sure to reach a live one.
	hedge := func() {
		if hedged {
			return
		}
		hedged = true
		s.reads.hedged.Add(1)
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
				if hedged && a.from >= 0 && a.from != first {
					s.setPreferred(a.from)
				}
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

// preferred is the member to send a read to first, -1 for the store's
// client.
func (s *Store) preferred() int {
	h := &s.hedgeState
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Now().Before(h.until) {
		return h.prefer
	}
	return -1
}

// writer is the client for a write (a claim, an erasure's change): the
// store's, or while a member answered a hedged read, that member's. A
// write is not hedged (sent twice, its second copy would fail its
// compares and the caller would read its own change as another's), but
// a member found answering is one that will not leave it waiting.
func (s *Store) writer() *clientv3.Client {
	if i := s.preferred(); i >= 0 {
		return s.hedge[i]
	}
	return s.cli
}

func (s *Store) setPreferred(i int) {
	h := &s.hedgeState
	h.mu.Lock()
	h.prefer, h.until = i, time.Now().Add(preferFor)
	h.mu.Unlock()
}

// closeHedge closes the members' clients.
func (s *Store) closeHedge() {
	for _, cli := range s.hedge {
		cli.Close()
	}
}
