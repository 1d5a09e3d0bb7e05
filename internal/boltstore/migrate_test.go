package boltstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// openFixture opens a copy of testdata/store/name at 2026-11-01 13:00 UTC
// with sync on, and checks the file with Tx.Check when the test ends.
// edit, when set, changes the copy with bbolt first.
func openFixture(t *testing.T, name string, edit func(tx *bolt.Tx) error) *boltstore.Store {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../testdata/store", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(edit)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	now := func() time.Time { return time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC) }
	return openPath(t, path, boltstore.Options{Now: now, SyncEnabled: true})
}

func registrationIDs(items []prereg.Registration) []string {
	out := []string{}
	for _, r := range items {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// A store of a schema before the oldest this code migrates (never
// released) or after the newest it knows is refused at open, read-write
// or read-only, with a message that names the file, its schema and what
// to do, and the file is left as it was.
func TestOpenRefusesUnsupportedSchema(t *testing.T) {
	tests := []struct {
		schema uint64
		want   []string
	}{
		{1, []string{"schema 1", "cannot open", "never released", "export", "import"}},
		{2, []string{"schema 2", "cannot open", "never released", "export", "import"}},
		{3, []string{"schema 3", "cannot open", "never released", "export", "import"}},
		{boltstore.SchemaVersion + 1, []string{fmt.Sprintf("schema %d", boltstore.SchemaVersion+1), "newer prereg", "upgrade prereg"}},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "prereg.db")
		s, err := boltstore.Open(path, boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Put(context.Background(), prereg.Input{Email: "a@example.com", Roles: []string{"r"}}, "api", "test"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSchemaForTest(tt.schema); err != nil {
			t.Fatal(err)
		}
		s.Close()
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, readOnly := range []bool{false, true} {
			s, err := boltstore.Open(path, boltstore.Options{ReadOnly: readOnly})
			if err == nil {
				s.Close()
				t.Fatalf("schema %d (read-only %v): opened", tt.schema, readOnly)
			}
			if msg := prereg.ErrorMessage(err); !containsAll(msg, append(tt.want, path)...) {
				t.Errorf("schema %d (read-only %v): %q, want it to name %q and the file", tt.schema, readOnly, msg, tt.want)
			}
		}
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, before) {
			t.Errorf("schema %d: the refused file changed (%v)", tt.schema, err)
		}
	}
}

// testdata/store/v4.db was written by prereg at schema 4 (commit 29fd34c)
// through its Store API, with the clock at 2026-11-01 12:00 UTC. Its
// records hold what schema 4 got wrong: never@ (pending, expiring
// 9999-12-31, which its encoding wrapped to 1816), ancient@ (pending,
// 1600-01-01, wrapped to 2184 and claimable), epoch@ (pending,
// 1970-01-01T00:00:00Z, read back as no expiry), and addresses whose key
// folded Unicode case: "\u212A1@corp.example" (Kelvin sign; tenant-wide,
// keyed as k1@) beside k1@corp.example in org_fixture1, and
// "Ünïcode@Example.com" in org_fixture2. Also soon@ (org_fixture1, expiring
// 2027-01-31T18:00:00.5Z) and granted@ (org_fixture1, granted to
// auth0|granted, expiring 2027-06-30). A sync job naming Ünïcode@'s
// schema 4 ID and one naming granted@ are added to the copy.
func TestOpenMigratesSchema4Store(t *testing.T) {
	id := prereg.RegistrationID
	oldUnicode := id("org_fixture2", "ünïcode@example.com") // the ID schema 4 gave it
	jobs := map[string]string{"job_ffff000000000001": oldUnicode, "job_ffff000000000002": id("org_fixture1", "granted@example.com")}
	s := openFixture(t, "v4.db", func(tx *bolt.Tx) error {
		for jid, rid := range jobs {
			raw, err := json.Marshal(prereg.SyncJob{ID: jid, Kind: prereg.JobGrant, RegistrationID: rid, UserID: "auth0|" + jid, Roles: []string{"viewer"}})
			if err != nil {
				return err
			}
			if err := tx.Bucket([]byte("jobs")).Put([]byte(jid), raw); err != nil {
				return err
			}
		}
		return nil
	})
	ctx := context.Background()
	// Moved records take their new key as ID.
	kelvin := id("", "\u212A1@corp.example")
	unicode := id("org_fixture2", "Ünïcode@Example.com")
	jobs["job_ffff000000000001"] = unicode
	for _, old := range []string{id("", "k1@corp.example"), oldUnicode} {
		if _, err := s.Get(ctx, old); prereg.ErrorCode(err) != prereg.NotFound {
			t.Errorf("get by the schema 4 ID %s: %v, want not found", old, err)
		}
	}
	due, err := s.DueJobs(ctx, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range due {
		if want, ok := jobs[j.ID]; ok && j.RegistrationID != want {
			t.Errorf("job %s names %s, want %s", j.ID, j.RegistrationID, want)
		}
		delete(jobs, j.ID)
	}
	if len(jobs) != 0 {
		t.Errorf("jobs lost: %v", jobs)
	}
	expiries := map[string]string{
		id("", "never@example.com"):               "9999-12-31T23:59:59Z",
		id("", "ancient@example.com"):             "1600-01-01T23:59:59Z",
		id("", "epoch@example.com"):               "1970-01-01T00:00:00Z",
		id("org_fixture1", "soon@example.com"):    "2027-01-31T18:00:00.5Z",
		id("org_fixture1", "granted@example.com"): "2027-06-30T23:59:59Z",
		kelvin: "",
	}
	for rid, want := range expiries {
		r, err := s.Get(ctx, rid)
		if err != nil || prereg.FormatExpiry(r.ExpiresAt) != want {
			t.Errorf("%s: %v expires_at %q, want %q", rid, err, prereg.FormatExpiry(r.ExpiresAt), want)
		}
	}
	plain := id("org_fixture1", "k1@corp.example")
	checkList := func(name string, f prereg.Filter, want ...string) {
		t.Helper()
		items, _, err := s.List(ctx, f)
		if got := registrationIDs(items); err != nil || !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: %v %v, want %v", name, err, got, want)
		}
	}
	checkList("expired", prereg.Filter{Status: prereg.StatusExpired}, id("", "ancient@example.com"), id("", "epoch@example.com"))
	checkList("pending", prereg.Filter{Status: prereg.StatusPending}, id("", "never@example.com"), id("org_fixture1", "soon@example.com"), kelvin, plain, unicode)
	checkList("the Kelvin address", prereg.Filter{Email: "\u212A1@corp.example"}, kelvin)
	checkList("k1@", prereg.Filter{Email: "K1@corp.example"}, plain)
	checkList("Ünïcode@", prereg.Filter{Email: "Ünïcode@example.com"}, unicode)
	checkList("ünïcode@", prereg.Filter{Email: "ünïcode@example.com"})
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if want := (prereg.Counts{Pending: 5, Granted: 1, Expired: 2, Total: 8}); err != nil || st.Overall != want {
		t.Errorf("stats: %v %+v, want %+v", err, st.Overall, want)
	}
	// Writing a moved record's pair again finds it under its new ID.
	r, change, err := s.Put(ctx, prereg.Input{Email: "Ünïcode@Example.com", OrganizationID: "org_fixture2", Roles: []string{"viewer"}}, "api", "test")
	if err != nil || change != prereg.Unchanged || r.ID != unicode {
		t.Errorf("write again: %v %s %s, want unchanged %s", err, change, r.ID, unicode)
	}
	logins := []struct {
		user, email, org string
		outcome          prereg.Outcome
		roles            []string
	}{
		{"auth0|ancient", "ancient@example.com", "", prereg.OutcomeNoMatch, nil},
		{"auth0|epoch", "epoch@example.com", "", prereg.OutcomeNoMatch, nil},
		{"auth0|never", "never@example.com", "", prereg.OutcomeGranted, []string{"member"}},
		{"auth0|u", "ünïcode@example.com", "org_fixture2", prereg.OutcomeNoMatch, nil},
		{"auth0|k1", "k1@corp.example", "org_fixture1", prereg.OutcomeGranted, []string{"plain"}},
		{"auth0|kelvin", "\u212A1@corp.example", "", prereg.OutcomeGranted, []string{"kelvin"}},
		{"auth0|Ü", "Ünïcode@example.com", "org_fixture2", prereg.OutcomeGranted, []string{"viewer"}},
	}
	for _, l := range logins {
		res, err := s.Login(ctx, prereg.Login{UserID: l.user, Email: l.email, OrganizationID: l.org}, true)
		if err != nil || res.Outcome != l.outcome || !slices.Equal(res.Roles, l.roles) && len(l.roles) > 0 || len(res.Grants) != len(l.roles) {
			t.Errorf("login %s: %v %+v, want %s %v", l.email, err, res.HookResult, l.outcome, l.roles)
		}
	}
}
