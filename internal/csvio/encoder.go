package csvio

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// Encoder writes registrations in the import format, followed by the
// read-only columns status, granted_to and granted_at, so that a file it
// writes imports back unchanged: the import skips revoked and expired rows
// and only checks granted ones.
type Encoder struct {
	w         *csv.Writer
	wroteHead bool
	rec       [8]string
}

// NewEncoder returns an Encoder writing to w. The header row is written
// with the first record, or by Flush when there is none, so an empty export
// is still a valid import file.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: csv.NewWriter(w)}
}

func (e *Encoder) writeHeader() error {
	if e.wroteHead {
		return nil
	}
	e.wroteHead = true
	if err := e.w.Write(ExportColumns); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	return nil
}

// Write writes one registration as a row: roles joined with '|', the expiry
// and the time of the grant as prereg.FormatExpiry writes them, the status
// as given (callers pass the view of the time of the export, where expired
// is computed), and every cell a spreadsheet would take for a formula
// prefixed with an apostrophe.
func (e *Encoder) Write(r prereg.Registration) error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.rec[0] = Neutralize(r.Email)
	e.rec[1] = Neutralize(r.OrganizationID)
	e.rec[2] = Neutralize(strings.Join(r.Roles, "|"))
	e.rec[3] = Neutralize(r.Connection)
	e.rec[4] = Neutralize(prereg.FormatExpiry(r.ExpiresAt))
	e.rec[5] = Neutralize(string(r.Status))
	e.rec[6] = Neutralize(r.GrantedTo)
	e.rec[7] = Neutralize(prereg.FormatExpiry(r.GrantedAt))
	if err := e.w.Write(e.rec[:]); err != nil {
		return fmt.Errorf("write csv row: %w", err)
	}
	return nil
}

// Flush writes any buffered rows (and the header, if no row was written)
// and reports any write error.
func (e *Encoder) Flush() error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// Neutralize prefixes a cell that begins with '=', '+', '-', '@', tab or
// carriage return with an apostrophe, so a spreadsheet shows it as text
// instead of running it as a formula (OWASP "CSV Injection"). The decoder
// removes exactly that apostrophe again. A value whose leading apostrophes
// are followed by such a character gets one more too, so it survives the
// round trip unchanged.
func Neutralize(s string) string {
	if formulaAfterQuotes(s) {
		return "'" + s
	}
	return s
}
