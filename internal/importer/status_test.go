package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

// movingClock is a store clock a test moves forward.
type movingClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *movingClock {
	c := &movingClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *movingClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *movingClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// seed writes one registration through the store, as the API does.
func seed(t *testing.T, s *boltstore.Store, email, org string, exp *time.Time, roles ...string) prereg.Registration {
	t.Helper()
	r, _, err := s.Put(context.Background(), prereg.Input{Email: email, OrganizationID: org, Roles: roles, ExpiresAt: exp}.Normalize(), "api", "bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func grant(t *testing.T, s *boltstore.Store, id, user string) {
	t.Helper()
	if _, _, err := s.GrantTo(context.Background(), id, user); err != nil {
		t.Fatal(err)
	}
}

func revoke(t *testing.T, s *boltstore.Store, id string, force bool) {
	t.Helper()
	if _, _, err := s.Revoke(context.Background(), id, force, "bootstrap"); err != nil {
		t.Fatal(err)
	}
}

// records is every registration of the store, as an export reads them.
func records(t *testing.T, s *boltstore.Store) []prereg.Registration {
	t.Helper()
	var out []prereg.Registration
	if err := s.Each(context.Background(), prereg.Filter{}, func(r prereg.Registration) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// export writes the store as the export path does (cmd/prereg's exportCSV
// and GET /v1/exports use this encoder over Each).
func export(t *testing.T, s *boltstore.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := csvio.NewEncoder(&buf)
	if err := s.Each(context.Background(), prereg.Filter{}, enc.Write); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func skipWarning(line int, status prereg.Status) prereg.RowWarning {
	return prereg.RowWarning{Line: line, Message: fmt.Sprintf("status %s: skipped, exports never reopen a registration (empty the status cell to reopen it)", status)}
}

// TestImportOfAnExportChangesNothing: an export of pending, granted,
// revoked, force-revoked and expired registrations imports back with
// nothing created or updated, every record exactly as it was (CONTRACT §4
// v2), in a dry run, a strict import and a plain one.
func TestImportOfAnExportChangesNothing(t *testing.T) {
	clk := newClock(t0)
	s := openStoreAt(t, clk.now)
	seed(t, s, "pending@example.com", orgA, nil, "viewer", "-admin")
	g := seed(t, s, "Granted@Example.com", "", nil, "rol_AbC123")
	grant(t, s, g.ID, "auth0|granted")
	r := seed(t, s, "revoked@example.com", orgB, nil, "viewer")
	revoke(t, s, r.ID, false)
	f := seed(t, s, "forced@example.com", orgA, nil, "editor")
	grant(t, s, f.ID, "=auth0|forced")
	revoke(t, s, f.ID, true)
	soon := t0.Add(time.Hour)
	seed(t, s, "expired@example.com", "", &soon, "viewer")
	clk.advance(2 * time.Hour) // past the expiry; any write from now on shows in updated_at

	before := records(t, s)
	statuses := map[prereg.Status]int{}
	for _, r := range before {
		statuses[r.Status]++
	}
	if want := map[prereg.Status]int{prereg.StatusPending: 1, prereg.StatusGranted: 1, prereg.StatusRevoked: 2, prereg.StatusExpired: 1}; !reflect.DeepEqual(statuses, want) {
		t.Fatalf("seeded statuses %v, want %v", statuses, want)
	}
	data := export(t, s)
	var wantWarnings []prereg.RowWarning
	for i, line := range strings.Split(string(data), "\n") {
		for _, st := range []prereg.Status{prereg.StatusRevoked, prereg.StatusExpired} {
			if strings.Contains(line, ","+string(st)+",") {
				wantWarnings = append(wantWarnings, skipWarning(i+1, st))
			}
		}
	}
	if len(wantWarnings) != 3 {
		t.Errorf("export has %d revoked or expired rows, want 3:\n%s", len(wantWarnings), data)
	}

	importChangesNothing(t, s, data, counts{rows: 5, unchanged: 2, warnings: wantWarnings}, 3, before)
}

// TestImportStatusColumn: what each status value of a row does to a
// revoked registration (ana), a granted one (gus) and a new address.
func TestImportStatusColumn(t *testing.T) {
	const head = "email,organization_id,roles,connection,expires_at,status,granted_to,granted_at,id,created_at,updated_at,source\n"
	tests := []struct {
		name      string
		file      string
		strict    bool
		want      counts
		skipped   int
		anaStatus prereg.Status
		newExists bool
	}{
		{"revoked row leaves a revoked one alone", head + "ana@example.com,,viewer,,,revoked,,,,,,\n",
			false, counts{rows: 1, warnings: []prereg.RowWarning{skipWarning(2, prereg.StatusRevoked)}}, 1, prereg.StatusRevoked, false},
		{"expired row creates nothing", head + "new@example.com,,viewer,,2020-01-01,expired,,,,,,\n",
			false, counts{rows: 1, warnings: []prereg.RowWarning{skipWarning(2, prereg.StatusExpired)}}, 1, prereg.StatusRevoked, false},
		{"empty status reopens", head + "ana@example.com,,viewer,,,,,,,,,\n",
			false, counts{rows: 1, updated: 1}, 0, prereg.StatusPending, false},
		{"pending status reopens", head + "ana@example.com,,viewer,,,Pending,,,,,,\n",
			false, counts{rows: 1, updated: 1}, 0, prereg.StatusPending, false},
		{"no status column reopens", "email,roles\nana@example.com,viewer\n",
			false, counts{rows: 1, updated: 1}, 0, prereg.StatusPending, false},
		{"granted row identical to the grant", head + "gus@example.com,,viewer,,,granted,auth0|someone-else,2020-01-01T00:00:00Z,x,y,z,w\n",
			false, counts{rows: 1, unchanged: 1}, 0, prereg.StatusRevoked, false},
		{"granted row that differs", head + "gus@example.com,,editor,,,granted,,,,,,\n",
			false, counts{rows: 1, rejected: 1, errors: []string{"2:"}}, 0, prereg.StatusRevoked, false},
		{"revoked row that differs from a grant", head + "gus@example.com,,editor,,,revoked,,,,,,\n",
			false, counts{rows: 1, warnings: []prereg.RowWarning{skipWarning(2, prereg.StatusRevoked)}}, 1, prereg.StatusRevoked, false},
		{"unknown status", head + "ana@example.com,,viewer,,,active,,,,,,\nnew@example.com,,viewer,,,,,,,,,\n",
			false, counts{rows: 2, created: 1, rejected: 1, errors: []string{"2:status"}}, 0, prereg.StatusRevoked, true},
		{"a strict import writes past skipped rows", head + "ana@example.com,,viewer,,,expired,,,,,,\nnew@example.com,,viewer,,,pending,,,,,,\n",
			true, counts{rows: 2, created: 1, warnings: []prereg.RowWarning{skipWarning(2, prereg.StatusExpired)}}, 1, prereg.StatusRevoked, true},
		{"a skipped row overrides no earlier row", head + "new@example.com,,viewer,,,,,,,,,\nnew@example.com,,editor,,,revoked,,,,,,\n",
			false, counts{rows: 2, created: 1, warnings: []prereg.RowWarning{skipWarning(3, prereg.StatusRevoked)}}, 1, prereg.StatusRevoked, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			ana := seed(t, s, "ana@example.com", "", nil, "viewer")
			revoke(t, s, ana.ID, false)
			gus := seed(t, s, "gus@example.com", "", nil, "viewer")
			grant(t, s, gus.ID, "auth0|gus")
			gusBefore, err := s.Get(context.Background(), gus.ID)
			if err != nil {
				t.Fatal(err)
			}

			rep := run(t, s, []byte(tt.file), importer.Options{Strict: tt.strict})
			if got := summarize(rep); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("report %+v, want %+v", got, tt.want)
			}
			if rep.Skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", rep.Skipped, tt.skipped)
			}
			if got, err := s.Get(context.Background(), ana.ID); err != nil || got.Status != tt.anaStatus {
				t.Errorf("ana is %q (%v), want %q", got.Status, err, tt.anaStatus)
			}
			if got, err := s.Get(context.Background(), gus.ID); err != nil || !reflect.DeepEqual(got, gusBefore) {
				t.Errorf("gus changed: %+v (%v), want %+v", got, err, gusBefore)
			}
			_, err = s.Get(context.Background(), prereg.RegistrationID("", "new@example.com"))
			if exists := err == nil; exists != tt.newExists {
				t.Errorf("new@example.com exists: %v (%v), want %v", exists, err, tt.newExists)
			}
		})
	}
}

// TestImportUnclosedQuote: a quote never closed stops the import with one
// error naming its line, and nothing is written, not even the rows before
// it, in every mode.
func TestImportUnclosedQuote(t *testing.T) {
	data := []byte("email,roles\nana@example.com,viewer\nbob@example.com,\"viewer\n" + strings.Repeat("good@example.com,viewer\n", 5))
	for _, opts := range []importer.Options{{}, {DryRun: true}, {Strict: true}} {
		t.Run(fmt.Sprintf("dry_run=%v strict=%v", opts.DryRun, opts.Strict), func(t *testing.T) {
			s := openStore(t)
			opts.Principal, opts.ImportID, opts.TempDir = tenant, "imp_q", t.TempDir()
			rep, err := importer.Run(context.Background(), s, bytes.NewReader(data), opts)
			var pe *prereg.Error
			if !errors.As(err, &pe) || pe.Code != prereg.Invalid || !strings.HasPrefix(pe.Message, "line 3: a quoted cell opens on this line and is never closed") {
				t.Fatalf("error = %v, want line 3's quote", err)
			}
			if len(pe.Details) != 1 || pe.Details[0].Value != "3" {
				t.Errorf("details = %+v", pe.Details)
			}
			if !reflect.DeepEqual(rep, prereg.ImportReport{}) {
				t.Errorf("report = %+v, want none", rep)
			}
			if _, err := s.Import(context.Background(), "imp_q"); prereg.ErrorCode(err) != prereg.NotFound {
				t.Errorf("a report was saved: %v", err)
			}
			assertEmpty(t, s)
		})
	}
}

func grantedSkipWarning(line int) prereg.RowWarning {
	return prereg.RowWarning{Line: line, Message: "status granted: skipped, the registration is not granted any more (empty the status cell to write it)"}
}

// TestImportGrantedRows: a row with status granted is checked against the
// store, never written: unchanged when the registration is granted with
// the same values, rejected when it is granted with others, and skipped
// when the registration is missing, pending, revoked (force-revoked too)
// or expired (CONTRACT §4 v2).
func TestImportGrantedRows(t *testing.T) {
	const head = "email,organization_id,roles,connection,expires_at,status,granted_to,granted_at\n"
	tests := []struct {
		name    string
		file    string
		opts    importer.Options
		want    counts
		skipped int
		created []string // addresses the import creates; nothing else changes
	}{
		{"granted, the same values", head + "gus@example.com,,viewer,,,granted,auth0|gus,2026-11-01T12:00:00Z\n",
			importer.Options{}, counts{rows: 1, unchanged: 1}, 0, nil},
		{"granted, the same values, status in capitals", head + "gus@example.com,,viewer,,,GRANTED,,\n",
			importer.Options{}, counts{rows: 1, unchanged: 1}, 0, nil},
		{"granted, other values", head + "gus@example.com,,editor,,,granted,auth0|gus,\n",
			importer.Options{}, counts{rows: 1, rejected: 1, errors: []string{"2:"}}, 0, nil},
		{"missing", head + "new@example.com,,viewer,,,granted,auth0|new,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"pending, the same values", head + "pia@example.com,,viewer,,,granted,auth0|pia,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"pending, other values", head + "pia@example.com,,editor,,,granted,auth0|pia,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"revoked", head + "ana@example.com,,viewer,,,granted,auth0|ana,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"force-revoked grant", head + "fay@example.com,,viewer,,,granted,auth0|fay,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"expired", head + "eve@example.com,,viewer,,2026-11-01T13:00:00Z,granted,auth0|eve,\n",
			importer.Options{}, counts{rows: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"dry run", head + "ana@example.com,,viewer,,,granted,,\ngus@example.com,,viewer,,,granted,,\nnew@example.com,,viewer,,,,,\n",
			importer.Options{DryRun: true}, counts{rows: 3, created: 1, unchanged: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, nil},
		{"strict writes past a skipped row", head + "fay@example.com,,viewer,,,granted,,\nnew@example.com,,viewer,,,pending,,\n",
			importer.Options{Strict: true}, counts{rows: 2, created: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, []string{"new@example.com"}},
		{"strict stops at a granted row with other values", head + "gus@example.com,,editor,,,granted,,\nnew@example.com,,viewer,,,,,\n",
			importer.Options{Strict: true}, counts{rows: 2, rejected: 1, errors: []string{"2:"}, warnings: []prereg.RowWarning{strictWarning(1)}}, 0, nil},
		{"mixed with writes in one batch", head + "ana@example.com,,viewer,,,granted,,\nnew@example.com,,viewer,,,,,\npia@example.com,,editor,,,,,\ngus@example.com,,viewer,,,granted,,\n",
			importer.Options{BatchSize: 2}, counts{rows: 4, created: 1, updated: 1, unchanged: 1, warnings: []prereg.RowWarning{grantedSkipWarning(2)}}, 1, []string{"new@example.com", "pia@example.com"}},
		{"a granted row wins over an earlier row", head + "new@example.com,,viewer,,,,,\nnew@example.com,,viewer,,,granted,,\n",
			importer.Options{}, counts{rows: 2, warnings: []prereg.RowWarning{{Line: 3, Message: "duplicate of line 2; line 3 wins"}, grantedSkipWarning(3)}}, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(t0)
			s := openStoreAt(t, clk.now)
			gus := seed(t, s, "gus@example.com", "", nil, "viewer")
			grant(t, s, gus.ID, "auth0|gus")
			seed(t, s, "pia@example.com", "", nil, "viewer")
			ana := seed(t, s, "ana@example.com", "", nil, "viewer")
			revoke(t, s, ana.ID, false)
			fay := seed(t, s, "fay@example.com", "", nil, "viewer")
			grant(t, s, fay.ID, "auth0|fay")
			revoke(t, s, fay.ID, true)
			soon := t0.Add(time.Hour)
			seed(t, s, "eve@example.com", "", &soon, "viewer")
			clk.advance(2 * time.Hour) // eve expired; any write from now on shows in updated_at
			before := records(t, s)

			rep := run(t, s, []byte(tt.file), tt.opts)
			if got := summarize(rep); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("report %+v, want %+v", got, tt.want)
			}
			if rep.Skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", rep.Skipped, tt.skipped)
			}
			var after []prereg.Registration
			for _, r := range records(t, s) {
				if !slices.Contains(tt.created, r.Email) {
					after = append(after, r)
				}
			}
			before = slices.DeleteFunc(before, func(r prereg.Registration) bool { return slices.Contains(tt.created, r.Email) })
			if !reflect.DeepEqual(after, before) {
				t.Errorf("records changed:\n got %+v\nwant %+v", after, before)
			}
			if n := len(records(t, s)) - len(after); n != len(tt.created) {
				t.Errorf("%d records written, want %v", n, tt.created)
			}
		})
	}
}

func strictWarning(rejected int) prereg.RowWarning {
	return prereg.RowWarning{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", rejected)}
}

// TestImportOldExportGivesNoGrantBack: an export taken while two
// registrations were granted, imported again after an admin force-revoked
// one and erased the other, neither reopens the first nor creates the
// second, in a dry run, a strict import and a plain one; the grant that
// still stands and the pending registration read unchanged.
func TestImportOldExportGivesNoGrantBack(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	s := openStoreAt(t, clk.now)
	seed(t, s, "pia@example.com", orgA, nil, "viewer")
	gus := seed(t, s, "gus@example.com", "", nil, "rol_AbC123")
	grant(t, s, gus.ID, "auth0|gus")
	fay := seed(t, s, "fay@example.com", orgA, nil, "editor", "viewer")
	grant(t, s, fay.ID, "auth0|fay")
	kim := seed(t, s, "kim@example.com", "", nil, "viewer")
	grant(t, s, kim.ID, "auth0|kim")
	old := export(t, s)

	clk.advance(time.Hour)
	revoke(t, s, fay.ID, true)
	if _, err := s.Erase(ctx, "kim@example.com", "", "bootstrap"); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Hour)
	before := records(t, s)

	var wantWarnings []prereg.RowWarning
	for i, line := range strings.Split(string(old), "\n") {
		if strings.HasPrefix(line, "fay@") || strings.HasPrefix(line, "kim@") {
			if !strings.Contains(line, ",granted,") {
				t.Fatalf("line %d of the old export is not granted: %q", i+1, line)
			}
			wantWarnings = append(wantWarnings, grantedSkipWarning(i+1))
		}
	}
	if len(wantWarnings) != 2 {
		t.Fatalf("old export has %d rows of fay and kim, want 2:\n%s", len(wantWarnings), old)
	}
	importChangesNothing(t, s, old, counts{rows: 4, unchanged: 2, warnings: wantWarnings}, 2, before)
	if _, err := s.Get(ctx, kim.ID); prereg.ErrorCode(err) != prereg.NotFound {
		t.Errorf("kim's erased registration: %v, want not found", err)
	}
}

// importChangesNothing imports data into s as a dry run, a strict import
// and a plain one: each must report want and skipped, and leave the
// records exactly as before.
func importChangesNothing(t *testing.T, s *boltstore.Store, data []byte, want counts, skipped int, before []prereg.Registration) {
	t.Helper()
	for _, opts := range []importer.Options{{DryRun: true}, {Strict: true}, {}} {
		t.Run(fmt.Sprintf("dry_run=%v strict=%v", opts.DryRun, opts.Strict), func(t *testing.T) {
			rep := run(t, s, data, opts)
			if got := summarize(rep); !reflect.DeepEqual(got, want) {
				t.Errorf("report %+v, want %+v", got, want)
			}
			if rep.Skipped != skipped {
				t.Errorf("skipped = %d, want %d", rep.Skipped, skipped)
			}
			if after := records(t, s); !reflect.DeepEqual(after, before) {
				t.Errorf("records changed:\n got %+v\nwant %+v", after, before)
			}
		})
	}
}
