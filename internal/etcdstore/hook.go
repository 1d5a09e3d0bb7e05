package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Login decides a login (CONTRACT §2); verified is the email_verified the
// service acts on. One linearizable read takes the address's
// registrations and the user's grants at one revision; a claim commits
// only if none of what it read under the address changed since, else it
// reads again (doc.go, "The login path").
func (s *Store) Login(ctx context.Context, l prereg.Login, verified bool) (prereg.LoginResult, error) {
	email := l.MatchKey()
	if email == "" {
		return prereg.LoginResult{HookResult: prereg.Result(prereg.OutcomeNoMatch, verified, nil, l.OrganizationID)}, nil
	}
	var (
		out prereg.LoginResult
		// What earlier attempts claimed before another writer changed
		// the address between the transactions of a large claim.
		claimed int
		done    []prereg.SyncJob
	)
	err := retry(ctx, "login", func() error {
		v, err := s.readLogin(ctx, email, l)
		if err != nil {
			return err
		}
		facts := prereg.LoginFacts{Claimable: len(v.claimable) > 0, Verified: verified, Claimed: claimed, Grants: len(v.grants)}
		if !facts.ShouldClaim() {
			out = prereg.LoginResult{HookResult: prereg.Result(facts.Outcome(), verified, v.grants, l.OrganizationID), Jobs: done}
			return nil
		}
		grants, jobs, n, err := s.claim(ctx, l, v)
		claimed, done = claimed+n, append(done, jobs...)
		if err != nil {
			return err
		}
		facts = prereg.LoginFacts{Verified: verified, Claimed: claimed, Grants: len(grants)}
		out = prereg.LoginResult{HookResult: prereg.Result(facts.Outcome(), verified, grants, l.OrganizationID), Jobs: done}
		return nil
	})
	return out, err
}

// loginView is what one login read: at revision rev, the registrations
// of the address it may claim and the user's grants.
type loginView struct {
	rev       int64
	addr      string // the key prefix of the address's records
	claimable []stored
	grants    []prereg.Registration
}

func (s *Store) readLogin(ctx context.Context, email string, l prereg.Login) (loginView, error) {
	v := loginView{addr: s.k(kRec, string(prereg.EmailPrefix(email)))}
	user := s.k(kUser, l.UserID, "\x00")
	cctx, cancel := s.call(ctx)
	defer cancel()
	rev, ranges, err := s.read(cctx,
		clientv3.OpGet(v.addr, clientv3.WithPrefix()),
		clientv3.OpGet(user, clientv3.WithPrefix()),
	)
	if err != nil {
		return v, err
	}
	v.rev = rev
	now := s.now()
	for _, kv := range ranges[0].Kvs {
		r, err := decodeReg(kv.Value)
		if err != nil {
			return v, err
		}
		k, _ := keyTail(kv.Key)
		// A prefix shared with another address (a 56-bit hash) is told
		// apart by the address itself.
		if prereg.EmailKey(r.Email) == email && prereg.Claimable(r, l, now) {
			v.claimable = append(v.claimable, stored{k: k, r: r, mod: kv.ModRevision})
		}
	}
	v.grants, err = s.decodeGrants(ranges[1].Kvs, len(user), l.UserID)
	return v, err
}

