package prereg

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Outcome is the hook's verdict on one login (CONTRACT §2).
type Outcome string

// The four outcomes.
const (
	OutcomeGranted         Outcome = "granted"
	OutcomeAlreadyGranted  Outcome = "already_granted"
	OutcomeEmailUnverified Outcome = "email_unverified"
	OutcomeNoMatch         Outcome = "no_match"
)

// Login is what the post-login Action tells the hook about a login.
type Login struct {
	UserID         string `json:"user_id"`
	Email          string `json:"email"`
	EmailVerified  bool   `json:"email_verified"`
	OrganizationID string `json:"organization_id"`
	Connection     string `json:"connection"`
}

// MaxUserIDBytes bounds user_id; Auth0's own are far shorter.
const MaxUserIDBytes = 512

// MaxLoginEmailBytes bounds a login's email: the longest address plus room
// for the white space around it that matching trims.
const MaxLoginEmailBytes = MaxEmailBytes + 64

// Validate checks the parts of a login the hook relies on. A user_id must
// be exactly the bytes Auth0 sent: encoding/json turns invalid UTF-8 and
// lone surrogates into U+FFFD, so two different IDs would become one user
// sharing grants; U+FFFD is therefore refused along with invalid UTF-8.
func (l Login) Validate() error {
	if msg := userIDProblem(l.UserID); msg != "" {
		return &Error{Code: Invalid, Message: "user_id: " + msg, Details: []FieldError{{Field: "user_id", Message: msg}}}
	}
	if len(l.Email) > MaxLoginEmailBytes {
		msg := fmt.Sprintf("longer than %d bytes", MaxLoginEmailBytes)
		return &Error{Code: Invalid, Message: "email: " + msg, Details: []FieldError{{Field: "email", Message: msg}}}
	}
	return nil
}

// userIDProblem says what is wrong with a user_id, or "" when nothing is.
func userIDProblem(id string) string {
	switch {
	case id == "":
		return "is required"
	case len(id) > MaxUserIDBytes:
		return fmt.Sprintf("longer than %d bytes", MaxUserIDBytes)
	case !utf8.ValidString(id):
		return "not valid UTF-8"
	case strings.ContainsRune(id, utf8.RuneError):
		return "holds U+FFFD, the replacement for an invalid character"
	case strings.ContainsFunc(id, unicode.IsControl):
		// The store's user index also separates parts with NUL.
		return "control characters are not allowed"
	}
	return ""
}

// Grant is one registration as claimed by a user, as the hook reports it.
type Grant struct {
	RegistrationID string    `json:"registration_id"`
	OrganizationID string    `json:"organization_id"`
	Roles          []string  `json:"roles"`
	Status         Status    `json:"status"`
	Sync           SyncState `json:"sync,omitempty"`
}

// HookResult is the hook's answer.
type HookResult struct {
	Outcome       Outcome  `json:"outcome"`
	EmailVerified bool     `json:"email_verified"`
	Roles         []string `json:"roles"`
	Grants        []Grant  `json:"grants"`
}

// Claimable reports whether this login may claim r at time now: pending,
// not expired, and either unpinned or pinned to the login's connection.
func Claimable(r *Registration, l Login, now time.Time) bool {
	if r.EffectiveStatus(now) != StatusPending {
		return false
	}
	if r.Connection != "" && r.Connection != l.Connection {
		return false
	}
	return true
}

// Claim marks r as granted to userID at time now.
func Claim(r *Registration, userID string, now time.Time, sync SyncState) {
	r.Status = StatusGranted
	r.GrantedTo = userID
	t := now
	r.GrantedAt = &t
	r.UpdatedAt = now
	r.Sync = sync
	r.SyncError = ""
	r.SyncedRoleIDs = nil
}

// Result assembles the answer from the user's grants: roles are those of
// tenant-wide grants plus those of the login's organization, without
// duplicates; grants lists every grant in a stable order.
func Result(outcome Outcome, verified bool, grants []Registration, organizationID string) HookResult {
	res := HookResult{Outcome: outcome, EmailVerified: verified, Roles: []string{}, Grants: make([]Grant, 0, len(grants))}
	slices.SortFunc(grants, func(a, b Registration) int {
		if a.OrganizationID != b.OrganizationID {
			if a.OrganizationID < b.OrganizationID {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	for _, g := range grants {
		res.Grants = append(res.Grants, Grant{RegistrationID: g.ID, OrganizationID: g.OrganizationID, Roles: g.Roles, Status: g.Status, Sync: g.Sync})
		if g.OrganizationID == "" || g.OrganizationID == organizationID {
			for _, role := range g.Roles {
				if !slices.Contains(res.Roles, role) {
					res.Roles = append(res.Roles, role)
				}
			}
		}
	}
	return res
}

// LoginResult is the hook's answer plus the sync jobs the claim enqueued,
// which the caller may try to run at once.
type LoginResult struct {
	HookResult
	Jobs []SyncJob
}

// LoginFacts is what a store found for one login, from which the outcome
// follows (CONTRACT §2).
type LoginFacts struct {
	// Claimable says the address has registrations this login may claim.
	Claimable bool
	// Verified is the email_verified the service acts on.
	Verified bool
	// Claimed counts the registrations this login claimed.
	Claimed int
	// Grants counts the user's grants, after any claim.
	Grants int
}

// ShouldClaim reports whether the login claims what is claimable: only a
// verified address may.
func (f LoginFacts) ShouldClaim() bool { return f.Claimable && f.Verified }

// Outcome decides the login. An unverified address with something to
// claim is told so only when the user holds no grant yet: a user who has
// grants keeps getting them while a new registration waits.
func (f LoginFacts) Outcome() Outcome {
	switch {
	case f.Claimed > 0:
		return OutcomeGranted
	case f.Claimable && !f.Verified && f.Grants == 0:
		return OutcomeEmailUnverified
	case f.Grants > 0:
		return OutcomeAlreadyGranted
	}
	return OutcomeNoMatch
}

// TrustedConnections are the connections whose emails count as verified
// whatever the login says (an enterprise directory that vouches for its
// addresses).
type TrustedConnections map[string]bool

// NewTrustedConnections builds the set from the configured names.
func NewTrustedConnections(names []string) TrustedConnections {
	t := make(TrustedConnections, len(names))
	for _, n := range names {
		t[n] = true
	}
	return t
}

// Verified is the email_verified the service acts on for l: the login's
// own, or true on a trusted connection.
func (t TrustedConnections) Verified(l Login) bool {
	return l.EmailVerified || (l.Connection != "" && t[l.Connection])
}
