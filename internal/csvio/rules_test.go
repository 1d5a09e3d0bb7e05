package csvio_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

// CONTRACT §1 v2 in an import: an address is trimmed of ASCII white space
// only and refused when it holds a control, format or other white-space
// character; an expiry outside 2000-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z is a row error naming the column.
func TestDecodeV2Rules(t *testing.T) {
	file := "email,roles,expires_at\n" +
		"\"\u00a0k1@corp.example\",viewer,\n" +
		"k1@corp.example\u0085,viewer,\n" +
		"k1@corp.example\u2028,viewer,\n" +
		"k1\u3000@corp.example,viewer,\n" +
		"a\u202E@b.io,viewer,\n" +
		" K1@Corp.Example\t,viewer,\n" +
		"a@b.io,viewer,1999-12-31\n" +
		"a@b.io,viewer,1970-01-01T00:00:00Z\n" +
		"a@b.io,viewer,9999-12-31T23:59:59.5Z\n" +
		"a@b.io,viewer,9999-12-31\n" +
		"a@b.io,viewer,2000-01-01T00:00:00Z\n"
	rows, _, err := decodeAll(t, strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		column string // "" for a good row
		exp    string
	}{
		{"email", ""}, {"email", ""}, {"email", ""}, {"email", ""}, {"email", ""},
		{"", ""},
		{"expires_at", ""}, {"expires_at", ""}, {"expires_at", ""},
		{"", "9999-12-31T23:59:59Z"}, {"", "2000-01-01T00:00:00Z"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		row := rows[i]
		if w.column == "" {
			if len(row.Errors) != 0 || prereg.FormatExpiry(row.Input.ExpiresAt) != w.exp {
				t.Errorf("line %d: %+v, want a good row expiring %q", row.Line, row, w.exp)
			}
			continue
		}
		if len(row.Errors) != 1 || row.Errors[0].Column != w.column || row.Errors[0].Line != i+2 {
			t.Errorf("line %d: errors %+v, want one on %s", row.Line, row.Errors, w.column)
		}
	}
	if rows[5].Input.Email != "K1@Corp.Example" {
		t.Errorf("email %q, want it trimmed of ASCII white space", rows[5].Input.Email)
	}
}

// TestDecodeEmailWhiteSpace: around an address only ASCII white space
// (space, tab, CR, LF) is trimmed; a no-break space, U+3000, U+2028, U+0085
// or a control character at the start or end of the email cell makes the
// row an error naming its line and the email column, wherever the cell is,
// whatever the delimiter, and also where the CSV reader would drop it
// (unquoted, before a quote). Other cells keep their trimming.
func TestDecodeEmailWhiteSpace(t *testing.T) {
	type tc struct {
		name  string
		file  string
		line  int
		bad   rune   // the character the error names; 0 for a good row
		email string // of a good row
	}
	var tests []tc
	for _, ws := range []rune{'\u00a0', '\u3000', '\u2028', '\u0085'} {
		c := string(ws)
		for _, f := range []struct{ name, file string }{
			{"unquoted, start", "email,roles\n" + c + "k1@corp.example,viewer\n"},
			{"unquoted, end", "email,roles\nk1@corp.example" + c + ",viewer\n"},
			{"quoted, start", "email,roles\n\"" + c + "k1@corp.example\",viewer\n"},
			{"quoted, end", "email,roles\n\"k1@corp.example" + c + "\",viewer\n"},
			{"before the quote", "email,roles\n" + c + "\"k1@corp.example\",viewer\n"},
			{"after spaces", "email,roles\n \t" + c + " k1@corp.example,viewer\n"},
			{"not the first column", "roles,email\nviewer," + c + "k1@corp.example\n"},
			{"not the first column, end of line", "roles,email\nviewer,k1@corp.example" + c + "\n"},
			{"after a quoted cell", "roles,email\n\"viewer\"," + c + "k1@corp.example\n"},
			{"semicolons", "roles;email\nviewer;" + c + "k1@corp.example\n"},
			{"tabs", "roles\temail\nviewer\t" + c + "k1@corp.example\n"},
			{"CRLF and a byte-order mark", "\xEF\xBB\xBFroles,email\r\nviewer," + c + "k1@corp.example\r\n"},
		} {
			tests = append(tests, tc{name: fmt.Sprintf("%U %s", ws, f.name), file: f.file, line: 2, bad: ws})
		}
	}
	tests = append(tests,
		tc{name: "after a multi-line cell and blank lines", file: "source,email,roles,granted_to\napi,a@b.io,viewer,\n\n\n\"imp\r\n1\",\u00a0k1@corp.example,viewer,\"x\ny\"\napi,\u3000k2@corp.example,viewer,\n", line: 5, bad: '\u00a0'},
		tc{name: "the record after it", file: "source,email,roles,granted_to\napi,a@b.io,viewer,\n\n\n\"imp\r\n1\",\u00a0k1@corp.example,viewer,\"x\ny\"\napi,\u3000k2@corp.example,viewer,\n", line: 8, bad: '\u3000'},
		tc{name: "vertical tab", file: "email,roles\n\vk1@corp.example,viewer\n", line: 2, bad: '\v'},
		tc{name: "form feed", file: "roles,email\nviewer,\fk1@corp.example\n", line: 2, bad: '\f'},
		tc{name: "spaces and tabs", file: "email,roles\n \t k1@corp.example \t,viewer\n", line: 2, email: "k1@corp.example"},
		tc{name: "spaces before a quote", file: "roles,email\nviewer,  \"k1@corp.example\"\n", line: 2, email: "k1@corp.example"},
		tc{name: "semicolons and spaces", file: "roles;email\nviewer; k1@corp.example \n", line: 2, email: "k1@corp.example"},
		tc{name: "tabs and spaces", file: "roles\temail\nviewer\t k1@corp.example \n", line: 2, email: "k1@corp.example"},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _, err := decodeAll(t, strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var row csvio.Row
			for _, r := range rows {
				if r.Line == tt.line {
					row = r
				}
			}
			if row.Line == 0 {
				t.Fatalf("no row on line %d: %+v", tt.line, rows)
			}
			if tt.bad == 0 {
				if len(row.Errors) != 0 || row.Input.Email != tt.email {
					t.Errorf("row %+v, want a good row of %q", row, tt.email)
				}
				return
			}
			msg := fmt.Sprintf("holds %U; control characters, Unicode format characters and white space other than surrounding spaces are not allowed in an address", tt.bad)
			if len(row.Errors) != 1 || row.Errors[0].Line != tt.line || row.Errors[0].Column != "email" || row.Errors[0].Message != msg || !strings.ContainsRune(row.Errors[0].Value, tt.bad) {
				t.Errorf("errors %+v, want one on line %d, column email: %q", row.Errors, tt.line, msg)
			}
		})
	}
}

