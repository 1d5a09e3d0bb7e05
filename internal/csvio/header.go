package csvio

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/suggest"
)

// Column names of the import format, in the order the encoder writes them,
// then those of the read-only columns an export adds or an import accepts.
const (
	ColEmail          = "email"
	ColOrganizationID = "organization_id"
	ColRoles          = "roles"
	ColConnection     = "connection"
	ColExpiresAt      = "expires_at"

	ColStatus    = "status"
	ColGrantedTo = "granted_to"
	ColGrantedAt = "granted_at"
	ColID        = "id"
	ColCreatedAt = "created_at"
	ColUpdatedAt = "updated_at"
	ColSource    = "source"
)

// Columns lists the columns an import writes, in export order.
var Columns = []string{ColEmail, ColOrganizationID, ColRoles, ColConnection, ColExpiresAt}

// ExportColumns lists the columns an export writes: Columns, then the
// read-only status and claim of each registration.
var ExportColumns = append(slices.Clip(Columns), ColStatus, ColGrantedTo, ColGrantedAt)

// knownColumns lists every column an import accepts: ExportColumns, then
// the other fields of a registration as the API shows them, so a file
// built from an API listing imports too. Only status of the read-only
// columns is read (Row.Status); the others' values are ignored.
var knownColumns = append(slices.Clip(ExportColumns), ColID, ColCreatedAt, ColUpdatedAt, ColSource)

// Positions in knownColumns (and Decoder.idx) of the columns decode reads.
const (
	iEmail = iota
	iOrganizationID
	iRoles
	iConnection
	iExpiresAt
	iStatus
)

func headerError(field, msg string) *prereg.Error {
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: []prereg.FieldError{{Field: field, Message: msg}}}
}

func (d *Decoder) parseHeader(rec []string) error {
	names := make([]string, len(rec))
	width := 0
	for i, c := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(c))
		if names[i] != "" {
			width = i + 1
		}
	}
	names = names[:width]
	d.idx = make([]int, len(knownColumns))
	for i := range d.idx {
		d.idx[i] = -1
	}
	var details []prereg.FieldError
	known := 0
	for i, n := range names {
		if n == "" {
			details = append(details, prereg.FieldError{Field: "header", Message: fmt.Sprintf("column %d of the header has no name; name it (one of %s) or delete the column", i+1, strings.Join(Columns, ", "))})
			continue
		}
		k := columnIndex(n)
		if k < 0 {
			details = append(details, unknownColumn(rec[i], n))
			continue
		}
		known++
		if d.idx[k] >= 0 {
			details = append(details, prereg.FieldError{Field: n, Message: fmt.Sprintf("column %q appears twice (columns %d and %d); keep one", n, d.idx[k]+1, i+1)})
			continue
		}
		d.idx[k] = i
	}
	if len(details) == 0 || known > 0 {
		for _, k := range []int{iEmail, iRoles} {
			if d.idx[k] < 0 {
				details = append(details, prereg.FieldError{Field: Columns[k], Message: fmt.Sprintf("the required column %q is missing from the header row", Columns[k])})
			}
		}
	}
	if len(details) > 0 {
		return headerFailure(details, known)
	}
	d.width = width
	d.header = names
	return nil
}

// unknownColumn names the unknown column cell (lower-cased: n) and
// suggests the nearest known one, or lists them all.
func unknownColumn(cell, n string) prereg.FieldError {
	msg := fmt.Sprintf("unknown column %q", prereg.Truncate(cell))
	if s := nearestColumn(n); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += "; the known columns are " + strings.Join(Columns, ", ") + " and the read-only columns of an export (" + strings.Join(ExportColumns[len(Columns):], ", ") + ")"
	}
	return prereg.FieldError{Field: prereg.Truncate(strings.TrimSpace(cell)), Message: msg}
}

// headerFailure is the error for a header with problems; with no known
// column at all, the first line was likely data, not a header.
func headerFailure(details []prereg.FieldError, known int) error {
	msg := "the header row is not valid: " + details[0].Message
	if known == 0 {
		msg = "the first line must be a header row naming the columns (" + strings.Join(Columns, ", ") + "): " + details[0].Message
	}
	if len(details) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(details)-1)
	}
	return &prereg.Error{Code: prereg.Invalid, Message: msg, Details: details}
}

func columnIndex(name string) int {
	for i, c := range knownColumns {
		if c == name {
			return i
		}
	}
	return -1
}

// nearestColumn suggests the known column closest to a typo, or "" when
// nothing is close enough to be a plausible typo.
func nearestColumn(name string) string {
	norm := strings.NewReplacer(" ", "_", "-", "_").Replace(name)
	best, bestDist := "", 1<<30
	for _, c := range knownColumns {
		if dist := suggest.Distance(norm, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	limit := 2
	if len(best) > 8 {
		limit = 4
	}
	if bestDist <= limit {
		return best
	}
	return ""
}
