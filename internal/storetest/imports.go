package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testImports: a prepared batch writes in one go and reports each item in
// input order; a dry run reports the same and writes nothing; reports
// round-trip and list newest first, to the end, as their viewer may see.
func testImports(t *testing.T, open Open) {
	t.Run("Batch", func(t *testing.T) { testBatch(t, open(t, Options{Serve: true})) })
	t.Run("Reports", func(t *testing.T) { testImportReports(t, open(t, Options{})) })
}

// batchItems are one import's items over the records testBatch puts
// first, and the change each must make, in input order.
var (
	batchItems = []prereg.Input{
		{Email: "new@x.io", OrganizationID: "org_a", Roles: []string{"n"}},
		{Email: "granted@x.io", Roles: []string{"other"}},
		{Email: "same@x.io", Roles: []string{"r"}},
		{Email: "changed@x.io", Roles: []string{"r", "s"}},
		{Email: "granted@x.io", OrganizationID: "org_a", Roles: []string{"g"}},
	}
	batchWant = []prereg.Change{prereg.Created, prereg.Rejected, prereg.Unchanged, prereg.Updated, prereg.Created}
)

func testBatch(t *testing.T, s Store) {
	Put(t, s, prereg.Input{Email: "same@x.io", Roles: []string{"r"}})
	Put(t, s, prereg.Input{Email: "changed@x.io", Roles: []string{"r"}})
	Put(t, s, prereg.Input{Email: "granted@x.io", Roles: []string{"r"}})
	loginAs(t, s, "u", "granted@x.io", "")
	before := snapshot(t, s)
	runSteps(t,
		step{"DryRun", func(t *testing.T) {
			applyAndCheck(t, s, true)
			expect(t, snapshot(t, s) == before, "a dry run wrote")
		}},
		step{"Write", func(t *testing.T) {
			applyAndCheck(t, s, false)
			expect(t, snapshot(t, s) != before, "the batch wrote nothing")
		}},
		step{"Written", func(t *testing.T) { batchWritten(t, s) }},
		step{"Keys", func(t *testing.T) { batchWithKeys(t, s) }},
	)
}

// snapshot is every registration and the stats, as text.
func snapshot(t *testing.T, s Store) string {
	t.Helper()
	ctx := context.Background()
	var b bytes.Buffer
	noErr(t, s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error { fmt.Fprintf(&b, "%+v\n", r); return nil }))
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	noErr(t, err)
	fmt.Fprintf(&b, "%+v", st)
	return b.String()
}

// applyAndCheck applies batchItems and checks each result against
// batchWant.
func applyAndCheck(t *testing.T, s Store, dry bool) {
	res := applyBatch(t, s, batchItems, "import:imp_b", dry)
	expect(t, len(res) == len(batchItems), "dry run %v: %d results for %d items", dry, len(res), len(batchItems))
	for i, r := range res {
		report(t, r.Change == batchWant[i] && r.ID == prereg.RegistrationID(batchItems[i].OrganizationID, batchItems[i].Email),
			"dry run %v, item %d: %s %s, want %s", dry, i, r.ID, r.Change, batchWant[i])
		report(t, (r.Change == prereg.Rejected) == (prereg.ErrorCode(r.Err) == prereg.Conflict),
			"dry run %v, item %d: change %s with error %v", dry, i, r.Change, r.Err)
	}
}

func batchWritten(t *testing.T, s Store) {
	ctx := context.Background()
	r, err := s.Get(ctx, prereg.RegistrationID("org_a", "new@x.io"))
	expect(t, err == nil && r.Source == "import:imp_b" && r.Status == prereg.StatusPending, "new record: %+v %v", r, err)
	// Written records are claimable at once, by the service's login path.
	res := loginAs(t, s, "u-new", "new@x.io", "org_a")
	expect(t, res.Outcome == prereg.OutcomeGranted && slices.Equal(res.Roles, []string{"n"}), "login after the batch: %s %v", res.Outcome, res.Roles)
	// Imports leave one entry per import (SaveImport), not one per row.
	items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Action: prereg.AuditCreated})
	expect(t, err == nil && len(items) == 3, "created entries: %d %v, want the 3 written through Put", len(items), err)
}

// Keys handed over by the caller are used as they are.
func batchWithKeys(t *testing.T, s Store) {
	more := []prereg.Input{{Email: "k1@x.io", Roles: []string{"r"}}, {Email: "k2@x.io", Roles: []string{"r"}}}
	keys := []prereg.Key{prereg.RegistrationKey("", "k1@x.io"), prereg.RegistrationKey("", "k2@x.io")}
	res, err := s.PrepareBatch(more, keys, "import:imp_k").Apply(context.Background(), "t", false)
	expect(t, err == nil && len(res) == 2 && res[0].Change == prereg.Created && res[1].ID == prereg.RegistrationID("", "k2@x.io"),
		"batch with keys: %+v %v", res, err)
}

var reportBase = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

