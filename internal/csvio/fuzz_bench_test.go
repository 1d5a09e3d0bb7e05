package csvio_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/csvio/csvgen"
	"github.com/prereg/prereg/internal/prereg"
)

// FuzzDecoder feeds the decoder arbitrary bytes. Besides not panicking it
// checks the promises callers rely on: lines only go forward, every error
// names its row's line, a fatal error at a line (an unclosed quote, a
// record too long) names one of the file's lines after the last row and is
// returned again, a skipped row has a skipping status, a good row is
// valid, and a good row exported and imported again comes back the same.
// Seeds: the corpus in testdata/csv and testdata/fuzz/FuzzDecoder.
func FuzzDecoder(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(corpus, "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec, err := csvio.NewDecoder(bytes.NewReader(data))
		if err != nil {
			var pe *prereg.Error
			if !errors.As(err, &pe) || pe.Code != prereg.Invalid || len(pe.Details) == 0 {
				t.Fatalf("NewDecoder error %v is not an Invalid *prereg.Error with details", err)
			}
			return
		}
		prev := 0
		for {
			row, err := dec.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var pe *prereg.Error
				if !errors.As(err, &pe) || pe.Code != prereg.Invalid {
					t.Fatalf("Next error %v is not an Invalid *prereg.Error", err)
				}
				checkFatalLine(t, pe, prev, bytes.Count(data, []byte("\n"))+1)
				if _, again := dec.Next(); again != err {
					t.Fatalf("Next after %v returned %v", err, again)
				}
				return
			}
			if row.Line <= prev {
				t.Fatalf("line %d after line %d", row.Line, prev)
			}
			prev = row.Line
			for _, e := range row.Errors {
				if e.Line != row.Line || e.Message == "" {
					t.Fatalf("row error %+v on row of line %d", e, row.Line)
				}
			}
			if len(row.Errors) > 0 {
				continue
			}
			if row.Skipped() {
				if row.Status != prereg.StatusRevoked && row.Status != prereg.StatusExpired {
					t.Fatalf("row of line %d skipped with status %q", row.Line, row.Status)
				}
				continue
			}
			if err := row.Input.Validate(); err != nil {
				t.Fatalf("good row %+v does not validate: %v", row.Input, err)
			}
			checkRoundTrip(t, row.Input)
		}
	})
}

// checkFatalLine: a fatal error that names a line names it in its details,
// after the last row returned and within the file.
func checkFatalLine(t *testing.T, pe *prereg.Error, prev, lines int) {
	t.Helper()
	if len(pe.Details) != 1 || pe.Details[0].Field != "line" {
		return
	}
	l, err := strconv.Atoi(pe.Details[0].Value)
	if err != nil || l <= prev || l > lines || !strings.HasPrefix(pe.Message, "line "+pe.Details[0].Value+": ") {
		t.Fatalf("fatal error %q names line %q after row line %d in a file of %d lines", pe.Message, pe.Details[0].Value, prev, lines)
	}
}

func checkRoundTrip(t *testing.T, in prereg.Input) {
	t.Helper()
	var buf bytes.Buffer
	enc := csvio.NewEncoder(&buf)
	if err := enc.Write(prereg.Registration{Email: in.Email, OrganizationID: in.OrganizationID, Roles: in.Roles, Connection: in.Connection, ExpiresAt: in.ExpiresAt, Status: prereg.StatusPending}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	dec, err := csvio.NewDecoder(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("re-import of %q: %v", buf.String(), err)
	}
	row, err := dec.Next()
	if err != nil {
		t.Fatalf("re-import of %q: %v", buf.String(), err)
	}
	if len(row.Errors) > 0 || !reflect.DeepEqual(row.Input, in) || row.Status != prereg.StatusPending {
		t.Fatalf("round trip of %+v gave %+v %+v via %q", in, row.Input, row.Errors, buf.String())
	}
}

// BenchmarkDecode measures the decoder with validation on a generated file
// (half organization rows, two roles per row), as pass 1 of an import runs
// it; rows/s is reported.
func BenchmarkDecode(b *testing.B) {
	for _, validate := range []bool{true, false} {
		name := "validate"
		if !validate {
			name = "novalidate"
		}
		b.Run(name, func(b *testing.B) {
			const rows = 100_000
			var buf bytes.Buffer
			if err := csvgen.Write(&buf, csvgen.Options{Rows: rows, OrgShare: 0.5, Roles: 2, Seed: 1}); err != nil {
				b.Fatal(err)
			}
			data := buf.Bytes()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				dec, err := csvio.NewDecoder(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				dec.SetValidation(validate)
				n := 0
				for {
					row, err := dec.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if len(row.Errors) > 0 {
						b.Fatalf("line %d: %+v", row.Line, row.Errors)
					}
					n++
				}
				if n != rows {
					b.Fatalf("decoded %d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
