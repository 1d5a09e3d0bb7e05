package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/csvio/csvgen"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

const (
	corpus = "../../testdata/csv"
	orgA   = "org_dr3b5S9l3sReLayv"
	orgB   = "org_B0000000000000001"
)

var (
	t0     = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	clock  = func() time.Time { return t0 }
	tenant = prereg.Principal{TokenID: "bootstrap"}
)

// openStore opens a real bbolt store in a temporary directory; on cleanup
// it runs bbolt's consistency check and closes it.
func openStore(t testing.TB) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{Now: clock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if errs := s.Check(); len(errs) > 0 {
			t.Errorf("bbolt check: %v", errs)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpus, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t testing.TB, s importer.Store, data []byte, opts importer.Options) prereg.ImportReport {
	t.Helper()
	if opts.Now == nil {
		opts.Now = clock
	}
	if opts.Principal == (prereg.Principal{}) {
		opts.Principal = tenant
	}
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	rep, err := importer.Run(context.Background(), s, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if entries, _ := os.ReadDir(opts.TempDir); len(entries) != 0 {
		t.Errorf("temporary copy left behind: %v", entries)
	}
	return rep
}

// counts is the part of a report a table states; errors are given as
// "line:column" so the table stays readable (the decoder's tests pin the
// messages).
type counts struct {
	rows, created, updated, unchanged, rejected int
	errors                                      []string
	warnings                                    []prereg.RowWarning
}

func summarize(r prereg.ImportReport) counts {
	c := counts{rows: r.Rows, created: r.Created, updated: r.Updated, unchanged: r.Unchanged, rejected: r.Rejected, warnings: r.Warnings}
	for _, e := range r.Errors {
		c.errors = append(c.errors, fmt.Sprintf("%d:%s", e.Line, e.Column))
		if e.Message == "" {
			c.errors = append(c.errors, "(empty message)")
		}
	}
	if len(c.warnings) == 0 {
		c.warnings = nil
	}
	return c
}

func TestImportCorpus(t *testing.T) {
	tests := []struct {
		file string
		want counts
	}{
		{"excel_bom_crlf_semicolon.csv", counts{rows: 5, created: 4, rejected: 1, errors: []string{"6:roles"}}},
		{"google_sheets.csv", counts{rows: 4, created: 4}},
		{"tab_delimited.tsv", counts{rows: 2, created: 1, rejected: 1, errors: []string{"2:roles"}}},
		{"multiline.csv", counts{rows: 6, created: 5, rejected: 1, errors: []string{"5:roles"}}},
		{"formula_injection.csv", counts{rows: 6, created: 6}},
		{"bad_rows.csv", counts{rows: 20, created: 4, rejected: 14,
			errors: []string{"2:email", "3:email", "4:organization_id", "5:roles", "6:roles", "7:roles", "8:connection", "9:expires_at",
				"10:", "11:", "12:", "13:", "18:roles", "19:email", "19:organization_id", "19:roles"},
			warnings: []prereg.RowWarning{
				{Line: 20, Message: "duplicate of line 14; line 20 wins"},
				{Line: 20, Message: "duplicate of line 16; line 20 wins"},
			}}},
	}
	for _, tt := range tests {
		for _, batch := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/batch=%d", tt.file, batch), func(t *testing.T) { importCorpusFile(t, tt.file, batch, tt.want) })
		}
	}
}

// importCorpusFile imports file twice into a fresh store: the first report
// must be want, the second must find everything unchanged and write nothing.
func importCorpusFile(t *testing.T, file string, batch int, want counts) {
	s := openStore(t)
	data := readCorpus(t, file)
	rep := run(t, s, data, importer.Options{ImportID: "imp_first", BatchSize: batch})
	if got := summarize(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n got %+v\nwant %+v", got, want)
	}
	if rep.ImportID != "imp_first" || rep.DryRun || rep.Actor != "bootstrap" || !rep.StartedAt.Equal(t0) || !rep.FinishedAt.Equal(t0) {
		t.Errorf("report header = %+v", rep)
	}
	saved, err := s.Import(context.Background(), "imp_first")
	if err != nil || !reflect.DeepEqual(saved, rep) {
		t.Errorf("saved report = %+v, %v; want the returned one", saved, err)
	}

	// The same file again changes nothing.
	again := run(t, s, data, importer.Options{ImportID: "imp_second", BatchSize: batch})
	second := want
	second.unchanged, second.created, second.updated = want.created+want.updated, 0, 0
	if got := summarize(again); !reflect.DeepEqual(got, second) {
		t.Errorf("second import:\n got %+v\nwant %+v", got, second)
	}
	var sources []string
	err = s.Each(context.Background(), boltstore.Filter{}, func(r prereg.Registration) error {
		sources = append(sources, r.Source)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != want.created {
		t.Errorf("store holds %d registrations, want %d", len(sources), want.created)
	}
	for _, src := range sources {
		if src != "import:imp_first" {
			t.Errorf("source = %q, want import:imp_first (the second import must not write)", src)
		}
	}
}

// TestImportReportBounded: a file of bad rows keeps exact counts but at
// most prereg.MaxReportIssues errors and warnings.
func TestImportReportBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("email,roles\n")
	for i := range 1200 {
		fmt.Fprintf(&b, "bad%d,viewer\n", i)
	}
	for range 1100 {
		b.WriteString("same@example.com,viewer\n")
	}
	rep := run(t, openStore(t), []byte(b.String()), importer.Options{})
	if rep.Rows != 2300 || rep.Rejected != 1200 || rep.Created != 1 || len(rep.Errors) != prereg.MaxReportIssues || rep.ErrorsTruncated != 200 ||
		len(rep.Warnings) != prereg.MaxReportIssues || rep.WarningsTruncated != 99 {
		t.Errorf("rows %d rejected %d created %d errors %d+%d warnings %d+%d", rep.Rows, rep.Rejected, rep.Created, len(rep.Errors), rep.ErrorsTruncated, len(rep.Warnings), rep.WarningsTruncated)
	}
	if rep.Errors[0].Line != 2 || rep.Errors[999].Line != 1001 {
		t.Errorf("kept errors run from line %d to %d, want 2 to 1001", rep.Errors[0].Line, rep.Errors[999].Line)
	}
	if w := rep.Warnings[0]; w != (prereg.RowWarning{Line: 2301, Message: "duplicate of line 1202; line 2301 wins"}) {
		t.Errorf("first warning = %+v", w)
	}
}

// failAfter reads from r and then fails, as a body cut off by a size limit
// or a dropped connection does.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, f.err
	}
	return n, err
}

