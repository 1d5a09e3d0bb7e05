package auth0sync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// ReconcileStore is what Reconcile needs from the store.
type ReconcileStore interface {
	// EachPending calls fn for every pending (claimable, not expired) registration.
	EachPending(ctx context.Context, fn func(prereg.Registration) error) error
	// GrantTo claims the registration for userID (and enqueues its sync job, returned).
	GrantTo(ctx context.Context, registrationID, userID string) (prereg.Registration, []prereg.SyncJob, error)
}

// UserLookup finds Auth0 users by email; *Client implements it.
type UserLookup interface {
	UsersByEmail(ctx context.Context, email string) ([]User, error)
}

var _ UserLookup = (*Client)(nil)

// maxLookupRetries bounds the waits for a rate limit on one lookup.
const maxLookupRetries = 5

// Reconcile grants pending registrations whose email already belongs to
// exactly one Auth0 user with a verified email (people who will have no
// "first" login). A registration pinned to a connection only considers
// users with an identity in it. With dryRun nothing is written; the report
// says what would have been granted. Lookups that Auth0 rate-limits are
// retried after the reset time; other lookup failures are reported per
// registration and the run goes on. The error return is for the store or
// ctx only.
func Reconcile(ctx context.Context, store ReconcileStore, client UserLookup, dryRun bool) (prereg.ReconcileReport, error) {
	rep := prereg.ReconcileReport{DryRun: dryRun, Items: []prereg.ReconcileItem{}}
	// Collect first: network calls and writes inside the store's read
	// transaction would hold it open (and bbolt can deadlock a writer
	// waiting on a reader of the same goroutine).
	var pending []prereg.Registration
	if err := store.EachPending(ctx, func(r prereg.Registration) error {
		pending = append(pending, r)
		return nil
	}); err != nil {
		return rep, fmt.Errorf("list pending registrations: %w", err)
	}
	type lookup struct {
		users []User
		err   error
	}
	cache := map[string]lookup{}
	for _, r := range pending {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.Checked++
		item := prereg.ReconcileItem{RegistrationID: r.ID, OrganizationID: r.OrganizationID, Email: prereg.MaskEmail(r.Email)}
		lk, ok := cache[r.Email]
		if !ok {
			lk.users, lk.err = lookupWithRetry(ctx, client, r.Email)
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			cache[r.Email] = lk
		}
		if lk.err != nil {
			item.Result, item.Error = prereg.ReconcileError, prereg.ErrorMessage(lk.err)
			rep.Add(item)
			continue
		}
		userID, reason := pickUser(r, lk.users)
		switch {
		case reason != "":
			item.Result, item.Reason = prereg.ReconcileSkipped, reason
		case dryRun:
			item.Result, item.UserID = prereg.ReconcileWouldGrant, userID
		default:
			_, jobs, err := store.GrantTo(ctx, r.ID, userID)
			switch {
			case prereg.ErrorCode(err) == prereg.Conflict:
				item.Result, item.Reason = prereg.ReconcileSkipped, prereg.ReasonAlreadyClaims
			case err != nil:
				item.Result, item.Error = prereg.ReconcileError, prereg.ErrorMessage(err)
			default:
				item.Result, item.UserID = prereg.ReconcileGranted, userID
				rep.Jobs = append(rep.Jobs, jobs...)
			}
		}
		rep.Add(item)
	}
	return rep, nil
}

// pickUser applies the rule: among the users allowed by the registration's
// connection, exactly one must have a verified email.
func pickUser(r prereg.Registration, users []User) (string, string) {
	var candidates, verified []User
	for _, u := range users {
		if prereg.EmailKey(u.Email) != prereg.EmailKey(r.Email) {
			continue
		}
		if r.Connection != "" && !slices.Contains(u.Connections, r.Connection) {
			continue
		}
		candidates = append(candidates, u)
		if u.EmailVerified {
			verified = append(verified, u)
		}
	}
	switch {
	case len(candidates) == 0:
		return "", prereg.ReasonNoUser
	case len(verified) == 0:
		return "", prereg.ReasonNotVerified
	case len(verified) > 1:
		return "", prereg.ReasonSeveralUsers
	}
	return verified[0].ID, ""
}

func lookupWithRetry(ctx context.Context, client UserLookup, email string) ([]User, error) {
	for i := 0; ; i++ {
		users, err := client.UsersByEmail(ctx, email)
		if prereg.ErrorCode(err) != prereg.RateLimited || i >= maxLookupRetries {
			return users, err
		}
		wait := time.Second
		if until, ok := RetryAt(err); ok {
			wait = min(max(time.Until(until), 50*time.Millisecond), time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
