package prereg

import (
	"bytes"
	"encoding/binary"
	"slices"
	"time"
)

// ImportSummary is an import report without its row errors and warnings:
// what a listing of past imports shows (GET /v1/imports), and the part of
// every ImportReport that holds its counts and scope.
type ImportSummary struct {
	ImportID  string `json:"import_id"`
	DryRun    bool   `json:"dry_run"`
	Strict    bool   `json:"strict"`
	Rows      int    `json:"rows"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
	// Skipped counts rows an import never writes: an export's revoked,
	// expired and no longer granted registrations.
	Skipped           int `json:"skipped"`
	ErrorsTruncated   int `json:"errors_truncated,omitempty"`
	WarningsTruncated int `json:"warnings_truncated,omitempty"`
	// OrganizationID is the scope of the token that ran the import, so a
	// limited token reads only its own organization's reports.
	OrganizationID string `json:"organization_id"`
	// Organizations are the organizations the rows named (see
	// ImportOrganizations); nil in reports written before they were kept.
	Organizations []string `json:"organizations"`
	Actor         string   `json:"actor"`
	// SHA256 is the hex SHA-256 of the file imported (empty in reports
	// written before it was kept): it ties a report to its file, and a
	// console preview to the confirmation that sends the file again.
	SHA256     string    `json:"sha256,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// VisibleTo reports whether p may read this import (see importVisible).
func (s *ImportSummary) VisibleTo(p Principal) bool {
	return importVisible(p, s.Actor, s.OrganizationID, s.Organizations)
}

// importVisible: a tenant-wide principal sees every import; a limited one
// those it ran, those run by a token of its organization (which can write
// nothing else), and those whose rows all named its organization. A report
// that does not say which organizations it touched (older versions) is
// shown to tenant-wide principals only, unless one of the first two holds:
// its row errors may echo another organization's addresses.
func importVisible(p Principal, actor, ranIn string, touched []string) bool {
	switch {
	case p.TenantWide():
		return true
	case p.TokenID != "" && actor == p.TokenID, ranIn == p.OrganizationID:
		return true
	}
	return len(touched) > 0 && !slices.ContainsFunc(touched, func(o string) bool { return o != p.OrganizationID })
}

// MaxImportOrganizations bounds ImportReport.Organizations: a report that
// named more organizations keeps the first ones, which still tells that it
// touched more than one.
const MaxImportOrganizations = 100

// ImportOrganizations collects the organizations the rows of one import
// named, in the order first seen. A row whose organization is empty,
// invalid or could not be read counts as "" (tenant-wide), so an import
// with such a row is never taken for one organization's alone.
type ImportOrganizations struct {
	seen []string
}

// Add notes one row's organization_id as read from the file.
func (o *ImportOrganizations) Add(org string) {
	if !ValidOrganizationID(org) {
		org = ""
	}
	if n := len(o.seen); n > 0 && o.seen[n-1] == org || n >= MaxImportOrganizations || slices.Contains(o.seen, org) {
		return
	}
	o.seen = append(o.seen, org)
}

// List returns the organizations noted, never nil.
func (o *ImportOrganizations) List() []string {
	if o.seen == nil {
		return []string{}
	}
	return slices.Clone(o.seen)
}

// ImportPos orders imports for their listing: finish time, then ID for
// imports that finished in the same nanosecond. Times are after 1970, so
// the big-endian bytes sort.
func ImportPos(r *ImportSummary) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.ImportID)), uint64(r.FinishedAt.UnixNano()))
	return append(b, r.ImportID...)
}

// PageImports orders the imports a store found after the cursor's position
// newest first and cuts them to limit; next is the position of the last one
// kept when more remain (the store encodes it into its cursor), else nil.
func PageImports(all []ImportSummary, limit int) (page []ImportSummary, next []byte) {
	slices.SortFunc(all, func(a, b ImportSummary) int { return bytes.Compare(ImportPos(&b), ImportPos(&a)) })
	if len(all) > limit {
		all = all[:limit]
		next = ImportPos(&all[limit-1])
	}
	if all == nil {
		all = []ImportSummary{}
	}
	return all, next
}

// StartImports gives f its default limit and returns the position its
// cursor (made by a store of layout version) resumes after; nil: from the
// newest import.
func StartImports(f *ImportFilter, version byte) ([]byte, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Cursor == "" {
		return nil, nil
	}
	pos, err := DecodeCursor(f.Cursor, version, 'i')
	if err != nil || len(pos) < 8 {
		return nil, ErrBadCursor
	}
	return pos, nil
}
