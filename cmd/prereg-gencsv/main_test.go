package main

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/prereg/prereg/internal/csvio"
)

func TestGenerate(t *testing.T) {
	tests := []struct {
		args  []string
		delim rune
		roles int
	}{
		{[]string{"-rows", "500", "-org-share", "0.3", "-roles", "3", "-seed", "9"}, ',', 3},
		{[]string{"-rows", "200", "-roles", "12", "-delimiter", "tab", "-crlf", "-bom"}, '\t', 12},
		{[]string{"-rows", "100", "-delimiter", ";"}, ';', 2},
	}
	for _, tt := range tests {
		var a, b bytes.Buffer
		if err := run(tt.args, &a); err != nil {
			t.Fatal(err)
		}
		if err := run(tt.args, &b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%v: the same seed wrote different files", tt.args)
		}
		dec, err := csvio.NewDecoder(&a)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Delimiter() != tt.delim {
			t.Errorf("%v: delimiter %q", tt.args, dec.Delimiter())
		}
		n, orgRows := 0, 0
		for {
			row, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(row.Errors) > 0 || len(row.Input.Roles) != tt.roles {
				t.Fatalf("%v: line %d: %+v %+v", tt.args, row.Line, row.Input, row.Errors)
			}
			if row.Input.OrganizationID != "" {
				orgRows++
			}
			n++
		}
		if want := tt.args[1]; want == "500" && (n != 500 || orgRows < 100 || orgRows > 200) {
			t.Errorf("%v: %d rows, %d with an organization", tt.args, n, orgRows)
		}
	}
	if err := run([]string{"-org-share", "2"}, io.Discard); err == nil {
		t.Error("-org-share 2 accepted")
	}
}
