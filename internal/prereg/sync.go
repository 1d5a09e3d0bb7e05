package prereg

import (
	"slices"
	"time"
)

// JobKind says what a sync job must do in Auth0.
type JobKind string

// Sync job kinds.
const (
	// JobGrant assigns a grant's roles (and, for an organization grant, the
	// membership first).
	JobGrant JobKind = "grant"
	// JobRevoke removes the roles a force-revoked grant had assigned; an
	// organization membership stays.
	JobRevoke JobKind = "revoke"
	// JobVerifyEmail asks Auth0 to send a verification email.
	JobVerifyEmail JobKind = "verify_email"
)

// SyncJob is one unit of work for Auth0's Management API, kept in the
// store's durable queue until it is done or has failed for good. It is
// written in the same transaction as the grant it serves, so a grant can
// never be durable while its job is not.
type SyncJob struct {
	ID             string    `json:"id"`
	Kind           JobKind   `json:"kind"`
	RegistrationID string    `json:"registration_id"`
	UserID         string    `json:"user_id"`
	OrganizationID string    `json:"organization_id"`
	Roles          []string  `json:"roles"`
	Attempts       int       `json:"attempts"`
	NotBefore      time.Time `json:"not_before"`
	LastError      string    `json:"last_error,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// SyncOutcome is how a sync job ended, as recorded on its grant.
type SyncOutcome struct {
	State SyncState // SyncDone or SyncFailed
	Error string
	// RoleIDs are the Auth0 role IDs a grant job assigned (or tried to:
	// removing one that is not assigned is harmless); nil when the job
	// never got as far as resolving its roles.
	RoleIDs []string
}

// GrantJob is the sync job that writes grant r into Auth0.
func GrantJob(r *Registration) SyncJob {
	return SyncJob{Kind: JobGrant, RegistrationID: r.ID, UserID: r.GrantedTo, OrganizationID: r.OrganizationID, Roles: r.Roles}
}

// RevokeJob is the sync job that takes force-revoked grant r back out of
// Auth0.
func RevokeJob(r *Registration) SyncJob {
	return SyncJob{Kind: JobRevoke, RegistrationID: r.ID, UserID: r.GrantedTo, OrganizationID: r.OrganizationID, Roles: revokeRoles(r)}
}

// revokeRoles are the roles a force-revoke removes: the role IDs the
// grant's sync assigned, or, for a grant synced before they were kept (or
// whose sync had not finished), its role names, resolved again. A grant
// made while sync was off assigned none, but its revoke job still takes it
// out of the user's app_metadata.
func revokeRoles(r *Registration) []string {
	switch {
	case r.Sync == SyncNone:
		return []string{}
	case r.SyncedRoleIDs != nil:
		return r.SyncedRoleIDs
	}
	return r.Roles
}

// MergeIDs returns have with the IDs of add it lacks appended, never nil:
// a grant keeps every role ID any of its syncs assigned, so that a
// force-revoke removes them all.
func MergeIDs(have, add []string) []string {
	out := append(make([]string, 0, len(have)+len(add)), have...)
	for _, id := range add {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