func testImportReports(t *testing.T, s Store) {
	var ids []string
	runSteps(t,
		step{"RoundTrip", func(t *testing.T) { ids = saveReports(t, s) }},
		step{"NewestFirst", func(t *testing.T) { reportsNewestFirst(t, s) }},
		step{"Viewer", func(t *testing.T) { reportsOfViewer(t, s) }},
		step{"Audited", func(t *testing.T) { reportsAudited(t, s, len(ids)) }},
	)
}

// saveReports saves seven reports over three scopes, each read back as
// saved, and returns their IDs.
func saveReports(t *testing.T, s Store) []string {
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		org := []string{"", "org_a", "org_b"}[i%3]
		rep := prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: fmt.Sprintf("imp_%d", i), OrganizationID: org, Actor: "tok_" + org, Rows: i, Created: i, Organizations: []string{org}, StartedAt: reportBase.Add(time.Duration(i) * time.Minute), FinishedAt: reportBase.Add(time.Duration(i)*time.Minute + time.Second)}, Errors: []prereg.RowError{{Line: 2, Column: "email", Value: "x", Message: "bad"}}, Warnings: []prereg.RowWarning{{Line: 3, Message: "dup"}}}
		if org == "" {
			rep.Organizations = nil
		}
		if i%2 == 0 { // and odd ones as reports of older versions
			rep.SHA256 = fmt.Sprintf("%064x", i)
		}
		if i == 3 {
			rep.FinishedAt = reportBase.Add(10 * time.Minute) // finished last, started fourth
		}
		noErr(t, s.SaveImport(ctx, rep))
		ids = append(ids, rep.ImportID)
		got, err := s.Import(ctx, rep.ImportID)
		expect(t, err == nil && fmt.Sprint(got) == fmt.Sprint(rep), "report %d read back as %+v (%v)", i, got, err)
		expect(t, len(got.Errors) == 1 && got.Errors[0] == rep.Errors[0] && len(got.Warnings) == 1 && got.Rows == i, "report %d read back as %+v", i, got)
	}
	_, err := s.Import(ctx, "imp_none")
	expect(t, prereg.ErrorCode(err) == prereg.NotFound, "unknown import: %v", err)
	return ids
}

func reportsNewestFirst(t *testing.T, s Store) {
	wantOrder := []string{"imp_3", "imp_6", "imp_5", "imp_4", "imp_2", "imp_1", "imp_0"}
	var got []string
	f := prereg.ImportFilter{Limit: 3}
	for pages := 0; ; pages++ {
		page, next, err := s.Imports(context.Background(), f)
		expect(t, err == nil && len(page) <= 3 && pages <= 5, "page %d: %d items, %v", pages, len(page), err)
		for _, p := range page {
			got = append(got, p.ImportID)
			var n int
			_, _ = fmt.Sscanf(p.ImportID, "imp_%d", &n)
			expect(t, (p.SHA256 == "") == (n%2 == 1) && (p.SHA256 == "" || p.SHA256 == fmt.Sprintf("%064x", n)), "%s listed with SHA-256 %q", p.ImportID, p.SHA256)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	expect(t, slices.Equal(got, wantOrder), "imports listed %v, want newest first %v", got, wantOrder)
}

func reportsOfViewer(t *testing.T, s Store) {
	ctx := context.Background()
	page, _, err := s.Imports(ctx, prereg.ImportFilter{Viewer: prereg.Principal{TokenID: "tok_x", OrganizationID: "org_a"}})
	noErr(t, err)
	for _, p := range page {
		report(t, p.OrganizationID == "org_a", "a token of org_a sees %s of %q", p.ImportID, p.OrganizationID)
	}
	report(t, len(page) == 2, "a token of org_a sees %d imports, want its 2", len(page))
	_, _, err = s.Imports(ctx, prereg.ImportFilter{Cursor: "garbage!"})
	report(t, prereg.ErrorCode(err) == prereg.Invalid, "bad cursor: %v", err)
}

// A saved import that wrote is in the audit trail; a dry run is not.
func reportsAudited(t *testing.T, s Store, saved int) {
	ctx := context.Background()
	noErr(t, s.SaveImport(ctx, prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: "imp_dry", DryRun: true, Actor: "t", FinishedAt: reportBase.Add(time.Hour)}}))
	items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Action: prereg.AuditImported, Limit: 100})
	report(t, err == nil && len(items) == saved, "imported entries: %d %v, want %d", len(items), err, saved)
}

// testHealth: a writable store answers Ping; a backup is not empty and
// says its size first.
func testHealth(t *testing.T, open Open) {
	s := open(t, Options{})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	var buf bytes.Buffer
	announced := int64(-1)
	n, err := s.Backup(ctx, &buf, func(size int64) { announced = size })
	if err != nil || n == 0 || n != int64(buf.Len()) || announced != n {
		t.Fatalf("backup: %d bytes written, %d announced, %d received, %v", n, announced, buf.Len(), err)
	}
	if s.Size() <= 0 {
		t.Fatalf("size %d", s.Size())
	}
}
