package prereg

import (
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strings"
	"time"
)

// Status is where a registration is in its life.
type Status string

// The statuses of CONTRACT §1. Expired is never stored: it is a pending
// registration whose expiry has passed, computed at read time.
const (
	StatusPending Status = "pending"
	StatusGranted Status = "granted"
	StatusRevoked Status = "revoked"
	StatusExpired Status = "expired"
)

// ValidStatus reports whether s names a status a caller may filter on.
func ValidStatus(s Status) bool {
	switch s {
	case StatusPending, StatusGranted, StatusRevoked, StatusExpired:
		return true
	}
	return false
}

// SyncState says whether a grant's roles were written into Auth0.
type SyncState string

// Sync states of CONTRACT §8; empty when Auth0 sync is not configured.
const (
	SyncNone    SyncState = ""
	SyncPending SyncState = "pending"
	SyncDone    SyncState = "done"
	SyncFailed  SyncState = "failed"
)

// Registration is one pre-registered role assignment (CONTRACT §1).
type Registration struct {
	ID             string     `json:"id"`
	Email          string     `json:"email"`
	OrganizationID string     `json:"organization_id"`
	Roles          []string   `json:"roles"`
	Connection     string     `json:"connection"`
	ExpiresAt      *time.Time `json:"expires_at"`
	Status         Status     `json:"status"`
	GrantedTo      string     `json:"granted_to"`
	GrantedAt      *time.Time `json:"granted_at"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	Source         string     `json:"source"`
	Sync           SyncState  `json:"sync,omitempty"`
	SyncError      string     `json:"sync_error,omitempty"`
	// SyncedRoleIDs are the Auth0 role IDs the grant's sync assigned, which a
	// force-revoke removes (a role renamed since still goes). nil when
	// unknown: not synced yet, or synced before prereg kept them.
	SyncedRoleIDs []string `json:"-"`
}

// idEncoding is base32 with its digits first, so IDs sort as their keys
// do: the store keeps records in key order and an import written in ID
// order fills its pages front to back.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// KeySize is the size of a registration key, EmailPrefixSize that of the
// part all registrations of one address share.
const (
	KeySize         = 15
	EmailPrefixSize = 7
)

// Key is the binary form of a registration ID: a hash of the address alone
// followed by a hash of the (organization, address) pair. The store keys
// records by it, so every registration of an address sits together and the
// login hook finds them with one prefix scan.
type Key [KeySize]byte

// RegistrationKey derives the key of the (organization, email) pair.
func RegistrationKey(organizationID, email string) Key {
	// An import derives a million of these: hash from a stack buffer and
	// lower-case ASCII in place rather than through EmailKey's copies.
	var buf [384]byte
	b := append(buf[:0], organizationID...)
	b = append(b, 0)
	at := len(b)
	b = appendEmailKey(b, email)
	var k Key
	e := sha256.Sum256(b[at:])
	copy(k[:EmailPrefixSize], e[:])
	h := sha256.Sum256(b)
	copy(k[EmailPrefixSize:], h[:KeySize-EmailPrefixSize])
	return k
}

// EmailPrefix is the first part of the key of every registration of the
// address whose EmailKey is emailKey.
func EmailPrefix(emailKey string) []byte {
	h := sha256.Sum256([]byte(emailKey))
	return h[:EmailPrefixSize]
}

// ID is the registration ID of the key: "reg_" and 24 characters.
func (k Key) ID() string { return "reg_" + idEncoding.EncodeToString(k[:]) }

// ParseKey reads the key back out of an ID made by Key.ID. IDs handed out
// before keys existed (a plain hash, prereg 0.x stores) do not parse, or
// parse to a key that holds another ID: the store checks.
func ParseKey(id string) (Key, bool) {
	var k Key
	s, ok := strings.CutPrefix(id, "reg_")
	if !ok || len(s) != 24 {
		return k, false
	}
	n, err := idEncoding.Decode(k[:], []byte(s))
	return k, err == nil && n == KeySize
}

// RegistrationID derives the stable, opaque ID of the (organization, email)
// pair, so writing the same pair again always addresses the same record.
func RegistrationID(organizationID, email string) string {
	return RegistrationKey(organizationID, email).ID()
}

// EffectiveStatus is the status as callers see it at time now: a pending
// registration past its expiry reads as expired.
func (r *Registration) EffectiveStatus(now time.Time) Status {
	if r.Status == StatusPending && r.ExpiresAt != nil && !now.Before(*r.ExpiresAt) {
		return StatusExpired
	}
	return r.Status
}

// View returns a copy with the status computed for time now, ready to show.
func (r Registration) View(now time.Time) Registration {
	r.Status = r.EffectiveStatus(now)
	return r
}

// Change says what a write did to the store.
type Change string

// The results of a write; Conflict writes nothing.
const (
	Created   Change = "created"
	Updated   Change = "updated"
	Unchanged Change = "unchanged"
	Rejected  Change = "rejected"
)

// Apply computes the record that writing in (already normalised and valid)
// over existing (nil when there is none) produces at time now, following
// CONTRACT §1: a write replaces roles, connection and expiry; a revoked or
// expired record is reopened; a granted one is never reopened, so a
// different write is a conflict and an identical one is unchanged.
func Apply(existing *Registration, in Input, source string, now time.Time) (Registration, Change, error) {
	return ApplyKey(existing, in, RegistrationKey(in.OrganizationID, in.Email), source, now)
}

// ApplyKey is Apply for a caller that has derived in's key already (the
// store does, to find existing); a new record gets that key's ID.
func ApplyKey(existing *Registration, in Input, k Key, source string, now time.Time) (Registration, Change, error) {
	if existing == nil {
		r := Registration{
			ID:             k.ID(),
			Email:          in.Email,
			OrganizationID: in.OrganizationID,
			Roles:          slices.Clone(in.Roles),
			Connection:     in.Connection,
			ExpiresAt:      in.ExpiresAt,
			Status:         StatusPending,
			CreatedAt:      now,
			UpdatedAt:      now,
			Source:         source,
		}
		return r, Created, nil
	}
	r := *existing
	same := slices.Equal(r.Roles, in.Roles) && r.Connection == in.Connection && timeEqual(r.ExpiresAt, in.ExpiresAt)
	switch r.EffectiveStatus(now) {
	case StatusGranted:
		if same {
			return r, Unchanged, nil
		}
		return r, Rejected, Errorf(Conflict, "registration %s is already granted to a user; revoke it with force before changing it", r.ID)
	case StatusPending:
		if same && r.Email == in.Email {
			return r, Unchanged, nil
		}
	}
	// Revoked, expired, or a pending one that differs: (re)open as pending.
	r.Email = in.Email
	r.Roles = slices.Clone(in.Roles)
	r.Connection = in.Connection
	r.ExpiresAt = in.ExpiresAt
	r.Status = StatusPending
	r.GrantedTo = ""
	r.GrantedAt = nil
	r.Sync = SyncNone
	r.SyncError = ""
	r.SyncedRoleIDs = nil
	r.UpdatedAt = now
	r.Source = source
	return r, Updated, nil
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
