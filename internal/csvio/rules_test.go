package csvio_test

import (
	"strings"
	"testing"

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