// TestDecodeOtherCellsTrimmed: the email rule leaves the other cells as
// they were: white space the CSV reader drops at the start of an unquoted
// cell, a no-break space included, is still dropped there.
func TestDecodeOtherCellsTrimmed(t *testing.T) {
	rows, _, err := decodeAll(t, strings.NewReader("email,roles,organization_id,connection,expires_at,status\n"+
		"k1@corp.example,\u00a0viewer|\u3000editor,\u00a0org_dr3b5S9l3sReLayv,\u2028google-oauth2,\u00a02027-01-31,\u00a0pending\n"))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC)
	want := prereg.Input{Email: "k1@corp.example", OrganizationID: "org_dr3b5S9l3sReLayv", Roles: []string{"viewer", "editor"}, Connection: "google-oauth2", ExpiresAt: &exp}
	if len(rows) != 1 || len(rows[0].Errors) != 0 || !reflect.DeepEqual(rows[0].Input, want) || rows[0].Status != prereg.StatusPending {
		t.Errorf("rows %+v, want one good row %+v", rows, want)
	}
}

// TestDecodeEmailWhiteSpaceLongFile: the rule holds all through a file far
// longer than what the decoder keeps of it, with blank lines, multi-line
// cells and CRLF between the rows.
func TestDecodeEmailWhiteSpaceLongFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("source,email,roles\r\n")
	line := 2
	bad := map[int]bool{}
	for i := range 20_000 {
		email := fmt.Sprintf("user%d@corp.example", i)
		switch {
		case i%997 == 0:
			email = " \u00a0" + email
			bad[line] = true
		case i%13 == 0:
			email = " \t" + email
		}
		src := "api"
		if i%7 == 0 {
			src = "\"imp\r\n" + strings.Repeat("x", i%50) + "\""
		}
		fmt.Fprintf(&b, "%s,%s,viewer\r\n", src, email)
		line += 1 + strings.Count(src, "\n")
		if i%11 == 0 {
			b.WriteString("\r\n\n")
			line += 2
		}
	}
	rows, _, err := decodeAll(t, strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 20_000 {
		t.Fatalf("%d rows, want 20000", len(rows))
	}
	found := 0
	for _, r := range rows {
		if !bad[r.Line] {
			if len(r.Errors) > 0 {
				t.Fatalf("line %d: errors %+v, want none", r.Line, r.Errors)
			}
			continue
		}
		found++
		if len(r.Errors) != 1 || r.Errors[0].Column != "email" || !strings.HasPrefix(r.Errors[0].Value, "\u00a0user") {
			t.Fatalf("line %d: errors %+v, want one on the email's no-break space", r.Line, r.Errors)
		}
	}
	if found != len(bad) {
		t.Errorf("%d rows on the lines with a no-break space, want %d", found, len(bad))
	}
}
