package prereg

import (
	"slices"
	"strings"
	"time"
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

// Validate checks the parts of a login the hook relies on.
func (l Login) Validate() error {
	switch {
	case l.UserID == "":
		return &Error{Code: Invalid, Message: "user_id is required", Details: []FieldError{{Field: "user_id", Message: "is required"}}}
	case len(l.UserID) > MaxUserIDBytes:
		return &Error{Code: Invalid, Message: "user_id is too long", Details: []FieldError{{Field: "user_id", Message: "longer than 512 bytes"}}}
	case strings.ContainsFunc(l.UserID, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		// The store's user index separates parts with NUL: control
		// characters never belong in an Auth0 user_id anyway.
		return &Error{Code: Invalid, Message: "user_id holds control characters", Details: []FieldError{{Field: "user_id", Message: "control characters are not allowed"}}}
	case len(l.Email) > MaxEmailBytes+64:
		return &Error{Code: Invalid, Message: "email is too long", Details: []FieldError{{Field: "email", Message: "longer than 254 bytes"}}}
	}
	return nil
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
