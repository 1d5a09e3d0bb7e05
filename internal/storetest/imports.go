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

func testBatch(t *testing.T, s Store) {
	ctx := context.Background()
	put(t, s, prereg.Input{Email: "same@x.io", Roles: []string{"r"}})
	put(t, s, prereg.Input{Email: "changed@x.io", Roles: []string{"r"}})
	put(t, s, prereg.Input{Email: "granted@x.io", Roles: []string{"r"}})
	loginAs(t, s, "u", "granted@x.io", "")
	items := []prereg.Input{
		{Email: "new@x.io", OrganizationID: "org_a", Roles: []string{"n"}},
		{Email: "granted@x.io", Roles: []string{"other"}},
		{Email: "same@x.io", Roles: []string{"r"}},
		{Email: "changed@x.io", Roles: []string{"r", "s"}},
		{Email: "granted@x.io", OrganizationID: "org_a", Roles: []string{"g"}},
	}
	want := []prereg.Change{prereg.Created, prereg.Rejected, prereg.Unchanged, prereg.Updated, prereg.Created}
	snapshot := func() string {
		var b bytes.Buffer
		if err := s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error { fmt.Fprintf(&b, "%+v\n", r); return nil }); err != nil {
			t.Fatal(err)
		}
		st, err := s.Stats(ctx, prereg.StatsFilter{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%+v", st)
		return b.String()
	}
	before := snapshot()
	for _, dry := range []bool{true, false} {
		res := applyBatch(t, s, items, "import:imp_b", dry)
		if len(res) != len(items) {
			t.Fatalf("dry run %v: %d results for %d items", dry, len(res), len(items))
		}
		for i, r := range res {
			if r.Change != want[i] || r.ID != prereg.RegistrationID(items[i].OrganizationID, items[i].Email) {
				t.Errorf("dry run %v, item %d: %s %s, want %s", dry, i, r.ID, r.Change, want[i])
			}
			if (r.Change == prereg.Rejected) != (prereg.ErrorCode(r.Err) == prereg.Conflict) {
				t.Errorf("dry run %v, item %d: change %s with error %v", dry, i, r.Change, r.Err)
			}
		}
		if dry && snapshot() != before {
			t.Fatal("a dry run wrote")
		}
	}
	if snapshot() == before {
		t.Fatal("the batch wrote nothing")
	}
	r, err := s.Get(ctx, prereg.RegistrationID("org_a", "new@x.io"))
	if err != nil || r.Source != "import:imp_b" || r.Status != prereg.StatusPending {
		t.Fatalf("new record: %+v %v", r, err)
	}
	// Written records are claimable at once, by the service's login path.
	if res := loginAs(t, s, "u-new", "new@x.io", "org_a"); res.Outcome != prereg.OutcomeGranted || !slices.Equal(res.Roles, []string{"n"}) {
		t.Fatalf("login after the batch: %s %v", res.Outcome, res.Roles)
	}
	// Imports leave one entry per import (SaveImport), not one per row.
	if items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Action: prereg.AuditCreated}); err != nil || len(items) != 3 {
		t.Fatalf("created entries: %d %v, want the 3 written through Put", len(items), err)
	}
	// Keys handed over by the caller are used as they are.
	more := []prereg.Input{{Email: "k1@x.io", Roles: []string{"r"}}, {Email: "k2@x.io", Roles: []string{"r"}}}
	keys := []prereg.Key{prereg.RegistrationKey("", "k1@x.io"), prereg.RegistrationKey("", "k2@x.io")}
	res, err := s.PrepareBatch(more, keys, "import:imp_k").Apply(ctx, "t", false)
	if err != nil || len(res) != 2 || res[0].Change != prereg.Created || res[1].ID != prereg.RegistrationID("", "k2@x.io") {
		t.Fatalf("batch with keys: %+v %v", res, err)
	}
}

func testImportReports(t *testing.T, s Store) {
	ctx := context.Background()
	base := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 7 {
		org := []string{"", "org_a", "org_b"}[i%3]
		rep := prereg.ImportReport{ImportID: fmt.Sprintf("imp_%d", i), OrganizationID: org, Actor: "tok_" + org, Rows: i, Created: i,
			Organizations: []string{org}, StartedAt: base.Add(time.Duration(i) * time.Minute), FinishedAt: base.Add(time.Duration(i)*time.Minute + time.Second),
			Errors: []prereg.RowError{{Line: 2, Column: "email", Value: "x", Message: "bad"}}, Warnings: []prereg.RowWarning{{Line: 3, Message: "dup"}}}
		if org == "" {
			rep.Organizations = nil
		}
		if i == 3 {
			rep.FinishedAt = base.Add(10 * time.Minute) // finished last, started fourth
		}
		if err := s.SaveImport(ctx, rep); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rep.ImportID)
		got, err := s.Import(ctx, rep.ImportID)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(rep) {
			t.Fatalf("report %d read back as %+v (%v)", i, got, err)
		}
		if len(got.Errors) != 1 || got.Errors[0] != rep.Errors[0] || len(got.Warnings) != 1 || got.Rows != i {
			t.Fatalf("report %d read back as %+v", i, got)
		}
	}
	if _, err := s.Import(ctx, "imp_none"); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("unknown import: %v", err)
	}
	wantOrder := []string{"imp_3", "imp_6", "imp_5", "imp_4", "imp_2", "imp_1", "imp_0"}
	var got []string
	f := prereg.ImportFilter{Limit: 3}
	for pages := 0; ; pages++ {
		page, next, err := s.Imports(ctx, f)
		if err != nil || len(page) > 3 || pages > 5 {
			t.Fatalf("page %d: %d items, %v", pages, len(page), err)
		}
		for _, p := range page {
			got = append(got, p.ImportID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if !slices.Equal(got, wantOrder) {
		t.Fatalf("imports listed %v, want newest first %v", got, wantOrder)
	}
	page, _, err := s.Imports(ctx, prereg.ImportFilter{Viewer: prereg.Principal{TokenID: "tok_x", OrganizationID: "org_a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range page {
		if p.OrganizationID != "org_a" {
			t.Errorf("a token of org_a sees %s of %q", p.ImportID, p.OrganizationID)
		}
	}
	if len(page) != 2 {
		t.Errorf("a token of org_a sees %d imports, want its 2", len(page))
	}
	if _, _, err := s.Imports(ctx, prereg.ImportFilter{Cursor: "garbage!"}); prereg.ErrorCode(err) != prereg.Invalid {
		t.Errorf("bad cursor: %v", err)
	}
	// A saved import that wrote is in the audit trail; a dry run is not.
	if err := s.SaveImport(ctx, prereg.ImportReport{ImportID: "imp_dry", DryRun: true, Actor: "t", FinishedAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Action: prereg.AuditImported, Limit: 100}); err != nil || len(items) != len(ids) {
		t.Errorf("imported entries: %d %v, want %d", len(items), err, len(ids))
	}
}

// testHealth: a writable store answers Ping; a backup is not empty and
// says its size first.
func testHealth(t *testing.T, open Open) {
	s := open(t, Options{})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
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
