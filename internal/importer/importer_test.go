package importer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
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
	return openStoreAt(t, clock)
}

// openStoreAt is openStore with the store's clock.
func openStoreAt(t testing.TB, now func() time.Time) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{Now: now, NoSync: true})
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
	err = s.Each(context.Background(), prereg.Filter{}, func(r prereg.Registration) error {
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
	if n := countRegistrations(t, s); n != 0 {
		t.Errorf("store holds %d registrations, want none", n)
	}
}

func countRegistrations(t *testing.T, s *boltstore.Store) int {
	t.Helper()
	n := 0
	if err := s.Each(context.Background(), prereg.Filter{}, func(prereg.Registration) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
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
	// Both reports name the file by its SHA-256, as saved.
	if sum := sha256.Sum256(data); saved.SHA256 != hex.EncodeToString(sum[:]) || real.SHA256 != saved.SHA256 {
		t.Errorf("reports name the file %q and %q, want the SHA-256 %x", saved.SHA256, real.SHA256, sum)
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

var _ importer.Store = (*countingStore)(nil)

func (c *countingStore) PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch {
	c.batches.Add(1)
	c.items.Add(int64(len(items)))
	if int64(len(items)) > c.maxBatch.Load() {
		c.maxBatch.Store(int64(len(items)))
	}
	return c.Store.PrepareBatch(items, keys, source)
}

// progress records an import's Progress calls and fails the test when one
// goes back.
type progress struct {
	t     *testing.T
	calls int
	rows  int
	bytes int64
}

func (p *progress) record(rows int, bytes int64) {
	p.calls++
	if rows < p.rows || bytes < p.bytes {
		p.t.Errorf("progress went back: %d,%d after %d,%d", rows, bytes, p.rows, p.bytes)
	}
	p.rows, p.bytes = rows, bytes
}

func TestImportBatchesAndProgress(t *testing.T) {
	const rows = 4_321
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: rows, OrgShare: 0.5, Roles: 3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	s := &countingStore{Store: openStore(t)}
	pr := &progress{t: t}
	rep := run(t, s, buf.Bytes(), importer.Options{BatchSize: 500, Progress: pr.record})
	calls, lastRows, lastBytes := pr.calls, pr.rows, pr.bytes
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

// TestImportStrictProbeIsAModeOfTheRun: a strict import's dry run before
// it writes walks every winner without reporting progress (which would go
// back) and leaves every winner for the pass that writes.
func TestImportStrictProbeIsAModeOfTheRun(t *testing.T) {
	const rows = 2_345
	var buf bytes.Buffer
	if err := csvgen.Write(&buf, csvgen.Options{Rows: rows, OrgShare: 0.5, Roles: 2, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	s := &countingStore{Store: openStore(t)}
	pr := &progress{t: t}
	rep := run(t, s, buf.Bytes(), importer.Options{Strict: true, BatchSize: 1000, Progress: pr.record})
	lastRows, lastBytes := pr.rows, pr.bytes
	if got, want := summarize(rep), (counts{rows: rows, created: rows}); !reflect.DeepEqual(got, want) {
		t.Errorf("report = %+v, want %+v", got, want)
	}
	if got := s.batches.Load(); got != 6 || s.items.Load() != 2*rows {
		t.Errorf("%d batches, %d items; want 6 (3 probed, 3 written), %d", got, s.items.Load(), 2*rows)
	}
	if lastRows != 2*rows || lastBytes != 2*int64(buf.Len()) {
		t.Errorf("progress ended at %d rows %d bytes; want %d, %d", lastRows, lastBytes, 2*rows, 2*buf.Len())
	}
	if n := countRegistrations(t, s.Store); n != rows {
		t.Errorf("%d registrations stored, want %d", n, rows)
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
	first := export(t, s)
	if !bytes.Contains(first, []byte(`'=HYPERLINK(`)) || !bytes.Contains(first, []byte("'+max@example.com")) {
		t.Errorf("export does not neutralise formulas:\n%s", first)
	}
	rep := run(t, s, first, importer.Options{})
	if got, want := summarize(rep), (counts{rows: 19, unchanged: 19}); !reflect.DeepEqual(got, want) {
		t.Errorf("re-import of the export: %+v, want %+v", got, want)
	}
	if second := export(t, s); !bytes.Equal(first, second) {
		t.Errorf("export changed after re-import:\n%s\n---\n%s", first, second)
	}
}

// recorder is an importer.Store that records every batch it applies. With
// inner set it passes the calls on to that store; without, it answers
// Created for every item except an address containing "+reject", which it
// rejects as a store would a conflict.
type recorder struct {
	inner *boltstore.Store

	mu      sync.Mutex
	calls   []recordedBatch
	reports []prereg.ImportReport
}

type recordedBatch struct {
	dryRun bool
	items  []prereg.Input
}

// recorderBatch is a batch the recorder prepared.
type recorderBatch struct {
	r     *recorder
	items []prereg.Input
	inner prereg.PreparedBatch
	err   error
}

func (r *recorder) PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch {
	b := &recorderBatch{r: r, items: slices.Clone(items)}
	for i, in := range items {
		if keys[i] != prereg.RegistrationKey(in.OrganizationID, in.Email) {
			b.err = fmt.Errorf("the key handed over with %s (line order %d) is not its key", in.Email, i)
		}
	}
	if r.inner != nil {
		b.inner = r.inner.PrepareBatch(items, keys, source)
	}
	return b
}

func (b *recorderBatch) Apply(ctx context.Context, actor string, dryRun bool) ([]prereg.WriteResult, error) {
	if b.err != nil {
		return nil, b.err
	}
	r, items := b.r, b.items
	r.mu.Lock()
	r.calls = append(r.calls, recordedBatch{dryRun: dryRun, items: items})
	r.mu.Unlock()
	if r.inner != nil {
		return b.inner.Apply(ctx, actor, dryRun)
	}
	res := make([]prereg.WriteResult, len(items))
	for i, in := range items {
		res[i].Change = prereg.Created
		if strings.Contains(in.Email, "+reject") {
			res[i].Change = prereg.Rejected
			res[i].Err = prereg.Errorf(prereg.Conflict, "%s is refused by the test store", in.Email)
		}
	}
	return res, nil
}

func (r *recorder) SaveImport(ctx context.Context, rep prereg.ImportReport) error {
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
	if r.inner != nil {
		return r.inner.SaveImport(ctx, rep)
	}
	return nil
}

// passes splits the recorded calls into the importer's passes over the
// winners: a strict import probes with a dry run, then writes.
func (r *recorder) passes() [][]recordedBatch {
	var out [][]recordedBatch
	for i, c := range r.calls {
		if i == 0 || c.dryRun != r.calls[i-1].dryRun {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], c)
	}
	return out
}

// checkKeyOrder asserts what the store's B+tree relies on: within a pass,
// every key is above the one before, across batches too, and every batch
// but the last is full.
func checkKeyOrder(t *testing.T, pass []recordedBatch, batchSize int) {
	t.Helper()
	var prev prereg.Key
	n := 0
	for bi, b := range pass {
		if len(b.items) == 0 || len(b.items) > batchSize || (bi < len(pass)-1 && len(b.items) != batchSize) {
			t.Errorf("batch %d of %d has %d items; batch size %d", bi, len(pass), len(b.items), batchSize)
		}
		for i, in := range b.items {
			k := prereg.RegistrationKey(in.OrganizationID, in.Email)
			if n > 0 && bytes.Compare(prev[:], k[:]) >= 0 {
				t.Errorf("batch %d item %d: key %x (%s %s) is not above the one before, %x", bi, i, k, in.OrganizationID, in.Email, prev)
			}
			prev = k
			n++
		}
	}
}

// genRow is one row of a generated file, as cells.
type genRow struct {
	email, org, roles, conn, exp string
}

func (g genRow) csv() string {
	q := func(s string) string {
		if strings.ContainsAny(s, ",\"\n") {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
		return s
	}
	return strings.Join([]string{q(g.email), q(g.org), q(g.roles), q(g.conn), q(g.exp)}, ",")
}

// input is the prereg.Input the decoder makes of a good row.
func (g genRow) input(t testing.TB) prereg.Input {
	t.Helper()
	exp, err := prereg.ParseExpiry(g.exp)
	if err != nil {
		t.Fatal(err)
	}
	return prereg.Input{Email: g.email, OrganizationID: g.org, Roles: strings.Split(g.roles, "|"), Connection: g.conn, ExpiresAt: exp}.Normalize()
}

func csvOf(rows []genRow) []byte {
	var b strings.Builder
	b.WriteString("email,organization_id,roles,connection,expires_at\n")
	for _, r := range rows {
		b.WriteString(r.csv())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// genRows makes n rows over `addresses` addresses, so that keys repeat
// (in changing case, and sometimes under another organization, which is
// another key). Every badEvery-th row is invalid, and the addresses whose
// number is a multiple of rejectEvery are refused by the recorder (0: none).
func genRows(n, addresses, badEvery, rejectEvery int, seed uint64) []genRow {
	r := mathrand.New(mathrand.NewPCG(seed, 0))
	orgs := []string{"", orgA, orgB}
	roles := []string{"viewer", "editor", "rol_AbC123", "Support Agent", "billing-admin"}
	conns := []string{"", "", "google-oauth2", "Username-Password-Authentication"}
	exps := []string{"", "", "2027-01-31", "2030-06-15T08:00:00.123456789Z", "9999-12-31", "2027-03-01T09:30:00+05:30"}
	rows := make([]genRow, n)
	for i := range rows {
		a := r.IntN(addresses)
		email := fmt.Sprintf("user%d@example.com", a)
		if rejectEvery > 0 && a%rejectEvery == 0 {
			email = fmt.Sprintf("user%d+reject@example.com", a)
		}
		if r.IntN(3) == 0 {
			email = strings.ToUpper(email[:1]) + email[1:]
		}
		org := orgs[a%3]
		if r.IntN(8) == 0 {
			org = orgs[r.IntN(3)]
		}
		perm := r.Perm(len(roles))[:1+r.IntN(3)]
		var rs []string
		for _, p := range perm {
			rs = append(rs, roles[p])
		}
		rows[i] = genRow{email: email, org: org, roles: strings.Join(rs, "|"), conn: conns[r.IntN(len(conns))], exp: exps[r.IntN(len(exps))]}
		if badEvery > 0 && i%badEvery == badEvery-1 {
			rows[i].email = "not-an-address"
		}
	}
	return rows
}

// onePassModel is the importer as it was before it sorted by key: it walks
// the file once and warns when a key comes again. The report's errors for
// bad rows, its warnings and the winners must be exactly what it says.
type onePassModel struct {
	winners   map[prereg.Key]int // key → index of the row that wins
	badLines  []int
	warnings  []prereg.RowWarning
	truncated int
}

func modelOf(rows []genRow) onePassModel {
	m := onePassModel{winners: map[prereg.Key]int{}}
	type dup struct {
		key  prereg.Key
		line int
	}
	var dups []dup
	for i, r := range rows {
		line := i + 2
		if r.email == "not-an-address" {
			m.badLines = append(m.badLines, line)
			continue
		}
		k := prereg.RegistrationKey(r.org, r.email)
		if prev, ok := m.winners[k]; ok {
			if len(dups) < prereg.MaxReportIssues {
				dups = append(dups, dup{key: k, line: prev + 2})
			} else {
				m.truncated++
			}
		}
		m.winners[k] = i
	}
	for _, d := range dups {
		win := m.winners[d.key] + 2
		m.warnings = append(m.warnings, prereg.RowWarning{Line: win, Message: fmt.Sprintf("duplicate of line %d; line %d wins", d.line, win)})
	}
	slices.SortStableFunc(m.warnings, func(a, b prereg.RowWarning) int { return a.Line - b.Line })
	return m
}

// TestImportWritesInKeyOrder: whatever the file's order, the store gets
// the winning rows in ascending key order across all batches, each the
// content of its key's last row, and the report is what a single pass down
// the file gives.
func TestImportWritesInKeyOrder(t *testing.T) {
	tests := []struct {
		name                  string
		rows, addresses       int
		badEvery, rejectEvery int
		batch                 int
		strict, dryRun        bool
		wantPasses            int
		seed                  uint64
	}{
		{name: "50 rows, batch 3", rows: 50, addresses: 30, batch: 3, wantPasses: 1, seed: 1},
		{name: "50 rows, batch 1", rows: 50, addresses: 30, batch: 1, wantPasses: 1, seed: 2},
		{name: "50 rows, batch 7, bad and refused rows", rows: 50, addresses: 30, badEvery: 9, rejectEvery: 7, batch: 7, wantPasses: 1, seed: 3},
		{name: "one batch holds all", rows: 50, addresses: 40, batch: 0, wantPasses: 1, seed: 4},
		{name: "dry run", rows: 50, addresses: 20, batch: 3, dryRun: true, wantPasses: 1, seed: 5},
		{name: "strict probes then writes", rows: 50, addresses: 30, batch: 3, strict: true, wantPasses: 2, seed: 6},
		{name: "strict refused by the store: probe only", rows: 50, addresses: 30, rejectEvery: 5, batch: 3, strict: true, wantPasses: 1, seed: 7},
		{name: "strict with a bad row: no pass", rows: 50, addresses: 30, badEvery: 20, batch: 3, strict: true, wantPasses: 0, seed: 8},
		{name: "strict dry run", rows: 50, addresses: 30, batch: 4, strict: true, dryRun: true, wantPasses: 1, seed: 9},
		{name: "thousands of duplicates, warnings capped", rows: 3000, addresses: 250, badEvery: 97, rejectEvery: 11, batch: 64, wantPasses: 1, seed: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := genRows(tt.rows, tt.addresses, tt.badEvery, tt.rejectEvery, tt.seed)
			m := modelOf(rows)
			s := &recorder{}
			rep := run(t, s, csvOf(rows), importer.Options{BatchSize: tt.batch, Strict: tt.strict, DryRun: tt.dryRun})

			passes := s.passes()
			if len(passes) != tt.wantPasses {
				t.Fatalf("%d passes over the winners, want %d", len(passes), tt.wantPasses)
			}
			batch := tt.batch
			if batch == 0 {
				batch = importer.DefaultBatchSize
			}
			for _, p := range passes {
				checkKeyOrder(t, p, batch)
				checkPassWritesWinners(t, p, rows, m)
			}

			// The report: bad rows, store refusals at the winner's line,
			// and the duplicate warnings of one pass down the file.
			refused := checkErrorLines(t, rep, rows, m, tt.strict)
			checkWarnings(t, rep, m, tt.strict)
			wantRejected := len(m.badLines) + refused
			written := len(m.winners) - refused
			if tt.strict && wantRejected > 0 {
				written = 0
			}
			if rep.Rows != tt.rows || rep.Rejected != wantRejected || rep.Created != written {
				t.Errorf("rows %d rejected %d created %d; want %d, %d, %d", rep.Rows, rep.Rejected, rep.Created, tt.rows, wantRejected, written)
			}
		})
	}
}

// checkPassWritesWinners: a pass over the winners writes each winner
// once, as its last row says.
func checkPassWritesWinners(t *testing.T, p []recordedBatch, rows []genRow, m onePassModel) {
	t.Helper()
	got := map[prereg.Key]prereg.Input{}
	for _, b := range p {
		for _, in := range b.items {
			got[prereg.RegistrationKey(in.OrganizationID, in.Email)] = in
		}
	}
	if len(got) != len(m.winners) {
		t.Errorf("a pass wrote %d keys, want %d", len(got), len(m.winners))
	}
	for k, i := range m.winners {
		if want := rows[i].input(t); !reflect.DeepEqual(got[k], want) {
			t.Errorf("key of line %d: wrote %+v, want %+v", i+2, got[k], want)
		}
	}
}

// checkErrorLines: the report's errors are at the bad rows' lines and, for
// the winners the store refused, at the winner's line (none in a strict
// import with a bad row, which never reaches the store). It returns how
// many winners the store refused.
func checkErrorLines(t *testing.T, rep prereg.ImportReport, rows []genRow, m onePassModel, strict bool) (refused int) {
	t.Helper()
	var wantErrLines []int
	wantErrLines = append(wantErrLines, m.badLines...)
	if len(m.badLines) == 0 || !strict {
		for _, i := range m.winners {
			if strings.Contains(rows[i].email, "+reject") {
				wantErrLines = append(wantErrLines, i+2)
				refused++
			}
		}
	}
	slices.Sort(wantErrLines)
	var gotErrLines []int
	for _, e := range rep.Errors {
		gotErrLines = append(gotErrLines, e.Line)
	}
	if !slices.Equal(gotErrLines, wantErrLines) {
		t.Errorf("error lines %v, want %v", gotErrLines, wantErrLines)
	}
	return refused
}

// checkWarnings: the report's warnings are the duplicate warnings of one
// pass down the file, plus a strict import's warning that it wrote nothing.
func checkWarnings(t *testing.T, rep prereg.ImportReport, m onePassModel, strict bool) {
	t.Helper()
	wantWarnings := m.warnings
	if rep.Rejected > 0 && strict {
		wantWarnings = append(slices.Clone(wantWarnings), prereg.RowWarning{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", rep.Rejected)})
		slices.SortStableFunc(wantWarnings, func(a, b prereg.RowWarning) int { return a.Line - b.Line })
	}
	if len(wantWarnings) > prereg.MaxReportIssues {
		t.Fatalf("test case gives %d warnings: make it fit under the cap with the strict warning", len(wantWarnings))
	}
	if !reflect.DeepEqual(rep.Warnings, wantWarnings) || rep.WarningsTruncated != m.truncated {
		t.Errorf("warnings (%d + %d truncated) differ from one pass down the file (%d + %d truncated)", len(rep.Warnings), rep.WarningsTruncated, len(wantWarnings), m.truncated)
		for i := range min(len(rep.Warnings), len(wantWarnings)) {
			if rep.Warnings[i] != wantWarnings[i] {
				t.Errorf("first difference at %d: got %+v, want %+v", i, rep.Warnings[i], wantWarnings[i])
				break
			}
		}
	}
}

// TestImportDuplicatesFarApart: rows of one key many lines apart, in
// different batches of the file's order, still give the warnings of a
// single pass and store the last row's content.
func TestImportDuplicatesFarApart(t *testing.T) {
	filler := func(i int) genRow {
		return genRow{email: fmt.Sprintf("filler%03d@example.com", i), roles: "viewer"}
	}
	type placed map[int]genRow // line → row; filler elsewhere
	tests := []struct {
		name  string
		lines int
		rows  placed
		want  []prereg.RowWarning
		// stored maps the (organization, address) looked up to the roles
		// that must be stored.
		stored map[[2]string][]string
	}{
		{
			name:  "first and last line",
			lines: 60,
			rows: placed{
				2:  {email: "ana@example.com", roles: "viewer"},
				60: {email: "ANA@example.com ", roles: "editor|viewer", conn: "google-oauth2"},
			},
			want:   []prereg.RowWarning{{Line: 60, Message: "duplicate of line 2; line 60 wins"}},
			stored: map[[2]string][]string{{"", "ana@example.com"}: {"editor", "viewer"}},
		},
		{
			name:  "three times, the middle far from both",
			lines: 50,
			rows: placed{
				5:  {email: "bob@example.com", org: orgA, roles: "a1"},
				27: {email: "Bob@Example.com", org: orgA, roles: "a2"},
				49: {email: "bob@EXAMPLE.com", org: orgA, roles: "a3|a1"},
			},
			want: []prereg.RowWarning{
				{Line: 49, Message: "duplicate of line 5; line 49 wins"},
				{Line: 49, Message: "duplicate of line 27; line 49 wins"},
			},
			stored: map[[2]string][]string{{orgA, "bob@example.com"}: {"a3", "a1"}},
		},
		{
			name:  "another organization is another registration",
			lines: 40,
			rows: placed{
				3:  {email: "cid@example.com", roles: "tenant"},
				20: {email: "cid@example.com", org: orgA, roles: "org-a"},
				38: {email: "cid@example.com", org: orgB, roles: "org-b"},
			},
			stored: map[[2]string][]string{
				{"", "cid@example.com"}:   {"tenant"},
				{orgA, "cid@example.com"}: {"org-a"},
				{orgB, "cid@example.com"}: {"org-b"},
			},
		},
		{
			name:  "interleaved keys, a bad row as the last",
			lines: 45,
			rows: placed{
				2:  {email: "dan@example.com", roles: "d1"},
				3:  {email: "eve@example.com", roles: "e1"},
				30: {email: "dan@example.com", roles: "d2"},
				31: {email: "eve@example.com", roles: "e2"},
				44: {email: "dan@example.com", roles: "d3"},
				45: {email: "eve@example.com", roles: "e3", exp: "tomorrow"},
			},
			want: []prereg.RowWarning{
				{Line: 31, Message: "duplicate of line 3; line 31 wins"},
				{Line: 44, Message: "duplicate of line 2; line 44 wins"},
				{Line: 44, Message: "duplicate of line 30; line 44 wins"},
			},
			stored: map[[2]string][]string{{"", "dan@example.com"}: {"d3"}, {"", "eve@example.com"}: {"e2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := make([]genRow, tt.lines-1)
			for i := range rows {
				rows[i] = filler(i)
				if r, ok := tt.rows[i+2]; ok {
					rows[i] = r
				}
			}
			s := &recorder{inner: openStore(t)}
			rep := run(t, s, csvOf(rows), importer.Options{BatchSize: 3})
			if got := rep.Warnings; !reflect.DeepEqual(got, tt.want) && (len(got) != 0 || len(tt.want) != 0) {
				t.Errorf("warnings:\n got %+v\nwant %+v", got, tt.want)
			}
			for who, roles := range tt.stored {
				r, err := s.inner.Get(context.Background(), prereg.RegistrationID(who[0], who[1]))
				if err != nil {
					t.Errorf("%v: %v", who, err)
					continue
				}
				if !reflect.DeepEqual(r.Roles, roles) {
					t.Errorf("%v: stored roles %q, want %q", who, r.Roles, roles)
				}
			}
			for _, p := range s.passes() {
				checkKeyOrder(t, p, 3)
			}
		})
	}
}

// TestImportRecordRoundTrip: pass 2 reads rows back from pass 1's binary
// records; what reaches the store must be exactly the decoded row.
func TestImportRecordRoundTrip(t *testing.T) {
	at := func(s string) *time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		tm = tm.UTC()
		return &tm
	}
	long := strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 50) + ".com"
	manyRoles := make([]string, prereg.MaxRoles)
	for i := range manyRoles {
		manyRoles[i] = fmt.Sprintf("role-%02d-%s", prereg.MaxRoles-i, strings.Repeat("x", 80))
	}
	tests := []struct {
		name string
		row  genRow
		want prereg.Input
	}{
		{"plain", genRow{email: "ana@example.com", roles: "viewer"},
			prereg.Input{Email: "ana@example.com", Roles: []string{"viewer"}}},
		{"roles keep their order", genRow{email: "bob@example.com", roles: "zeta|rol_AbC123|alpha| beta |zeta"},
			prereg.Input{Email: "bob@example.com", Roles: []string{"zeta", "rol_AbC123", "alpha", "beta"}}},
		{"organization, connection, case", genRow{email: " Cid@Example.COM ", org: orgA, roles: "Support Agent|Admin, Support", conn: "Username-Password-Authentication"},
			prereg.Input{Email: "Cid@Example.COM", OrganizationID: orgA, Roles: []string{"Support Agent", "Admin, Support"}, Connection: "Username-Password-Authentication"}},
		{"date means the end of the day", genRow{email: "dan@example.com", roles: "viewer", exp: "2027-01-31"},
			prereg.Input{Email: "dan@example.com", Roles: []string{"viewer"}, ExpiresAt: at("2027-01-31T23:59:59Z")}},
		{"nanoseconds and an offset", genRow{email: "eve@example.com", roles: "viewer", exp: "2030-06-15T08:00:00.000000001+05:30"},
			prereg.Input{Email: "eve@example.com", Roles: []string{"viewer"}, ExpiresAt: at("2030-06-15T02:30:00.000000001Z")}},
		{"beyond what UnixNano holds", genRow{email: "fay@example.com", roles: "viewer", exp: "9999-12-31T23:59:59Z"},
			prereg.Input{Email: "fay@example.com", Roles: []string{"viewer"}, ExpiresAt: at("9999-12-31T23:59:59Z")}},
		{"the earliest expiry", genRow{email: "gus@example.com", roles: "viewer", exp: "2000-01-01T00:00:00.5Z"},
			prereg.Input{Email: "gus@example.com", Roles: []string{"viewer"}, ExpiresAt: at("2000-01-01T00:00:00.5Z")}},
		{"lengths over one varint byte", genRow{email: long, org: "org_" + strings.Repeat("Z", 64), roles: strings.Join(manyRoles, "|"), conn: strings.Repeat("c", 128)},
			prereg.Input{Email: long, OrganizationID: "org_" + strings.Repeat("Z", 64), Roles: manyRoles, Connection: strings.Repeat("c", 128)}},
		{"non-ASCII", genRow{email: "zoë@exämple.com", roles: "lecteur|rôle"},
			prereg.Input{Email: "zoë@exämple.com", Roles: []string{"lecteur", "rôle"}}},
	}
	var rows []genRow
	for _, tt := range tests {
		rows = append(rows, tt.row)
	}
	s := &recorder{}
	rep := run(t, s, csvOf(rows), importer.Options{BatchSize: 2})
	if rep.Rejected != 0 || rep.Created != len(tests) {
		t.Fatalf("report: %+v", summarize(rep))
	}
	got := map[string]prereg.Input{}
	for _, b := range s.calls {
		for _, in := range b.items {
			got[in.Email] = in
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, ok := got[tt.want.Email]
			if !ok {
				t.Fatalf("%q was not written", tt.want.Email)
			}
			if !reflect.DeepEqual(in, tt.want) {
				t.Errorf("wrote %+v, want %+v", in, tt.want)
			}
			if in.ExpiresAt != nil && (!in.ExpiresAt.Equal(*tt.want.ExpiresAt) || in.ExpiresAt.Location() != time.UTC) {
				t.Errorf("expires_at %v, want %v in UTC", in.ExpiresAt, tt.want.ExpiresAt)
			}
		})
	}
}

// TestImportKeysSharingAPrefix: registrations of one address share the
// key's first 7 bytes, and some pairs share the 8th too; the order must
// still be that of the whole key, and duplicates still found.
func TestImportKeysSharingAPrefix(t *testing.T) {
	const email = "pat@example.com"
	// Find two organizations whose keys for the address agree on 8 bytes.
	first := map[byte]string{}
	var lo, hi string
	for i := 0; lo == ""; i++ {
		org := fmt.Sprintf("org_P%d", i)
		k := prereg.RegistrationKey(org, email)
		if other, ok := first[k[7]]; ok {
			lo, hi = other, org
			if ko := prereg.RegistrationKey(other, email); bytes.Compare(ko[:], k[:]) > 0 {
				lo, hi = org, other
			}
			break
		}
		first[k[7]] = org
	}
	tests := []struct {
		name    string
		rows    []genRow
		want    []prereg.RowWarning
		written int
	}{
		{"higher key first", []genRow{
			{email: email, org: hi, roles: "hi"},
			{email: email, org: lo, roles: "lo"},
			{email: email, org: "", roles: "tenant"},
		}, nil, 3},
		{"interleaved duplicates", []genRow{
			{email: email, org: hi, roles: "hi1"},
			{email: email, org: lo, roles: "lo1"},
			{email: "PAT@example.com", org: hi, roles: "hi2"},
			{email: email, org: lo, roles: "lo2"},
		}, []prereg.RowWarning{
			{Line: 4, Message: "duplicate of line 2; line 4 wins"},
			{Line: 5, Message: "duplicate of line 3; line 5 wins"},
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &recorder{}
			rep := run(t, s, csvOf(tt.rows), importer.Options{BatchSize: 1})
			if !reflect.DeepEqual(rep.Warnings, tt.want) && (len(rep.Warnings) != 0 || len(tt.want) != 0) {
				t.Errorf("warnings:\n got %+v\nwant %+v", rep.Warnings, tt.want)
			}
			for _, p := range s.passes() {
				checkKeyOrder(t, p, 1)
			}
			if n := len(s.calls); n != tt.written {
				t.Errorf("%d rows written, want %d", n, tt.written)
			}
		})
	}
}

// The temporary file holds addresses: it must not be visible in the file
// system even while the import runs, so that a killed import leaves none.
func TestTemporaryFileNeverVisible(t *testing.T) {
	s := openStore(t)
	dir := t.TempDir()
	var csv bytes.Buffer
	csv.WriteString("email,roles\n")
	for i := range 20000 {
		fmt.Fprintf(&csv, "user%d@example.com,viewer\n", i)
	}
	calls := 0
	progress := func(int, int64) {
		calls++
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("during the import, %s holds %v", dir, entries)
		}
	}
	rep := run(t, s, csv.Bytes(), importer.Options{TempDir: dir, Progress: progress})
	if rep.Created != 20000 || calls < 3 {
		t.Fatalf("created %d, %d progress calls", rep.Created, calls)
	}
}
