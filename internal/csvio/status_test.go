package csvio_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

const statusMsg = "unknown status; the valid values are pending, granted, revoked and expired, or an empty cell"

// TestDecodeExportColumns: an export's read-only columns are accepted, their
// values ignored, except status, which marks revoked and expired rows as
// skipped (CONTRACT §4 v2).
func TestDecodeExportColumns(t *testing.T) {
	const head = "email,organization_id,roles,connection,expires_at,status,granted_to,granted_at,id,created_at,updated_at,source\n"
	tests := []struct {
		name    string
		row     string
		status  prereg.Status
		skipped bool
		errors  []prereg.RowError
	}{
		{"no status", "ana@example.com,,viewer,,,,,,x,y,z,w", "", false, nil},
		{"pending", "ana@example.com,,viewer,,,pending,,,,,,", prereg.StatusPending, false, nil},
		{"granted", "ana@example.com,,viewer,,,granted,auth0|1,2026-10-01T00:00:00Z,,,,", prereg.StatusGranted, false, nil},
		{"revoked", "ana@example.com,,viewer,,,revoked,,,,,,", prereg.StatusRevoked, true, nil},
		{"expired", "ana@example.com,,viewer,,2026-01-01,expired,,,,,,", prereg.StatusExpired, true, nil},
		{"case and spaces", "ana@example.com,,viewer,,, Revoked ,,,,,,", prereg.StatusRevoked, true, nil},
		{"skipped rows are not validated", "not-an-address,,,,,revoked,,,,,,", prereg.StatusRevoked, true, nil},
		{"neutralised status", "ana@example.com,,viewer,,,'=1,,,,,,", "", false,
			[]prereg.RowError{{Line: 2, Column: "status", Value: "=1", Message: statusMsg}}},
		{"unknown status", "ana@example.com,,viewer,,,active,,,,,,", "", false,
			[]prereg.RowError{{Line: 2, Column: "status", Value: "active", Message: statusMsg}}},
		{"Kelvin sign is not k", "ana@example.com,,viewer,,,revo\u212Aed,,,,,,", "", false,
			[]prereg.RowError{{Line: 2, Column: "status", Value: "revo\u212Aed", Message: statusMsg}}},
		{"unknown status and a bad address", "ana@,,viewer,,,gone,,,,,,", "", false,
			[]prereg.RowError{{Line: 2, Column: "status", Value: "gone", Message: statusMsg}, {Line: 2, Column: "email", Value: "ana@", Message: "not a valid email address"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _, err := decodeAll(t, strings.NewReader(head+tt.row+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1", len(rows))
			}
			r := rows[0]
			if r.Status != tt.status || r.Skipped() != tt.skipped {
				t.Errorf("status %q skipped %v, want %q %v", r.Status, r.Skipped(), tt.status, tt.skipped)
			}
			if len(r.Errors) != 0 || len(tt.errors) != 0 {
				if !reflect.DeepEqual(r.Errors, tt.errors) {
					t.Errorf("errors:\n got %+v\nwant %+v", r.Errors, tt.errors)
				}
			}
		})
	}
}

// TestDecodeUnclosedQuote: a quoted cell that is never closed stops the
// file with one error naming the line where it opened; no row after it is
// returned, and the decoder keeps returning that error.
func TestDecodeUnclosedQuote(t *testing.T) {
	const head = "email,roles\n"
	good5 := strings.Repeat("good@example.com,viewer\n", 5)
	tests := []struct {
		name   string
		input  string
		rowsOK int // rows returned before the error
		line   int
	}{
		{"line 3 never closed, 5 good lines after", head + "ana@example.com,viewer\nbob@example.com,\"viewer\n" + good5, 1, 3},
		{"CRLF", strings.ReplaceAll(head+"ana@example.com,viewer\nbob@example.com,\"viewer\n"+good5, "\n", "\r\n"), 1, 3},
		{"the first cell", head + "\"bob@example.com,viewer\n" + good5, 0, 2},
		{"after a blank line", head + "\n\n\"bob@example.com,viewer\n" + good5, 0, 4},
		{"on the last line, no line end", head + "ana@example.com,viewer\nbob@example.com,\"viewer", 1, 3},
		{"on the last line", head + "ana@example.com,viewer\nbob@example.com,\"viewer\n", 1, 3},
		{"on the last line after a byte-order mark", "\xEF\xBB\xBF" + head + "ana@example.com,viewer\nbob@example.com,\"viewer\n", 1, 3},
		{"closed by a later cell's quote", head + "\"bob@example.com,viewer\nana@example.com,viewer\ncid@example.com,\"a|b\"\n" + good5, 0, 2},
		{"a multi-line cell closed by a quote followed by text", head + "ana@example.com,\"viewer\nmore\"x\nbob@example.com,viewer\n", 0, 2},
		{"after a multi-line cell", head + "ana@example.com,viewer\n\"bob\n@example.com\",\"viewer\n" + good5, 1, 4},
		{"longer than a record may be", head + "ana@example.com,viewer\nbob@example.com,\"viewer\n" + strings.Repeat("more text\n", 10000), 1, 3},
		{"semicolons", "email;roles\nana@example.com;viewer\nbob@example.com; \"viewer\n" + good5, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec, err := csvio.NewDecoder(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			var rows []csvio.Row
			for {
				row, e := dec.Next()
				if e != nil {
					err = e
					break
				}
				rows = append(rows, row)
			}
			if len(rows) != tt.rowsOK {
				t.Errorf("%d rows before the error, want %d: %+v", len(rows), tt.rowsOK, rows)
			}
			for _, r := range rows {
				if len(r.Errors) > 0 {
					t.Errorf("row %d has errors %+v", r.Line, r.Errors)
				}
			}
			var pe *prereg.Error
			if !errors.As(err, &pe) || pe.Code != prereg.Invalid {
				t.Fatalf("error = %v, want an invalid *prereg.Error", err)
			}
			want := "line " + strconv.Itoa(tt.line) + ": a quoted cell opens on this line and is never closed"
			if !strings.HasPrefix(pe.Message, want) {
				t.Errorf("message = %q, want it to start with %q", pe.Message, want)
			}
			if len(pe.Details) != 1 || pe.Details[0].Field != "line" || pe.Details[0].Value != strconv.Itoa(tt.line) || pe.Details[0].Message != pe.Message {
				t.Errorf("details = %+v, want one naming line %d", pe.Details, tt.line)
			}
			if _, again := dec.Next(); again != err {
				t.Errorf("Next after the error = %v, want the same error", again)
			}
		})
	}
}

// TestDecodeBrokenQuoteOnOneLine: a quote problem that ends on the line it
// began costs that row only; the rows after it are read.
func TestDecodeBrokenQuoteOnOneLine(t *testing.T) {
	rows, _, err := decodeAll(t, strings.NewReader("email,roles\n\"jan\"x@example.com,viewer\nkim@exa\"mple.com,viewer\nlou@example.com,viewer\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Line != 2 || len(rows[0].Errors) != 1 || rows[1].Line != 3 || len(rows[1].Errors) != 1 || rows[2].Line != 4 || len(rows[2].Errors) != 0 {
		t.Errorf("rows = %+v", rows)
	}
}

// TestDecodeLongUnquotedRecord: a record over the limit without any quote
// is refused with the line it starts on.
func TestDecodeLongUnquotedRecord(t *testing.T) {
	_, _, err := decodeAll(t, strings.NewReader("email,roles\nana@example.com,viewer\nbob@example.com,"+strings.Repeat("x", 100000)+"\nlou@example.com,viewer\n"))
	var pe *prereg.Error
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Message, "line 3: the record that starts on this line is longer than 64 KiB") {
		t.Fatalf("error = %v", err)
	}
}
