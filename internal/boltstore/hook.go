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

// LoginResult is the hook's answer plus the sync jobs the claim enqueued,
// which the caller may try to run at once.
type LoginResult struct {
	prereg.HookResult
	Jobs []prereg.SyncJob
}

// Login decides a login (CONTRACT §2). verified is the email_verified the
// service acts on (the request's, or true for a trusted connection).
//
// A read transaction decides first: most logins claim nothing, and they
// never wait for the writer. Only when something is claimable does a write
// transaction run, which re-checks every candidate, so two logins racing
// for one registration produce exactly one owner. The answer is built from
// what that transaction committed, after it returned.
func (s *Store) Login(ctx context.Context, l prereg.Login, verified bool) (LoginResult, error) {
	var (
		grants    []prereg.Registration
		claimable []prereg.Key
	)
	email := l.MatchKey()
	if email == "" {
		// CONTRACT §2: without an address (or with one no registration
		// may hold, §1) the answer is no_match, even for a user with
		// earlier grants (the Action keeps what app_metadata has).
		return LoginResult{HookResult: prereg.Result(prereg.OutcomeNoMatch, verified, nil, l.OrganizationID)}, nil
	}
	// Most logins have nothing pending under their address, and many are
	// of users never granted anything: what the sets rule out is not read
	// (see keySet), and a login they rule out entirely opens no
	// transaction.
	prefix := prereg.EmailPrefix(email)
	scan := s.pendingAddrs.has(prefixKey(prefix))
	uk := userKey(l.UserID)
	readGrants := s.grantedUsers.has(uk)
	var gen uint64
	if readGrants {
		// The grants of users who logged in lately are in memory (see
		// grantCache); a miss reads them and keeps them.
		var hit bool
		if grants, gen, hit = s.grants.get(uk, l.UserID); hit {
			readGrants = false
		}
	}
	if scan || readGrants {
		err := s.view(ctx, func(tx *bolt.Tx) error {
			// Only the buckets this login reads are opened (each is a
			// search of the root).
			t := &regTx{tx: tx}
			var err error
			if scan {
				t.recs = tx.Bucket(bRecs)
				if claimable, err = claimableKeys(t, prefix, email, l, s.now()); err != nil {
					return err
				}
			}
			if readGrants {
				t.user = tx.Bucket(bByUser)
				grants, err = userGrants(t, l.UserID)
			}
			return err
		})
		if err != nil {
			return LoginResult{}, err
		}
		if readGrants {
			s.grants.put(uk, l.UserID, gen, grants)
		}
	}
	switch {
	case len(claimable) > 0 && verified:
		return s.claim(ctx, l, verified, prefix, claimable)
	case len(grants) > 0:
		return LoginResult{HookResult: prereg.Result(prereg.OutcomeAlreadyGranted, verified, grants, l.OrganizationID)}, nil
	case len(claimable) > 0:
		return LoginResult{HookResult: prereg.Result(prereg.OutcomeEmailUnverified, verified, nil, l.OrganizationID)}, nil
	}
	return LoginResult{HookResult: prereg.Result(prereg.OutcomeNoMatch, verified, nil, l.OrganizationID)}, nil
}

// claim claims the keys found claimable, all under the address prefix.
func (s *Store) claim(ctx context.Context, l prereg.Login, verified bool, prefix []byte, keys []prereg.Key) (LoginResult, error) {
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
		for _, k := range keys {
			r, err := t.load(k[:])
			if err != nil {
				return err
			}
			if r == nil || !prereg.Claimable(r, l, now) {
				continue // lost a race, revoked or expired meanwhile
			}
			summary := fmt.Sprintf("granted to %s with roles %s", l.UserID, strings.Join(r.Roles, "|"))
			job, err := s.grant(t, r, l.UserID, now, "hook", summary)
			if err != nil {
				return err
			}
			claimed++
			jobs = append(jobs, job...)
		}
		var err error
		if claimed > 0 {
			if settled, err = t.noPendingUnder(prefix); err != nil {
				return err
			}
		}
		grants, err = userGrants(t, l.UserID)
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	s.pendingAddrs.removeIf(settled)
	outcome := prereg.OutcomeGranted
	if claimed == 0 {
		outcome = prereg.OutcomeNoMatch
		if len(grants) > 0 {
			outcome = prereg.OutcomeAlreadyGranted
		}
	}
	return LoginResult{HookResult: prereg.Result(outcome, verified, grants, l.OrganizationID), Jobs: jobs}, nil
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
		job, err := enqueue(t.tx, grantJob(r), now)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, job)
	}
	return jobs, addAudit(t.tx, now, actor, prereg.AuditGranted, r.OrganizationID, r.ID, summary)
}

// grantJob is the sync job that writes grant r into Auth0.
func grantJob(r *prereg.Registration) prereg.SyncJob {
	return prereg.SyncJob{Kind: prereg.JobGrant, RegistrationID: r.ID, UserID: r.GrantedTo, OrganizationID: r.OrganizationID, Roles: r.Roles}
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

// claimableKeys returns the keys of the registrations of the address that
// this login may claim. They all start with the address's prefix; a
// prefix shared with another address (a 56-bit hash) is told apart by the
// address itself.
func claimableKeys(t *regTx, prefix []byte, email string, l prereg.Login, now time.Time) ([]prereg.Key, error) {
	var out []prereg.Key
	c := t.recs.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := t.decode(k, v)
		if err != nil {
			return nil, err
		}
		if prereg.EmailKey(r.Email) == email && prereg.Claimable(r, l, now) {
			out = append(out, prereg.Key(k))
		}
	}
	return out, nil
}