// decodeGrants decodes user index entries of userID (whose keys are n
// bytes before the record key).
func (s *Store) decodeGrants(kvs []*mvccKV, n int, userID string) ([]prereg.Registration, error) {
	var out []prereg.Registration
	for _, kv := range kvs {
		if len(kv.Key) != n+prereg.KeySize {
			continue
		}
		g, err := decodeGrant(kv.Value, userID)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// claim grants every registration in v.claimable to the login's user in
// one transaction that holds only if no record under the address changed
// since v was read (so none became claimable, or stopped being, in
// between), and returns the user's grants as that transaction left them.
//
// An address registered by more organizations than one transaction's
// operations hold (etcd's 128) is claimed in several (chain). If another
// writer got in between, claim returns errRetry with what it claimed so
// far (n registrations and their jobs): each registration still has
// exactly one owner, and the login reads again and claims what is left.
func (s *Store) claim(ctx context.Context, l prereg.Login, v loginView) (grants []prereg.Registration, jobs []prereg.SyncJob, n int, err error) {
	now := s.now().UTC()
	c := &chain{s: s, addr: v.addr, after: v.rev}
	for _, st := range v.claimable {
		summary := fmt.Sprintf("granted to %s with roles %s", l.UserID, strings.Join(st.r.Roles, "|"))
		cmp := s.unchanged(st)
		gops, job, err := s.grantOps(st, l.UserID, now, "hook", summary)
		if err != nil {
			return nil, jobs, n, err
		}
		if err := c.add(ctx, cmp, gops, func() { n, jobs = n+1, append(jobs, job...) }); err != nil {
			return nil, jobs, n, err
		}
	}
	user := s.k(kUser, l.UserID, "\x00")
	resp, err := c.flushClaim(ctx, user)
	if err != nil {
		return nil, jobs, n, err
	}
	grants, err = s.decodeGrants(resp.Responses[len(resp.Responses)-1].GetResponseRange().Kvs, len(user), l.UserID)
	return grants, jobs, n, err
}

// chain commits the changes of records under one address in transactions
// within etcd's limits: each holds only if its records are unchanged and
// nothing under the address changed since the previous one committed (the
// first: since the revision the records were read at). Of concurrent
// writers, a record is changed by exactly one; one that finds the address
// changed between its transactions reads again.
type chain struct {
	s     *Store
	addr  string // the address's key prefix
	after int64
	cmps  []clientv3.Cmp
	ops   []clientv3.Op
	done  []func()
}

// add gathers one record's compare and operations; done runs when the
// transaction holding them commits. What was gathered before is
// committed first when they would not fit beside it.
func (c *chain) add(ctx context.Context, cmp clientv3.Cmp, ops []clientv3.Op, done func()) error {
	// Room for the address's compare and one read at the end.
	if len(c.done) > 0 && (len(c.ops)+len(ops) > maxOps-1 || len(c.cmps)+2 > maxOps) {
		if _, err := c.flush(ctx); err != nil {
			return err
		}
	}
	c.cmps = append(c.cmps, cmp)
	c.ops = append(c.ops, ops...)
	c.done = append(c.done, done)
	return nil
}

// flush commits what was gathered.
func (c *chain) flush(ctx context.Context) (*clientv3.TxnResponse, error) { return c.send(ctx, "") }

// flushClaim commits what was gathered and reads the user's grants (the
// prefix user) as it leaves them, in a request it may share with other
// logins' claims (claimgroup.go).
func (c *chain) flushClaim(ctx context.Context, user string) (*clientv3.TxnResponse, error) {
	return c.send(ctx, user)
}

func (c *chain) send(ctx context.Context, user string) (*clientv3.TxnResponse, error) {
	cmps := append(c.cmps, clientv3.Compare(clientv3.ModRevision(c.addr), "<", c.after+1).WithPrefix())
	var (
		resp *clientv3.TxnResponse
		err  error
	)
	if user == "" {
		resp, err = c.s.commit(ctx, cmps, c.ops)
	} else {
		resp, err = c.s.commitClaim(ctx, c.addr, user, cmps, append(c.ops, clientv3.OpGet(user, clientv3.WithPrefix())))
	}
	if err != nil {
		return nil, err
	}
	c.after = resp.Header.Revision
	for _, f := range c.done {
		f()
	}
	c.cmps, c.ops, c.done = nil, nil, nil
	return resp, nil
}

// grantOps are the operations that claim st's record for userID at now,
// with its sync job when Auth0 sync is on (returned) and its audit entry.
func (s *Store) grantOps(st stored, userID string, now time.Time, actor, summary string) ([]clientv3.Op, []prereg.SyncJob, error) {
	old, r := st.r, *st.r
	sync := prereg.SyncNone
	if s.opts.SyncEnabled {
		sync = prereg.SyncPending
	}
	prereg.Claim(&r, userID, now, sync)
	ops, err := s.putOps(st.k, old, &r)
	if err != nil {
		return nil, nil, err
	}
	var jobs []prereg.SyncJob
	if s.opts.SyncEnabled {
		job, jops := s.jobOps(prereg.GrantJob(&r), now)
		ops = append(ops, jops...)
		jobs = append(jobs, job)
	}
	*st.r = r
	return append(ops, s.auditOp(now, actor, prereg.AuditGranted, r.OrganizationID, r.ID, summary)), jobs, nil
}

// GrantTo claims one registration for userID outside a login (reconcile).
// It refuses anything that is not pending.
func (s *Store) GrantTo(ctx context.Context, registrationID, userID string) (prereg.Registration, []prereg.SyncJob, error) {
	var (
		out  prereg.Registration
		jobs []prereg.SyncJob
	)
	err := retry(ctx, "grant", func() error {
		st, err := s.find(ctx, registrationID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if es := st.r.EffectiveStatus(now); es != prereg.StatusPending {
			return prereg.Errorf(prereg.Conflict, "registration %s is %s, not pending", st.r.ID, es)
		}
		cmp := s.unchanged(st)
		ops, js, err := s.grantOps(st, userID, now, "reconcile", "granted to "+userID+" by reconcile")
		if err != nil {
			return err
		}
		if _, err := s.commit(ctx, []clientv3.Cmp{cmp}, ops); err != nil {
			return err
		}
		out, jobs = *st.r, js
		return nil
	})
	return out, jobs, err
}
