package csvio_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

const corpus = "../../testdata/csv"

// wantRow is the expected decoding of one record; exp is the expiry in
// RFC 3339 ("" for none).
type wantRow struct {
	line   int
	email  string
	org    string
	roles  []string
	conn   string
	exp    string
	errors []prereg.RowError
}

func good(line int, email, org string, roles []string, conn, exp string) wantRow {
	return wantRow{line: line, email: email, org: org, roles: roles, conn: conn, exp: exp}
}

func bad(line int, errs ...prereg.RowError) wantRow {
	for i := range errs {
		errs[i].Line = line
	}
	return wantRow{line: line, errors: errs}
}

func rs(r ...string) []string { return r }

const (
	org       = "org_dr3b5S9l3sReLayv"
	role      = "rol_lEh5V8omwZrnZd9o"
	quoteMsg  = `the quoting is broken: a cell that contains a quote, the delimiter or a line break must be wrapped in double quotes, with each quote inside doubled ("")`
	roleMsgF  = `role %q is neither a role ID (rol_…) nor a role name of 1 to 100 printable characters without | or ;`
	orgMsg    = "not an Auth0 organization ID: expected org_ followed by 1 to 64 letters and digits"
	noRoleMsg = "at least one role is required"
)

func roleErr(value string) prereg.RowError {
	return prereg.RowError{Column: "roles", Value: prereg.Truncate(value), Message: fmt.Sprintf(roleMsgF, prereg.Truncate(value))}
}

// decodeAll reads every row of r; a fatal error ends the list.
func decodeAll(t *testing.T, r io.Reader) (rows []csvio.Row, delim rune, err error) {
	t.Helper()
	dec, err := csvio.NewDecoder(r)
	if err != nil {
		return nil, 0, err
	}
	for {
		row, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return rows, dec.Delimiter(), nil
		}
		if err != nil {
			return rows, dec.Delimiter(), err
		}
		rows = append(rows, row)
	}
}

