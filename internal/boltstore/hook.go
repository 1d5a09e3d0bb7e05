package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// Login decides a login (CONTRACT §2). verified is the email_verified the
// service acts on (the request's, or true for a trusted connection).
//
// A read transaction decides first: most logins claim nothing, and they
// never wait for the writer. Only when something is claimable does a write
// transaction run, which looks again, so two logins racing for one
// registration produce exactly one owner. The answer is built from what
// one transaction saw; doc.go says why it is linearizable when the login
// sets and the grant cache answer instead.
func (s *Store) Login(ctx context.Context, l prereg.Login, verified bool) (prereg.LoginResult, error) {
	email := l.MatchKey()
	if email == "" {
		// CONTRACT §2: without an address (or with one no registration
		// may hold, §1) the answer is no_match, even for a user with
		// earlier grants (the Action keeps what app_metadata has).
		return prereg.LoginResult{HookResult: prereg.Result(prereg.OutcomeNoMatch, verified, nil, l.OrganizationID)}, nil
	}
	prefix := prereg.EmailPrefix(email)
	pk := prefixKey(prefix)
	// Most logins have nothing pending under their address: those read at
	// most the user's grants, and from memory when the user logged in
	// lately.
	if scan, gen := s.pendingAddrs.hasGen(pk); !scan {
		uk := userKey(l.UserID)
		if !s.grantedUsers.has(uk) {
			return prereg.LoginResult{HookResult: prereg.Result(prereg.OutcomeNoMatch, verified, nil, l.OrganizationID)}, nil
		}
		grants, err := s.userGrants(ctx, uk, l.UserID)
		if err != nil {
			return prereg.LoginResult{}, err
		}
		if s.pendingAddrs.unchanged(pk, gen) {
			outcome := prereg.LoginFacts{Verified: verified, Grants: len(grants)}.Outcome()
			return prereg.LoginResult{HookResult: prereg.Result(outcome, verified, grants, l.OrganizationID)}, nil
		}
		// A record was written under the address's shard meanwhile.
	}
	var (
		grants    []prereg.Registration
		claimable bool
	)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		// Only the buckets this login reads are opened (each is a search
		// of the root).
		t := &regTx{tx: tx, recs: tx.Bucket(bRecs), user: tx.Bucket(bByUser)}
		regs, err := claimableRegs(t, prefix, email, l, s.now())
		if err != nil {
			return err
		}
		claimable = len(regs) > 0
		grants, err = userGrants(t, l.UserID)
		return err
	})
	if err != nil {
		return prereg.LoginResult{}, err
	}
	facts := prereg.LoginFacts{Claimable: claimable, Verified: verified, Grants: len(grants)}
	if facts.ShouldClaim() {
		return s.claim(ctx, l, verified, prefix, email)
	}
	return prereg.LoginResult{HookResult: prereg.Result(facts.Outcome(), verified, grants, l.OrganizationID)}, nil
}

// userGrants returns the grants of userID (uk is userKey(userID)) as of
// one moment during the call: the cached ones on a hit, else those of a
// read transaction (then cached).
func (s *Store) userGrants(ctx context.Context, uk uint64, userID string) ([]prereg.Registration, error) {
	grants, gen, hit := s.grants.get(uk, userID)
	if hit {
		return grants, nil
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		grants, err = userGrants(&regTx{tx: tx, user: tx.Bucket(bByUser)}, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.grants.put(uk, userID, gen, grants)
	return grants, nil
}

// claim claims every registration of the address (email, under prefix)
// that the login may claim when its write transaction runs.
func (s *Store) claim(ctx context.Context, l prereg.Login, verified bool, prefix []byte, email string) (prereg.LoginResult, error) {
	var (
		claimed int
		grants  []prereg.Registration
		jobs    []prereg.SyncJob
		settled keyMark
	)
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		// A grouped commit may run this again on its own: start from
		// nothing.
		claimed, grants, jobs, settled = 0, nil, nil, keyMark{}
		t := s.regTx(tx)
		now := s.now().UTC()
		// Looked for again: some may have been claimed, revoked or written
		// since the read transaction.
		regs, err := claimableRegs(t, prefix, email, l, now)
		if err != nil {
			return err
		}
		for _, r := range regs {
			summary := fmt.Sprintf("granted to %s with roles %s", l.UserID, strings.Join(r.Roles, "|"))
			job, err := s.grant(t, r, l.UserID, now, "hook", summary)
			if err != nil {
				return err
			}
			claimed++
			jobs = append(jobs, job...)
		}
		if claimed > 0 {
			if settled, err = t.noPendingUnder(prefix); err != nil {
				return err
			}
		}
		grants, err = userGrants(t, l.UserID)
		return err
	})
	if err != nil {
		return prereg.LoginResult{}, err
	}
	s.pendingAddrs.removeIf(settled)
	outcome := prereg.LoginFacts{Verified: verified, Claimed: claimed, Grants: len(grants)}.Outcome()
	return prereg.LoginResult{HookResult: prereg.Result(outcome, verified, grants, l.OrganizationID), Jobs: jobs}, nil
}

