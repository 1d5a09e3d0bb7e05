package boltstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// testdata/store/v1.db was written by prereg at schema 1 (before the sync
// index): four registrations (pending, granted with sync done in org_fixture1,
// granted with sync failed, revoked), a limited token and their audit trail.
func TestOpenMigratesSchema1Store(t *testing.T) {
	s := openFixture(t, "v1.db")
	ctx := context.Background()
	tests := []struct {
		name string
		f    boltstore.Filter
		want []string
	}{
		{"failed syncs (new index)", boltstore.Filter{Sync: prereg.SyncFailed}, []string{legacyID("", "failed@example.com")}},
		{"done syncs (new index)", boltstore.Filter{Sync: prereg.SyncDone}, []string{legacyID("org_fixture1", "granted@example.com")}},
		{"pending", boltstore.Filter{Status: prereg.StatusPending}, []string{legacyID("", "pending@example.com")}},
		{"revoked", boltstore.Filter{Status: prereg.StatusRevoked}, []string{legacyID("", "revoked@example.com")}},
	}
	for _, tt := range tests {
		items, _, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(items) != len(tt.want) || items[0].ID != tt.want[0] {
			t.Fatalf("%s: got %+v, want %v", tt.name, items, tt.want)
		}
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|granted", Email: "granted@example.com", OrganizationID: "org_fixture1"}, true)
	if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted || len(res.Roles) != 2 {
		t.Fatalf("old grant after migration: %v %+v", err, res)
	}
	toks, err := s.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].OrganizationID != "org_fixture1" {
		t.Fatalf("tokens: %v %+v", err, toks)
	}
	// The index keeps following changes after the migration.
	if _, err := s.RetrySync(ctx, legacyID("", "failed@example.com"), "test"); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := s.List(ctx, boltstore.Filter{Sync: prereg.SyncFailed}); len(items) != 0 {
		t.Fatalf("failed after retry: %+v", items)
	}
	if items, _, _ := s.List(ctx, boltstore.Filter{Sync: prereg.SyncPending}); len(items) != 1 {
		t.Fatalf("pending sync after retry: %+v", items)
	}
}

// openFixture opens a copy of testdata/store/name at 2026-11-01 13:00 UTC
// with sync on, and checks the file with Tx.Check when the test ends.
func openFixture(t *testing.T, name string) *boltstore.Store {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../testdata/store", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC) }
	return openPath(t, path, boltstore.Options{Now: now, SyncEnabled: true})
}

