package prereg

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Prefixes of generated secrets, so a leaked one is easy to grep for in
// logs and repositories.
const (
	TokenPrefix      = "prt_"
	HookSecretPrefix = "phs_"
)

// NewSecret returns a fresh high-entropy secret starting with prefix.
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is how secrets are stored and compared: only their SHA-256
// is kept, and a lookup by hash says nothing about the secret.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// MaxTokenNameBytes bounds a token's name, which says what it is for.
const MaxTokenNameBytes = 100

// TokenRequest asks for a new admin token.
type TokenRequest struct {
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"` // empty: tenant-wide
	ReadOnly       bool   `json:"read_only"`
}

// Normalize trims the white space around the name and organization.
func (t TokenRequest) Normalize() TokenRequest {
	t.Name, t.OrganizationID = strings.TrimSpace(t.Name), strings.TrimSpace(t.OrganizationID)
	return t
}

// Validate checks a normalised request: a name of 1 to 100 bytes and, when
// set, an Auth0 organization ID.
func (t TokenRequest) Validate() error {
	var details []FieldError
	if t.Name == "" || len(t.Name) > MaxTokenNameBytes {
		details = append(details, FieldError{Field: "name", Message: "1 to 100 characters"})
	}
	if t.OrganizationID != "" && !ValidOrganizationID(t.OrganizationID) {
		details = append(details, FieldError{Field: "organization_id", Message: "not an Auth0 organization ID: expected org_ followed by 1 to 64 letters and digits"})
	}
	if details != nil {
		return &Error{Code: Invalid, Message: "the token request is not valid", Details: details}
	}
	return nil
}

// BootstrapOptions says which secrets a first start generates: those the
// configuration does not supply.
type BootstrapOptions struct {
	// HookSecret generates a hook secret once, kept only as its hash.
	HookSecret bool
	// AdminToken creates a tenant-wide read-write token once, while the
	// store has never held a token.
	AdminToken bool
}