// GrantTo claims one registration for userID outside a login (reconcile).
// It refuses anything that is not pending.
func (s *Store) GrantTo(ctx context.Context, registrationID, userID string) (prereg.Registration, []prereg.SyncJob, error) {
	var (
		out     prereg.Registration
		jobs    []prereg.SyncJob
		settled keyMark
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		jobs = nil
		t := s.regTx(tx)
		r, err := t.find(registrationID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		if r.EffectiveStatus(now) != prereg.StatusPending {
			return prereg.Errorf(prereg.Conflict, "registration %s is %s, not pending", r.ID, r.EffectiveStatus(now))
		}
		if jobs, err = s.grant(t, r, userID, now, "reconcile", "granted to "+userID+" by reconcile"); err != nil {
			return err
		}
		out = *r
		k := t.recordKey(r)
		settled, err = t.noPendingUnder(k[:prereg.EmailPrefixSize])
		return err
	})
	if err == nil {
		s.pendingAddrs.removeIf(settled)
	}
	return out, jobs, err
}

// grant claims r for userID at time now, with its sync job when Auth0
// sync is on (returned, at most one) and its audit entry.
func (s *Store) grant(t *regTx, r *prereg.Registration, userID string, now time.Time, actor, summary string) ([]prereg.SyncJob, error) {
	old := *r
	sync := prereg.SyncNone
	if s.opts.SyncEnabled {
		sync = prereg.SyncPending
	}
	prereg.Claim(r, userID, now, sync)
	if err := t.put(&old, r); err != nil {
		return nil, err
	}
	var jobs []prereg.SyncJob
	if s.opts.SyncEnabled {
		job, err := enqueue(t.tx, prereg.GrantJob(r), now)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, addAudit(t.tx, now, actor, prereg.AuditGranted, r.OrganizationID, r.ID, summary)
}

// userGrants returns every registration granted to userID, as the user
// index carries them (the fields the hook answers with).
func userGrants(t *regTx, userID string) ([]prereg.Registration, error) {
	var out []prereg.Registration
	prefix := key(userID, "")
	c := t.user.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+prereg.KeySize {
			continue // another user whose ID extends this one
		}
		r, err := decodeGrant(v, userID)
		if err != nil {
			return nil, fmt.Errorf("decode the grant of index entry %x: %w", k, err)
		}
		out = append(out, *r)
	}
	return out, nil
}

// claimableRegs returns the registrations of the address that this login
// may claim. Their keys all start with the address's prefix; a prefix
// shared with another address (a 56-bit hash) is told apart by the address
// itself.
func claimableRegs(t *regTx, prefix []byte, email string, l prereg.Login, now time.Time) ([]*prereg.Registration, error) {
	var out []*prereg.Registration
	c := t.recs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := t.decode(k, v)
		if err != nil {
			return nil, err
		}
		if prereg.EmailKey(r.Email) == email && prereg.Claimable(r, l, now) {
			out = append(out, r)
		}
	}
	return out, nil
}
