package prereg

import "time"

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
