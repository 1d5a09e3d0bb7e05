package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testAudit: every change leaves one entry, newest first; the trail pages
// to its end and filters by action and organization.
func testAudit(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now})
	ctx := context.Background()
	step := func() { c.add(time.Second) }
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r"}})
	step()
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r", "s"}})
	step()
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r", "s"}}) // unchanged: no entry
	step()
	loginAs(t, s, "auth0|1", "a@x.io", "")
	step()
	put(t, s, prereg.Input{Email: "b@x.io", Roles: []string{"r"}})
	step()
	if _, _, err := s.Revoke(ctx, prereg.RegistrationID("", "b@x.io"), false, "tok_2"); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := s.Erase(ctx, "b@x.io", "", "tok_3"); err != nil {
		t.Fatal(err)
	}
	step()
	if err := s.Audit(ctx, "tok_4", prereg.AuditBackup, "", "", "backup of 1 MB"); err != nil {
		t.Fatal(err)
	}
	a := prereg.RegistrationID("org_a", "a@x.io")
	want := []struct {
		action     prereg.AuditAction
		actor, org string
		reg        string
	}{
		{prereg.AuditBackup, "tok_4", "", ""},
		{prereg.AuditErased, "tok_3", "", ""},
		{prereg.AuditGranted, "", "org_a", a},
		{prereg.AuditUpdated, "test", "org_a", a},
		{prereg.AuditCreated, "test", "org_a", a},
	}
	var all []prereg.AuditEntry
	f := prereg.AuditFilter{Limit: 2}
	for pages := 0; ; pages++ {
		page, next, err := s.AuditTrail(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || pages > 10 {
			t.Fatalf("page %d of %d entries", pages, len(page))
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	// The erasure removed b's own entries (created, revoked).
	if len(all) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(all), len(want), all)
	}
	seen := map[string]bool{}
	for i, w := range want {
		e := all[i]
		if e.Action != w.action || e.OrganizationID != w.org || e.RegistrationID != w.reg || (w.actor != "" && e.Actor != w.actor) {
			t.Errorf("entry %d: %+v, want %s by %q in %q for %q", i, e, w.action, w.actor, w.org, w.reg)
		}
		if i > 0 && e.At.After(all[i-1].At) {
			t.Errorf("entry %d is newer than the one before it", i)
		}
		if seen[e.ID] || e.ID == "" {
			t.Errorf("entry ID %q empty or twice", e.ID)
		}
		seen[e.ID] = true
		if strings.Contains(e.Summary, "a@x.io") || strings.Contains(e.Summary, "b@x.io") {
			t.Errorf("entry %d holds an address: %q", i, e.Summary)
		}
	}
	for _, tt := range []struct {
		f    prereg.AuditFilter
		want int
	}{
		{prereg.AuditFilter{Action: prereg.AuditGranted}, 1},
		{prereg.AuditFilter{Action: prereg.AuditRevoked}, 0},
		{prereg.AuditFilter{OrganizationID: "org_a", OrganizationSet: true}, 3},
		{prereg.AuditFilter{OrganizationSet: true}, 2},
		{prereg.AuditFilter{OrganizationID: "org_a", OrganizationSet: true, Action: prereg.AuditCreated}, 1},
	} {
		items, next, err := s.AuditTrail(ctx, tt.f)
		if err != nil || len(items) != tt.want || next != "" {
			t.Errorf("%+v: %d entries (next %q), %v; want %d", tt.f, len(items), next, err, tt.want)
		}
		for _, e := range items {
			if tt.f.Action != "" && e.Action != tt.f.Action || tt.f.OrganizationSet && e.OrganizationID != tt.f.OrganizationID {
				t.Errorf("%+v listed %+v", tt.f, e)
			}
		}
	}
	if _, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Cursor: "garbage!"}); prereg.ErrorCode(err) != prereg.Invalid {
		t.Errorf("bad cursor: %v", err)
	}
	// Revokes are audited too (b's were erased with it).
	put(t, s, prereg.Input{Email: "c@x.io", Roles: []string{"r"}})
	if _, _, err := s.Revoke(ctx, prereg.RegistrationID("", "c@x.io"), false, "tok_5"); err != nil {
		t.Fatal(err)
	}
	if items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Limit: 1}); err != nil || len(items) != 1 || items[0].Action != prereg.AuditRevoked || items[0].Actor != "tok_5" {
		t.Errorf("the newest entry after a revoke: %+v %v", items, err)
	}
}
