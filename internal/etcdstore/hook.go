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
	var out prereg.LoginResult
	err := retry(ctx, "login", func() error {
		v, err := s.readLogin(ctx, email, l)
		if err != nil {
			return err
		}
		facts := prereg.LoginFacts{Claimable: len(v.claimable) > 0, Verified: verified, Grants: len(v.grants)}
		if !facts.ShouldClaim() {
			out = prereg.LoginResult{HookResult: prereg.Result(facts.Outcome(), verified, v.grants, l.OrganizationID)}
			return nil
		}
		grants, jobs, err := s.claim(ctx, l, v)
		if err != nil {
			return err
		}
		facts = prereg.LoginFacts{Verified: verified, Claimed: len(v.claimable), Grants: len(grants)}
		out = prereg.LoginResult{HookResult: prereg.Result(facts.Outcome(), verified, grants, l.OrganizationID), Jobs: jobs}
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
	resp, err := s.cli.Txn(cctx).Then(
		clientv3.OpGet(v.addr, clientv3.WithPrefix()),
		clientv3.OpGet(user, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return v, translate(err)
	}
	v.rev = resp.Header.Revision
	now := s.now()
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
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
	v.grants, err = s.decodeGrants(resp.Responses[1].GetResponseRange().Kvs, len(user), l.UserID)
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
func (s *Store) claim(ctx context.Context, l prereg.Login, v loginView) ([]prereg.Registration, []prereg.SyncJob, error) {
	now := s.now().UTC()
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(v.addr), "<", v.rev+1).WithPrefix()}
	var (
		ops  []clientv3.Op
		jobs []prereg.SyncJob
	)
	for _, st := range v.claimable {
		cmps = append(cmps, s.unchanged(st))
		summary := fmt.Sprintf("granted to %s with roles %s", l.UserID, strings.Join(st.r.Roles, "|"))
		gops, job, err := s.grantOps(st, l.UserID, now, "hook", summary)
		if err != nil {
			return nil, nil, err
		}
		ops = append(ops, gops...)
		jobs = append(jobs, job...)
	}
	user := s.k(kUser, l.UserID, "\x00")
	ops = append(ops, clientv3.OpGet(user, clientv3.WithPrefix()))
	resp, err := s.commit(ctx, cmps, ops)
	if err != nil {
		return nil, nil, err
	}
	grants, err := s.decodeGrants(resp.Responses[len(ops)-1].GetResponseRange().Kvs, len(user), l.UserID)
	return grants, jobs, err
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
