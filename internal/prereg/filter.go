package prereg

// Filter selects registrations for a listing, an export and their pages.
type Filter struct {
	Status         Status
	OrganizationID string
	// OrganizationSet says OrganizationID is a filter even when empty
	// (tenant-wide registrations only).
	OrganizationSet bool
	Email           string // matched on the normalised key
	// Sync selects grants by Auth0 sync state (they are all granted).
	Sync   SyncState
	Limit  int
	Cursor string
}

// Validate refuses a status or sync state no registration can have, which
// a store would otherwise silently answer with nothing.
func (f Filter) Validate() error {
	if f.Status != "" && !ValidStatus(f.Status) {
		return &Error{Code: Invalid, Message: "unknown status",
			Details: []FieldError{{Field: "status", Message: "one of pending, granted, revoked, expired"}}}
	}
	switch f.Sync {
	case SyncNone, SyncPending, SyncDone, SyncFailed:
		return nil
	}
	return &Error{Code: Invalid, Message: "unknown sync state",
		Details: []FieldError{{Field: "sync", Message: "one of pending, done, failed"}}}
}

// StatsFilter selects the organizations whose registrations are counted.
type StatsFilter struct {
	OrganizationID string
	// OrganizationSet restricts the counts to OrganizationID, even when it
	// is empty (tenant-wide registrations only).
	OrganizationSet bool
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	OrganizationID  string
	OrganizationSet bool
	Action          AuditAction
	Limit           int
	Cursor          string
}

// ImportFilter selects past imports.
type ImportFilter struct {
	// Viewer sees only the imports it may read (ImportSummary.VisibleTo).
	Viewer Principal
	Limit  int
	Cursor string
}