// legacyID is the ID schemas 1 and 2 gave a registration: a hash of the
// pair, base32 with letters first. Migrated records keep it.
func legacyID(org, email string) string {
	h := sha256.Sum256([]byte(org + "\x00" + prereg.EmailKey(email)))
	return "reg_" + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(h[:15])
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSchemaForTest(boltstore.SchemaVersion + 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = boltstore.Open(path, boltstore.Options{})
	if err == nil || prereg.ErrorMessage(err) == "" || !containsAll(prereg.ErrorMessage(err), "newer prereg") {
		t.Fatalf("newer schema: %v", err)
	}
}

// testdata/store/v2.db was written by prereg at schema 2 (records under a
// sequence, with ID, address and status indexes; commit 6c6d1b8) through
// its Store API, with the clock at 2026-11-01 12:00 UTC: pending@ (tenant),
// Ana.Silva@Example.com (org_fixture1, pinned to a connection, expiring
// 2027-01-31), granted@ in org_fixture1 and tenant-wide (both granted to
// auth0|granted, sync done), revoked@ (revoked), expired@ (org_fixture2,
// expired 2026-10-01), and a read-only token limited to org_fixture1.
func TestOpenMigratesSchema2Store(t *testing.T) {
	s := openFixture(t, "v2.db")
	ctx := context.Background()
	ana := legacyID("org_fixture1", "ana.silva@example.com")
	checkMigrated(t, s, []listCase{
		{"pending", boltstore.Filter{Status: prereg.StatusPending}, []string{legacyID("", "pending@example.com"), ana}},
		{"expired", boltstore.Filter{Status: prereg.StatusExpired}, []string{legacyID("org_fixture2", "expired@example.com")}},
		{"granted", boltstore.Filter{Status: prereg.StatusGranted}, []string{legacyID("", "granted@example.com"), legacyID("org_fixture1", "granted@example.com")}},
		{"revoked", boltstore.Filter{Status: prereg.StatusRevoked}, []string{legacyID("", "revoked@example.com")}},
		{"sync done", boltstore.Filter{Sync: prereg.SyncDone}, []string{legacyID("", "granted@example.com"), legacyID("org_fixture1", "granted@example.com")}},
		{"organization", boltstore.Filter{OrganizationID: "org_fixture1", OrganizationSet: true}, []string{ana, legacyID("org_fixture1", "granted@example.com")}},
		{"address", boltstore.Filter{Email: "GRANTED@example.com"}, []string{legacyID("", "granted@example.com"), legacyID("org_fixture1", "granted@example.com")}},
		{"all", boltstore.Filter{}, []string{legacyID("", "pending@example.com"), ana, legacyID("", "granted@example.com"), legacyID("org_fixture1", "granted@example.com"), legacyID("", "revoked@example.com"), legacyID("org_fixture2", "expired@example.com")}},
	}, boltstore.Counts{Pending: 2, Granted: 2, Revoked: 1, Expired: 1, Total: 6}, []string{"member", "admin"})
	// IDs handed out before the migration still address their records.
	r, err := s.Get(ctx, ana)
	if err != nil || r.Email != "Ana.Silva@Example.com" || !slices.Equal(r.Roles, []string{"rol_abc123", "editor"}) || r.Connection != "Username-Password-Authentication" {
		t.Fatalf("get by old ID: %v %+v", err, r)
	}
	// Writing an old pair again updates its record under its old ID.
	wr, err := s.ApplyBatch(ctx, []prereg.Input{
		{Email: "pending@example.com", Roles: []string{"viewer"}},
		{Email: "Pending@Example.com", OrganizationID: "org_fixture2", Roles: []string{"viewer"}},
		{Email: "revoked@example.com", Roles: []string{"editor"}},
	}, "import:imp_test", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	want := []prereg.WriteResult{
		{ID: legacyID("", "pending@example.com"), Change: prereg.Unchanged},
		{ID: prereg.RegistrationID("org_fixture2", "pending@example.com"), Change: prereg.Created},
		{ID: legacyID("", "revoked@example.com"), Change: prereg.Updated},
	}
	if !slices.Equal(wr, want) {
		t.Fatalf("writes: got %+v, want %+v", wr, want)
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|ana", Email: "ana.silva@example.com", OrganizationID: "org_fixture1", Connection: "Username-Password-Authentication"}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted || len(res.Grants) != 1 || res.Grants[0].RegistrationID != ana {
		t.Fatalf("claim of an old registration: %v %+v", err, res.HookResult)
	}
	// Erasure removes the old ID's mapping too.
	er, err := s.Erase(ctx, "revoked@example.com", "", "test")
	if err != nil || !slices.Equal(er.Registrations, []string{legacyID("", "revoked@example.com")}) {
		t.Fatalf("erase: %v %+v", err, er)
	}
	if _, err := s.Get(ctx, legacyID("", "revoked@example.com")); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("get after erasure: %v", err)
	}
}

// testdata/store/v3.db was written by prereg at schema 3 (commit f46bd79)
// through its Store API, with the clock at 2026-11-01 12:00 UTC and Auth0
// sync on: pending@ (tenant), Ana.Silva@Example.com (org_fixture1, pinned
// to a connection, expiring 2027-01-31), granted@ in org_fixture1 and
// tenant-wide (both granted to auth0|granted), other@ (org_fixture2,
// granted to auth0|other), forced@ (org_fixture1, granted to auth0|forced,
// then force-revoked), revoked@ (revoked while pending) and expired@
// (org_fixture2, expired 2026-10-01). Schema 3 filed granted records under
// their own part of the organization index; schema 4 leaves them where
// they were pending. openPath's index check holds the migrated layout.
func TestOpenMigratesSchema3Store(t *testing.T) {
	s := openFixture(t, "v3.db")
	ctx := context.Background()
	id := prereg.RegistrationID
	ana := id("org_fixture1", "ana.silva@example.com")
	checkMigrated(t, s, []listCase{
		{"granted", boltstore.Filter{Status: prereg.StatusGranted}, []string{id("", "granted@example.com"), id("org_fixture1", "granted@example.com"), id("org_fixture2", "other@example.com")}},
		{"granted in org_fixture1", boltstore.Filter{Status: prereg.StatusGranted, OrganizationID: "org_fixture1", OrganizationSet: true}, []string{id("org_fixture1", "granted@example.com")}},
		{"granted tenant-wide", boltstore.Filter{Status: prereg.StatusGranted, OrganizationSet: true}, []string{id("", "granted@example.com")}},
		{"pending in org_fixture1", boltstore.Filter{Status: prereg.StatusPending, OrganizationID: "org_fixture1", OrganizationSet: true}, []string{ana}},
		{"pending", boltstore.Filter{Status: prereg.StatusPending}, []string{id("", "pending@example.com"), ana}},
		{"expired", boltstore.Filter{Status: prereg.StatusExpired}, []string{id("org_fixture2", "expired@example.com")}},
		{"revoked", boltstore.Filter{Status: prereg.StatusRevoked}, []string{id("", "revoked@example.com"), id("org_fixture1", "forced@example.com")}},
		{"org_fixture1", boltstore.Filter{OrganizationID: "org_fixture1", OrganizationSet: true}, []string{ana, id("org_fixture1", "granted@example.com"), id("org_fixture1", "forced@example.com")}},
	}, boltstore.Counts{Pending: 2, Granted: 3, Revoked: 2, Expired: 1, Total: 8}, []string{"admin", "member"})
	// A claim after the migration, and a force-revoke of a migrated grant.
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|ana", Email: "ana.silva@example.com", OrganizationID: "org_fixture1", Connection: "Username-Password-Authentication"}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("claim after migration: %v %+v", err, res.HookResult)
	}
	if _, _, err := s.Revoke(ctx, id("org_fixture2", "other@example.com"), true, "test"); err != nil {
		t.Fatal(err)
	}
	items, _, err := s.List(ctx, boltstore.Filter{Status: prereg.StatusGranted, OrganizationID: "org_fixture1", OrganizationSet: true})
	if got, want := registrationIDs(items), slices.Sorted(slices.Values([]string{ana, id("org_fixture1", "granted@example.com")})); err != nil || !slices.Equal(got, want) {
		t.Fatalf("granted in org_fixture1 after a claim: %v %v, want %v", err, got, want)
	}
}

