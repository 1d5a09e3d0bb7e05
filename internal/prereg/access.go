package prereg

import (
	"context"
	"crypto/subtle"
	"time"
)

// Token is an admin API token as stored: never the secret, only its hash
// (kept by the store) and what it may do.
type Token struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	OrganizationID string     `json:"organization_id"`
	ReadOnly       bool       `json:"read_only"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
}

// Principal is the caller of the admin API, after authentication.
type Principal struct {
	// TokenID names the caller in the audit trail ("bootstrap" for the
	// configured admin token, "cli" for the CLI on the file).
	TokenID        string
	OrganizationID string // empty: tenant-wide
	ReadOnly       bool
}

// TenantWide reports whether p may see every organization.
func (p Principal) TenantWide() bool { return p.OrganizationID == "" }

// CanSee reports whether p may read records of organizationID. A limited
// principal is answered not_found for anything else, so it cannot even learn
// that another organization's record exists.
func (p Principal) CanSee(organizationID string) bool {
	return p.OrganizationID == "" || p.OrganizationID == organizationID
}

// CheckWrite returns a Forbidden error unless p may write records of
// organizationID.
func (p Principal) CheckWrite(organizationID string) error {
	if p.ReadOnly {
		return Errorf(Forbidden, "this token is read-only")
	}
	if !p.CanSee(organizationID) {
		if organizationID == "" {
			return Errorf(Forbidden, "this token is limited to organization %s and cannot write tenant-wide registrations", p.OrganizationID)
		}
		return Errorf(Forbidden, "this token is limited to organization %s", p.OrganizationID)
	}
	return nil
}

// CheckTenantAdmin returns Forbidden unless p is a tenant-wide read-write
// principal, the only kind that manages tokens and takes backups.
func (p Principal) CheckTenantAdmin() error {
	if p.ReadOnly || p.OrganizationID != "" {
		return Errorf(Forbidden, "this needs a tenant-wide read-write token")
	}
	return nil
}

// AuditAction names what an audit entry records (CONTRACT §3).
type AuditAction string

// The audit actions of CONTRACT §3.
const (
	AuditCreated      AuditAction = "created"
	AuditUpdated      AuditAction = "updated"
	AuditRevoked      AuditAction = "revoked"
	AuditImported     AuditAction = "imported"
	AuditGranted      AuditAction = "granted"
	AuditSynced       AuditAction = "synced"
	AuditTokenCreated AuditAction = "token_created"
	AuditTokenRevoked AuditAction = "token_revoked"
	AuditBackup       AuditAction = "backup"
	AuditErased       AuditAction = "erased"
)

// AuditEntry is one line of the audit trail. Summaries never hold a full
// email address, so erasure need not rewrite them.
type AuditEntry struct {
	ID             string      `json:"id"`
	At             time.Time   `json:"at"`
	Actor          string      `json:"actor"`
	Action         AuditAction `json:"action"`
	OrganizationID string      `json:"organization_id"`
	RegistrationID string      `json:"registration_id"`
	Summary        string      `json:"summary"`
}

// MaskEmail returns a form of an address safe for logs and audit summaries:
// the first character of the local part and the domain ("a***@example.com").
func MaskEmail(email string) string {
	email = EmailKey(email)
	at := -1
	for i := len(email) - 1; i >= 0; i-- {
		if email[i] == '@' {
			at = i
			break
		}
	}
	if at <= 0 {
		return "***"
	}
	return email[:1] + "***" + email[at:]
}

// Scope confines a filter's organization to what p may see. org and set
// are what the caller asked for (set: an organization was named, even
// empty). A limited principal always gets its own organization; none is
// true when it asked for another one: the answer is then empty, so it
// cannot probe which organizations exist.
func (p Principal) Scope(org string, set bool) (scoped string, scopedSet, none bool) {
	if p.TenantWide() {
		return org, set, false
	}
	if set && org != p.OrganizationID {
		return "", false, true
	}
	return p.OrganizationID, true, false
}

// TokenFinder finds a stored admin token by the SHA-256 of its secret.
type TokenFinder interface {
	Authenticate(ctx context.Context, h [32]byte) (Token, bool, error)
}

// Authenticate returns the principal whose secret is given: the configured
// admin token, whose hash is admin (nil: none is configured), or a token
// of tokens. The configured one is compared in constant time.
func Authenticate(ctx context.Context, secret string, admin *[32]byte, tokens TokenFinder) (Principal, bool, error) {
	h := HashSecret(secret)
	if admin != nil && subtle.ConstantTimeCompare(h[:], admin[:]) == 1 {
		return Principal{TokenID: BootstrapTokenID}, true, nil
	}
	t, ok, err := tokens.Authenticate(ctx, h)
	if err != nil || !ok {
		return Principal{}, false, err
	}
	return Principal{TokenID: t.ID, OrganizationID: t.OrganizationID, ReadOnly: t.ReadOnly}, true, nil
}