func TestImportReadError(t *testing.T) {
	errCut := errors.New("body too large")
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: 3000, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	tmp := t.TempDir()
	_, err := importer.Run(context.Background(), s, &failAfter{r: &buf, err: errCut}, importer.Options{Principal: tenant, TempDir: tmp})
	if !errors.Is(err, errCut) {
		t.Errorf("error = %v, want it to wrap the read error", err)
	}
	assertEmpty(t, s)
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("temporary copy left behind: %v", entries)
	}
}

// TestImportLastRowWins checks what the duplicate warnings promise: the
// stored registration is that of the last line.
func TestImportLastRowWins(t *testing.T) {
	s := openStore(t)
	run(t, s, readCorpus(t, "bad_rows.csv"), importer.Options{})
	r, err := s.Get(context.Background(), prereg.RegistrationID("", "lou@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Email != "Lou@Example.com" || !reflect.DeepEqual(r.Roles, []string{"admin"}) {
		t.Errorf("stored %+v, want line 20's Lou@Example.com with admin", r)
	}
	r, err = s.Get(context.Background(), prereg.RegistrationID("", "nell@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ExpiresAt == nil || !r.ExpiresAt.Equal(time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("expires_at = %v, want the end of 2027-01-31 UTC", r.ExpiresAt)
	}
}

func TestImportUpdatesAndConflicts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	first := "email,organization_id,roles\nana@example.com,,viewer\nbob@example.com,,viewer\ncid@example.com," + orgA + ",viewer\n"
	run(t, s, []byte(first), importer.Options{})
	if _, _, err := s.GrantTo(ctx, prereg.RegistrationID("", "bob@example.com"), "auth0|bob"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.GrantTo(ctx, prereg.RegistrationID(orgA, "cid@example.com"), "auth0|cid"); err != nil {
		t.Fatal(err)
	}
	// ana changes (updated), bob is granted and differs (rejected), cid is
	// granted and identical (unchanged), dan is new.
	second := "email,organization_id,roles\nana@example.com,,editor\nbob@example.com,,editor\ncid@example.com," + orgA + ",viewer\ndan@example.com,,viewer\n"
	rep := run(t, s, []byte(second), importer.Options{ImportID: "imp_2"})
	want := counts{rows: 4, created: 1, updated: 1, unchanged: 1, rejected: 1, errors: []string{"3:"}}
	if got := summarize(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("report:\n got %+v\nwant %+v", got, want)
	}
	if len(rep.Errors) == 1 && !strings.Contains(rep.Errors[0].Message, "already granted") {
		t.Errorf("conflict message = %q", rep.Errors[0].Message)
	}
	bob, err := s.Get(ctx, prereg.RegistrationID("", "bob@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if bob.Status != prereg.StatusGranted || !reflect.DeepEqual(bob.Roles, []string{"viewer"}) {
		t.Errorf("granted registration changed: %+v", bob)
	}
	ana, err := s.Get(ctx, prereg.RegistrationID("", "ana@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if ana.Source != "import:imp_2" || !reflect.DeepEqual(ana.Roles, []string{"editor"}) {
		t.Errorf("updated registration = %+v", ana)
	}
}

func TestImportStrict(t *testing.T) {
	ctx := context.Background()
	strictWarning := func(n int) []prereg.RowWarning {
		return []prereg.RowWarning{{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", n)}}
	}
	t.Run("bad row", func(t *testing.T) {
		s := openStore(t)
		for _, dry := range []bool{true, false} {
			rep := run(t, s, readCorpus(t, "multiline.csv"), importer.Options{Strict: true, DryRun: dry})
			want := counts{rows: 6, rejected: 1, errors: []string{"5:roles"}, warnings: strictWarning(1)}
			if got := summarize(rep); !reflect.DeepEqual(got, want) || !rep.Strict || rep.DryRun != dry {
				t.Errorf("dry run %v:\n got %+v\nwant %+v", dry, got, want)
			}
		}
		assertEmpty(t, s)
	})
	t.Run("conflict with a granted registration", func(t *testing.T) {
		s := openStore(t)
		run(t, s, []byte("email,roles\nana@example.com,viewer\n"), importer.Options{})
		if _, _, err := s.GrantTo(ctx, prereg.RegistrationID("", "ana@example.com"), "auth0|ana"); err != nil {
			t.Fatal(err)
		}
		data := []byte("email,roles\nbob@example.com,viewer\nana@example.com,editor\n")
		for _, dry := range []bool{true, false} {
			rep := run(t, s, data, importer.Options{Strict: true, DryRun: dry})
			want := counts{rows: 2, rejected: 1, errors: []string{"3:"}, warnings: strictWarning(1)}
			if got := summarize(rep); !reflect.DeepEqual(got, want) {
				t.Errorf("dry run %v:\n got %+v\nwant %+v", dry, got, want)
			}
		}
		if _, err := s.Get(ctx, prereg.RegistrationID("", "bob@example.com")); prereg.ErrorCode(err) != prereg.NotFound {
			t.Errorf("strict import wrote bob: %v", err)
		}
	})
	t.Run("all good", func(t *testing.T) {
		s := openStore(t)
		rep := run(t, s, readCorpus(t, "google_sheets.csv"), importer.Options{Strict: true})
		if got, want := summarize(rep), (counts{rows: 4, created: 4}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

func assertEmpty(t *testing.T, s *boltstore.Store) {
	t.Helper()
	n := 0
	if err := s.Each(context.Background(), boltstore.Filter{}, func(prereg.Registration) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("store holds %d registrations, want none", n)
	}
}

func TestImportDryRun(t *testing.T) {
	s := openStore(t)
	data := readCorpus(t, "bad_rows.csv")
	dry := run(t, s, data, importer.Options{DryRun: true, ImportID: "imp_dry"})
	assertEmpty(t, s)
	saved, err := s.Import(context.Background(), "imp_dry")
	if err != nil || !saved.DryRun {
		t.Errorf("dry-run report saved = %+v, %v", saved, err)
	}
	real := run(t, s, data, importer.Options{})
	if !reflect.DeepEqual(summarize(dry), summarize(real)) {
		t.Errorf("dry run %+v differs from the real import %+v", summarize(dry), summarize(real))
	}
	// A dry run over existing data counts unchanged and updated too.
	changed := bytes.Replace(data, []byte("nell@example.com,,viewer"), []byte("nell@example.com,,editor"), 1)
	dry = run(t, s, changed, importer.Options{DryRun: true})
	if got, want := summarize(dry), summarize(real); got.updated != 1 || got.unchanged != want.created-1 || got.created != 0 {
		t.Errorf("dry run over existing data: %+v", got)
	}
}

func TestImportLimitedPrincipal(t *testing.T) {
	s := openStore(t)
	data := []byte("email,organization_id,roles\nana@example.com," + orgA + ",viewer\nbob@example.com," + orgB + ",viewer\ncid@example.com,,viewer\n")
	p := prereg.Principal{TokenID: "tok_a", OrganizationID: orgA}
	rep := run(t, s, data, importer.Options{Principal: p})
	want := []prereg.RowError{
		{Line: 3, Column: "organization_id", Value: orgB, Message: "this token is limited to organization " + orgA},
		{Line: 4, Column: "organization_id", Message: "this token is limited to organization " + orgA + " and cannot write tenant-wide registrations"},
	}
	if rep.Created != 1 || rep.Rejected != 2 || !reflect.DeepEqual(rep.Errors, want) {
		t.Errorf("report = %+v", rep)
	}
	if rep.OrganizationID != orgA || rep.Actor != "tok_a" {
		t.Errorf("report scope = %q actor %q", rep.OrganizationID, rep.Actor)
	}

	_, err := importer.Run(context.Background(), s, bytes.NewReader(data), importer.Options{Principal: prereg.Principal{TokenID: "ro", ReadOnly: true}})
	if prereg.ErrorCode(err) != prereg.Forbidden {
		t.Errorf("read-only import: %v, want forbidden", err)
	}
}

func TestImportFatal(t *testing.T) {
	for _, file := range []string{"header_typo.csv", "utf16le_bom.csv", "latin1.csv", "empty.csv"} {
		t.Run(file, func(t *testing.T) {
			s := openStore(t)
			tmp := t.TempDir()
			rep, err := importer.Run(context.Background(), s, bytes.NewReader(readCorpus(t, file)), importer.Options{Principal: tenant, ImportID: "imp_x", TempDir: tmp})
			var pe *prereg.Error
			if !errors.As(err, &pe) || pe.Code != prereg.Invalid || len(pe.Details) == 0 {
				t.Fatalf("error = %v, want invalid with details", err)
			}
			if !reflect.DeepEqual(rep, prereg.ImportReport{}) {
				t.Errorf("report = %+v, want none", rep)
			}
			if _, err := s.Import(context.Background(), "imp_x"); prereg.ErrorCode(err) != prereg.NotFound {
				t.Errorf("a report was saved: %v", err)
			}
			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Errorf("temporary copy left behind: %v", entries)
			}
			assertEmpty(t, s)
		})
	}
}

// countingStore passes everything to the real store and counts batches.
type countingStore struct {
	*boltstore.Store
	batches, items atomic.Int64
	maxBatch       atomic.Int64
}

func (c *countingStore) ApplyBatch(ctx context.Context, items []prereg.Input, source, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	c.batches.Add(1)
	c.items.Add(int64(len(items)))
	if int64(len(items)) > c.maxBatch.Load() {
		c.maxBatch.Store(int64(len(items)))
	}
	return c.Store.ApplyBatch(ctx, items, source, actor, dryRun)
}

func TestImportBatchesAndProgress(t *testing.T) {
	const rows = 4_321
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: rows, OrgShare: 0.5, Roles: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	s := &countingStore{Store: openStore(t)}
	var lastRows int
	var lastBytes int64
	calls := 0
	rep := run(t, s, buf.Bytes(), importer.Options{BatchSize: 500, Progress: func(r int, b int64) {
		calls++
		if r < lastRows || b < lastBytes {
			t.Errorf("progress went back: %d,%d after %d,%d", r, b, lastRows, lastBytes)
		}
		lastRows, lastBytes = r, b
	}})
	if rep.Rows != rows || rep.Created != rows || rep.Rejected != 0 {
		t.Errorf("report = %+v", summarize(rep))
	}
	if got := s.batches.Load(); got != 9 || s.items.Load() != rows || s.maxBatch.Load() != 500 {
		t.Errorf("%d batches, %d items, largest %d; want 9, %d, 500", got, s.items.Load(), s.maxBatch.Load(), rows)
	}
	if calls < 3 || lastRows != 2*rows || lastBytes != 2*int64(buf.Len()) {
		t.Errorf("progress: %d calls, last %d rows %d bytes; want the end at %d, %d", calls, lastRows, lastBytes, 2*rows, 2*buf.Len())
	}
}

func TestImportCancelled(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := importer.Run(ctx, s, strings.NewReader("email,roles\nana@example.com,viewer\n"), importer.Options{Principal: tenant, TempDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	assertEmpty(t, s)
}

func TestImportIDGenerated(t *testing.T) {
	s := openStore(t)
	a := run(t, s, []byte("email,roles\nana@example.com,viewer\n"), importer.Options{})
	b := run(t, s, []byte("email,roles\nana@example.com,viewer\n"), importer.Options{})
	if !strings.HasPrefix(a.ImportID, "imp_") || len(a.ImportID) < 12 || a.ImportID == b.ImportID {
		t.Errorf("import IDs %q, %q", a.ImportID, b.ImportID)
	}
}

// BenchmarkImport imports a generated file into a real store (fsync off:
// it measures the importer and bbolt's work, not the disk).
func BenchmarkImport(b *testing.B) {
	const rows = 100_000
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: rows, OrgShare: 0.5, Roles: 2, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	for _, batch := range []int{importer.DefaultBatchSize, 20_000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchImport(b, buf.Bytes(), rows, batch) })
	}
}

func benchImport(b *testing.B, data []byte, rows, batch int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := boltstore.Open(filepath.Join(b.TempDir(), "prereg.db"), boltstore.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := importer.Run(context.Background(), s, bytes.NewReader(data), importer.Options{Principal: tenant, TempDir: b.TempDir(), BatchSize: batch})
		if err != nil || rep.Created != rows {
			b.Fatalf("import: %v %+v", err, rep.Created)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestExportImportRoundTrip: a store exported with the encoder and imported
// again reports every row unchanged, and exporting again gives the same
// bytes (CONTRACT §4).
func TestExportImportRoundTrip(t *testing.T) {
	s := openStore(t)
	for _, f := range []string{"excel_bom_crlf_semicolon.csv", "google_sheets.csv", "formula_injection.csv", "multiline.csv"} {
		run(t, s, readCorpus(t, f), importer.Options{})
	}
	export := func() []byte {
		var buf bytes.Buffer
		enc := csvio.NewEncoder(&buf)
		if err := s.Each(context.Background(), boltstore.Filter{}, enc.Write); err != nil {
			t.Fatal(err)
		}
		if err := enc.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := export()
	if !bytes.Contains(first, []byte(`'=HYPERLINK(`)) || !bytes.Contains(first, []byte("'+max@example.com")) {
		t.Errorf("export does not neutralise formulas:\n%s", first)
	}
	rep := run(t, s, first, importer.Options{})
	if got, want := summarize(rep), (counts{rows: 19, unchanged: 19}); !reflect.DeepEqual(got, want) {
		t.Errorf("re-import of the export: %+v, want %+v", got, want)
	}
	if second := export(); !bytes.Equal(first, second) {
		t.Errorf("export changed after re-import:\n%s\n---\n%s", first, second)
	}
}