// listCase is a listing a migrated fixture must answer: the IDs, in any
// order.
type listCase struct {
	name string
	f    boltstore.Filter
	want []string
}

// checkMigrated checks a migrated fixture's listings, its counts, and the
// roles its granted user (auth0|granted, logging in to org_fixture1) gets
// back.
func checkMigrated(t *testing.T, s *boltstore.Store, lists []listCase, counts boltstore.Counts, roles []string) {
	t.Helper()
	ctx := context.Background()
	for _, tt := range lists {
		items, _, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got, want := registrationIDs(items), slices.Sorted(slices.Values(tt.want)); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, want)
		}
	}
	st, err := s.Stats(ctx, "", false)
	if err != nil || st.Overall != counts {
		t.Fatalf("stats: %v %+v, want %+v", err, st.Overall, counts)
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|granted", Email: "granted@example.com", OrganizationID: "org_fixture1"}, true)
	if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, roles) {
		t.Fatalf("old grant after migration: %v %+v", err, res.HookResult)
	}
}

func registrationIDs(items []prereg.Registration) []string {
	out := []string{}
	for _, r := range items {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
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
// auth0|granted, expiring 2027-06-30).
func TestOpenMigratesSchema4Store(t *testing.T) {
	s := openFixture(t, "v4.db")
	ctx := context.Background()
	id := prereg.RegistrationID
	kelvin := id("", "k1@corp.example")                  // the ID schema 4 gave it
	unicode := id("org_fixture2", "ünïcode@example.com") // likewise
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
	checkList := func(name string, f boltstore.Filter, want ...string) {
		t.Helper()
		items, _, err := s.List(ctx, f)
		if got := registrationIDs(items); err != nil || !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: %v %v, want %v", name, err, got, want)
		}
	}
	checkList("expired", boltstore.Filter{Status: prereg.StatusExpired}, id("", "ancient@example.com"), id("", "epoch@example.com"))
	checkList("pending", boltstore.Filter{Status: prereg.StatusPending}, id("", "never@example.com"), id("org_fixture1", "soon@example.com"), kelvin, plain, unicode)
	checkList("the Kelvin address", boltstore.Filter{Email: "\u212A1@corp.example"}, kelvin)
	checkList("k1@", boltstore.Filter{Email: "K1@corp.example"}, plain)
	checkList("Ünïcode@", boltstore.Filter{Email: "Ünïcode@example.com"}, unicode)
	checkList("ünïcode@", boltstore.Filter{Email: "ünïcode@example.com"})
	st, err := s.Stats(ctx, "", false)
	if want := (boltstore.Counts{Pending: 5, Granted: 1, Expired: 2, Total: 8}); err != nil || st.Overall != want {
		t.Errorf("stats: %v %+v, want %+v", err, st.Overall, want)
	}
	// Writing a moved record's pair again finds it under its old ID.
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