func TestDecodeCorpus(t *testing.T) {
	long := strings.Repeat("x", 101)
	var r51 []string
	for i := range 51 {
		r51 = append(r51, fmt.Sprintf("r%d", i))
	}
	tests := []struct {
		file  string
		delim rune
		rows  []wantRow
	}{
		{"excel_bom_crlf_semicolon.csv", ';', []wantRow{
			good(2, "ana.silva@example.com", org, rs(role, "billing-admin"), "", "2027-01-31T23:59:59Z"),
			good(3, "Bruno.Costa@Example.com", "", rs("Support Agent"), "Username-Password-Authentication", ""),
			good(4, "carla@example.com", org, rs("Viewer", "Editor"), "google-oauth2", "2027-06-30T16:00:00Z"),
			// line 5 is an empty spreadsheet row (";;;;;;"): skipped.
			{line: 6, email: "josé.núñez@example.com", roles: rs("Billing; read-only"), errors: []prereg.RowError{roleErr("Billing; read-only")}},
			good(7, "dora@example.com", "", rs(`a "quoted" role`), "", ""),
		}},
		{"google_sheets.csv", ',', []wantRow{
			good(2, "dana@example.com", "", rs(role, "billing-admin"), "", "2027-01-31T23:59:59Z"),
			good(3, "EVA@EXAMPLE.COM", org, rs("Admin, Support"), "", ""),
			good(4, "frank@example.com", "", rs("viewer", "editor"), "", "2027-03-01T09:30:00Z"),
			good(5, "gail@example.com", org, rs("rol_AbC123"), "", "2028-12-31T23:59:59Z"),
		}},
		{"tab_delimited.tsv", '\t', []wantRow{
			{line: 2, email: "sam@example.com", roles: rs("viewer;editor"), errors: []prereg.RowError{roleErr("viewer;editor")}},
			good(3, "tom@example.com", org, rs(role, "viewer"), "", ""),
		}},
		{"multiline.csv", ',', []wantRow{
			good(2, "gina@example.com", "", rs(role, "billing-admin", "viewer"), "", ""),
			{line: 5, email: "hugo@example.com", roles: rs("Line one\nline two"), errors: []prereg.RowError{roleErr("Line one\nline two")}},
			good(7, "ines@example.com", "", rs("viewer"), "", ""),
			good(9, "jo@example.com", "", rs(`a "quoted" role`), "", ""),
			good(10, "kai@example.com", "", rs("viewer"), "", ""),
			good(13, "lea@example.com", "", rs("viewer"), "", ""),
		}},
		{"formula_injection.csv", ',', []wantRow{
			good(2, "+max@example.com", "", rs(`=HYPERLINK("http://evil.example")`, "viewer"), "", ""),
			good(3, "nora@example.com", "", rs("-admin"), "", ""),
			good(4, "oli@example.com", "", rs("@sum"), "", ""),
			good(5, "pia@example.com", "", rs("'=keep-one-quote"), "", ""),
			good(6, "quinn@example.com", "", rs("=raw-formula"), "", ""),
			good(7, "rita@example.com", "", rs("'plain"), "", ""),
		}},
		{"bad_rows.csv", ',', []wantRow{
			{line: 2, email: "ana@", roles: rs("viewer"), errors: []prereg.RowError{{Column: "email", Value: "ana@", Message: "not a valid email address"}}},
			{line: 3, roles: rs("viewer"), errors: []prereg.RowError{{Column: "email", Message: "is required"}}},
			{line: 4, email: "bob@example.com", org: "org-123", roles: rs("viewer"), errors: []prereg.RowError{{Column: "organization_id", Value: "org-123", Message: orgMsg}}},
			{line: 5, email: "carl@example.com", roles: rs(), errors: []prereg.RowError{{Column: "roles", Message: noRoleMsg}}},
			{line: 6, email: "dora@example.com", roles: rs("viewer", long), errors: []prereg.RowError{roleErr(long)}},
			{line: 7, email: "erik@example.com", roles: r51, errors: []prereg.RowError{{Column: "roles", Value: prereg.Truncate(strings.Join(r51, "|")), Message: "more than 50 roles"}}},
			{line: 8, email: "fay@example.com", roles: rs("viewer"), conn: "Bad Connection!", errors: []prereg.RowError{{Column: "connection", Value: "Bad Connection!", Message: "not an Auth0 connection name: letters, digits and '-', starting and ending with a letter or digit"}}},
			{line: 9, email: "gus@example.com", roles: rs("viewer"), errors: []prereg.RowError{{Column: "expires_at", Value: "2027-02-30", Message: "not an RFC 3339 time (2027-01-31T18:00:00Z) or a date (2027-01-31, meaning the end of that day UTC)"}}},
			bad(10, prereg.RowError{Value: "extra", Message: "this row has a value in cell 6 but the header has only 5 columns; a cell that contains the delimiter ',' must be wrapped in double quotes"}),
			bad(11, prereg.RowError{Message: "this row has 3 cells but the header has 5 columns; check for a missing delimiter or an unquoted line break"}),
			bad(12, prereg.RowError{Message: quoteMsg}),
			bad(13, prereg.RowError{Message: quoteMsg}),
			good(14, "lou@example.com", "", rs("viewer"), "", ""),
			good(15, "mia@example.com", org, rs("viewer"), "", ""),
			good(16, "LOU@example.com", "", rs("editor"), "", ""),
			good(17, "mia@example.com", "", rs("viewer"), "", ""),
			{line: 18, email: "ned@example.com", roles: rs("ok", "bad\trole"), errors: []prereg.RowError{roleErr("bad\trole")}},
			{line: 19, email: "not-an-email", org: "org_!", roles: rs(), errors: []prereg.RowError{
				{Column: "email", Value: "not-an-email", Message: "not a valid email address"},
				{Column: "organization_id", Value: "org_!", Message: orgMsg},
				{Column: "roles", Message: noRoleMsg},
			}},
			good(20, "Lou@Example.com", "", rs("admin"), "", ""),
			good(21, "nell@example.com", "", rs("viewer"), "", "2027-01-31T23:59:59Z"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(corpus, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, delim, err := decodeAll(t, f)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if delim != tt.delim {
				t.Errorf("delimiter = %q, want %q", delim, tt.delim)
			}
			got := make([]wantRow, len(rows))
			for i, r := range rows {
				got[i] = toWant(r)
			}
			want := make([]wantRow, len(tt.rows))
			for i, w := range tt.rows {
				for j := range w.errors {
					w.errors[j].Line = w.line
				}
				if w.errors == nil {
					w.errors = []prereg.RowError{}
				}
				want[i] = w
			}
			if len(got) != len(want) {
				t.Fatalf("got %d rows, want %d:\n%s", len(got), len(want), dump(got))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func toWant(r csvio.Row) wantRow {
	w := wantRow{line: r.Line, email: r.Input.Email, org: r.Input.OrganizationID, roles: r.Input.Roles, conn: r.Input.Connection, errors: r.Errors}
	if r.Input.ExpiresAt != nil {
		w.exp = r.Input.ExpiresAt.Format(time.RFC3339)
	}
	if w.errors == nil {
		w.errors = []prereg.RowError{}
	}
	if len(w.roles) == 0 {
		w.roles = nil
	}
	return w
}

func dump(rows []wantRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%+v\n", r)
	}
	return b.String()
}

// TestDecodeFatal covers the problems that stop an import before any row:
// header and encoding errors, each an Invalid *prereg.Error whose Details
// name what to fix.
func TestDecodeFatal(t *testing.T) {
	const (
		saveAs = `save the file as "CSV UTF-8 (Comma delimited)" (Excel) or export it as UTF-8 CSV and try again`
		empty  = "the file is empty: the first line must be a header row naming the columns email,organization_id,roles,connection,expires_at"
	)
	tests := []struct {
		name    string
		file    string // in the corpus, or
		input   string
		rowsOK  int // rows read before the fatal error
		message string
		details []prereg.FieldError
	}{
		{name: "empty", file: "empty.csv", message: empty, details: []prereg.FieldError{{Field: "file", Message: empty}}},
		{name: "bom and blank lines only", file: "blank_only.csv", message: empty, details: []prereg.FieldError{{Field: "file", Message: empty}}},
		{name: "typo", file: "header_typo.csv",
			message: `the header row is not valid: unknown column "emial"; did you mean "email"? (and 2 more)`,
			details: []prereg.FieldError{
				{Field: "emial", Message: `unknown column "emial"; did you mean "email"?`},
				{Field: "organisation_id", Message: `unknown column "organisation_id"; did you mean "organization_id"?`},
				{Field: "email", Message: `the required column "email" is missing from the header row`},
			}},
		{name: "space instead of underscore", input: "Email,Roles,Organization ID\n",
			message: `the header row is not valid: unknown column "Organization ID"; did you mean "organization_id"?`,
			details: []prereg.FieldError{{Field: "Organization ID", Message: `unknown column "Organization ID"; did you mean "organization_id"?`}}},
		{name: "duplicate", file: "header_duplicate.csv",
			message: `the header row is not valid: column "email" appears twice (columns 1 and 3); keep one`,
			details: []prereg.FieldError{{Field: "email", Message: `column "email" appears twice (columns 1 and 3); keep one`}}},
		{name: "missing roles", file: "header_missing_roles.csv",
			message: `the header row is not valid: the required column "roles" is missing from the header row`,
			details: []prereg.FieldError{{Field: "roles", Message: `the required column "roles" is missing from the header row`}}},
		{name: "unnamed column", file: "header_unnamed_column.csv",
			message: "the header row is not valid: column 2 of the header has no name; name it (one of email, organization_id, roles, connection, expires_at) or delete the column",
			details: []prereg.FieldError{{Field: "header", Message: "column 2 of the header has no name; name it (one of email, organization_id, roles, connection, expires_at) or delete the column"}}},
		{name: "no header", file: "no_header.csv",
			message: `the first line must be a header row naming the columns (email, organization_id, roles, connection, expires_at): unknown column "ana@example.com"; the known columns are email, organization_id, roles, connection, expires_at and the read-only columns of an export (status, granted_to, granted_at) (and 1 more)`,
			details: []prereg.FieldError{
				{Field: "ana@example.com", Message: `unknown column "ana@example.com"; the known columns are email, organization_id, roles, connection, expires_at and the read-only columns of an export (status, granted_to, granted_at)`},
				{Field: "viewer", Message: `unknown column "viewer"; the known columns are email, organization_id, roles, connection, expires_at and the read-only columns of an export (status, granted_to, granted_at)`},
			}},
		{name: "utf-16le with bom", file: "utf16le_bom.csv", message: "the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8; " + saveAs},
		{name: "utf-16be with bom", file: "utf16be_bom.csv", message: "the file is UTF-16 (it starts with a UTF-16 byte-order mark), not UTF-8; " + saveAs},
		{name: "utf-16le without bom", file: "utf16le_nobom.csv", message: "the file holds NUL bytes: it looks like UTF-16 or a binary file, not UTF-8 text; " + saveAs},
		{name: "latin-1 header", file: "latin1_header.csv", message: "line 1 is not valid UTF-8 (the file looks like Latin-1 or Windows-1252); " + saveAs},
		{name: "latin-1 later in the file", file: "latin1.csv", rowsOK: 1, message: "line 4 is not valid UTF-8 (the file looks like Latin-1 or Windows-1252); " + saveAs},
		{name: "bare CR line ends", input: "email,roles\rana@example.com,viewer\r",
			message: "lines end with a bare carriage return (classic Mac OS) instead of LF or CRLF; " + saveAs},
		{name: "huge header", input: strings.Repeat("x", 70000) + ",roles\n",
			message: "the header row is longer than 64 KiB; the first line must be a header row naming the columns email,organization_id,roles,connection,expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tt.input)
			if tt.file != "" {
				b, err := os.ReadFile(filepath.Join(corpus, tt.file))
				if err != nil {
					t.Fatal(err)
				}
				r = bytes.NewReader(b)
			}
			rows, _, err := decodeAll(t, r)
			if len(rows) != tt.rowsOK {
				t.Errorf("read %d rows before the error, want %d", len(rows), tt.rowsOK)
			}
			var pe *prereg.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *prereg.Error", err)
			}
			if pe.Code != prereg.Invalid || pe.Message != tt.message {
				t.Errorf("error = %s %q\nwant invalid %q", pe.Code, pe.Message, tt.message)
			}
			if tt.details == nil {
				if len(pe.Details) != 1 || pe.Details[0].Message != tt.message {
					t.Errorf("details = %+v, want one with the message", pe.Details)
				}
			} else if !reflect.DeepEqual(pe.Details, tt.details) {
				t.Errorf("details:\n got %+v\nwant %+v", pe.Details, tt.details)
			}
		})
	}
}

// TestDecodeVariants covers smaller real-world variations inline.
func TestDecodeVariants(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []wantRow
	}{
		{"header in any order and case, trailing empty header cells and row cells",
			"ROLES , Email,,\nviewer,ana@example.com,,,\n",
			[]wantRow{good(2, "ana@example.com", "", rs("viewer"), "", "")}},
		{"blank lines before the header and between rows count as lines",
			"\n\nemail,roles\n\nana@example.com,viewer\n   \n,\nbob@example.com,viewer",
			[]wantRow{good(5, "ana@example.com", "", rs("viewer"), "", ""), good(8, "bob@example.com", "", rs("viewer"), "", "")}},
		{"CRLF inside a quoted cell counts as one line",
			"email,roles\r\n\"ana@example.com\r\n\",viewer\r\nbob@example.com,viewer\r\n",
			[]wantRow{good(2, "ana@example.com", "", rs("viewer"), "", ""), good(4, "bob@example.com", "", rs("viewer"), "", "")}},
		{"semicolon file: roles split only on |",
			"email;roles\nana@example.com;a|b\n",
			[]wantRow{good(2, "ana@example.com", "", rs("a", "b"), "", "")}},
		{"duplicate and empty roles are dropped, order kept",
			"email,roles\nana@example.com,b|a||b; a\n",
			[]wantRow{good(2, "ana@example.com", "", rs("b", "a"), "", "")}},
		{"space before a quoted cell",
			"email, roles\nana@example.com, \"x, y\"\n",
			[]wantRow{good(2, "ana@example.com", "", rs("x, y"), "", "")}},
		{"expiry with offset is stored in UTC",
			"email,roles,expires_at\nana@example.com,viewer,2027-01-31T18:00:00-05:00\n",
			[]wantRow{good(2, "ana@example.com", "", rs("viewer"), "", "2027-01-31T23:00:00Z")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _, err := decodeAll(t, strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("got %d rows, want %d: %+v", len(rows), len(tt.want), rows)
			}
			for i, w := range tt.want {
				if w.errors == nil {
					w.errors = []prereg.RowError{}
				}
				if got := toWant(rows[i]); !reflect.DeepEqual(got, w) {
					t.Errorf("row %d:\n got %+v\nwant %+v", i, got, w)
				}
			}
		})
	}
}

func TestDecodeWithoutValidation(t *testing.T) {
	dec, err := csvio.NewDecoder(strings.NewReader("email,roles\nana@,viewer\n"))
	if err != nil {
		t.Fatal(err)
	}
	dec.SetValidation(false)
	row, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(row.Errors) != 0 || row.Input.Email != "ana@" {
		t.Errorf("row = %+v, want the input without validation errors", row)
	}
}

// TestBytesRead: at the end, the decoder has counted every byte of the
// file, byte-order mark included, so a progress bar reaches its total.
func TestBytesRead(t *testing.T) {
	for _, name := range []string{"excel_bom_crlf_semicolon.csv", "google_sheets.csv", "multiline.csv"} {
		b, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := csvio.NewDecoder(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := dec.Next(); err != nil {
				break
			}
		}
		if dec.BytesRead() != int64(len(b)) {
			t.Errorf("%s: BytesRead = %d, want %d", name, dec.BytesRead(), len(b))
		}
	}
}
