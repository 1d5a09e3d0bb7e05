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
	runSteps(t,
		step{"Record", func(t *testing.T) { auditChanges(t, s, c) }},
		step{"PagesNewestFirst", func(t *testing.T) { auditPagesNewestFirst(t, s) }},
		step{"Filters", func(t *testing.T) { auditFilters(t, s) }},
		step{"BadCursor", func(t *testing.T) {
			_, _, err := s.AuditTrail(context.Background(), prereg.AuditFilter{Cursor: "garbage!"})
			report(t, prereg.ErrorCode(err) == prereg.Invalid, "bad cursor: %v", err)
		}},
		step{"Revoke", func(t *testing.T) { auditRevoke(t, s) }},
	)
}

// auditChanges makes the changes the audit steps read back, a second
// apart.
func auditChanges(t *testing.T, s Store, c *clock) {
	ctx := context.Background()
	step := func() { c.add(time.Second) }
	Put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r"}})
	step()
	Put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r", "s"}})
	step()
	Put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_a", Roles: []string{"r", "s"}}) // unchanged: no entry
	step()
	loginAs(t, s, "auth0|1", "a@x.io", "")
	step()
	Put(t, s, prereg.Input{Email: "b@x.io", Roles: []string{"r"}})
	step()
	_, _, err := s.Revoke(ctx, prereg.RegistrationID("", "b@x.io"), false, "tok_2")
	noErr(t, err)
	step()
	_, err = s.Erase(ctx, "b@x.io", "", "tok_3")
	noErr(t, err)
	step()
	noErr(t, s.Audit(ctx, "tok_4", prereg.AuditBackup, "", "", "backup of 1 MB"))
}

// auditAll pages through the whole trail, limit entries at a time.
func auditAll(t *testing.T, s Store, limit int) []prereg.AuditEntry {
	t.Helper()
	var all []prereg.AuditEntry
	f := prereg.AuditFilter{Limit: limit}
	for pages := 0; ; pages++ {
		page, next, err := s.AuditTrail(context.Background(), f)
		noErr(t, err)
		expect(t, len(page) <= limit && pages <= 10, "page %d of %d entries", pages, len(page))
		all = append(all, page...)
		if next == "" {
			return all
		}
		f.Cursor = next
	}
}

func auditPagesNewestFirst(t *testing.T, s Store) {
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
	all := auditAll(t, s, 2)
	// The erasure removed b's own entries (created, revoked).
	expect(t, len(all) == len(want), "%d entries, want %d: %+v", len(all), len(want), all)
	seen := map[string]bool{}
	for i, w := range want {
		e := all[i]
		report(t, e.Action == w.action && e.OrganizationID == w.org && e.RegistrationID == w.reg && (w.actor == "" || e.Actor == w.actor),
			"entry %d: %+v, want %s by %q in %q for %q", i, e, w.action, w.actor, w.org, w.reg)
		report(t, i == 0 || !e.At.After(all[i-1].At), "entry %d is newer than the one before it", i)
		report(t, !seen[e.ID] && e.ID != "", "entry ID %q empty or twice", e.ID)
		seen[e.ID] = true
		report(t, !strings.Contains(e.Summary, "a@x.io") && !strings.Contains(e.Summary, "b@x.io"), "entry %d holds an address: %q", i, e.Summary)
	}
}

func auditFilters(t *testing.T, s Store) {
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
		items, next, err := s.AuditTrail(context.Background(), tt.f)
		report(t, err == nil && len(items) == tt.want && next == "", "%+v: %d entries (next %q), %v; want %d", tt.f, len(items), next, err, tt.want)
		for _, e := range items {
			report(t, (tt.f.Action == "" || e.Action == tt.f.Action) && (!tt.f.OrganizationSet || e.OrganizationID == tt.f.OrganizationID),
				"%+v listed %+v", tt.f, e)
		}
	}
}

// Revokes are audited too (b's were erased with it).
func auditRevoke(t *testing.T, s Store) {
	ctx := context.Background()
	Put(t, s, prereg.Input{Email: "c@x.io", Roles: []string{"r"}})
	_, _, err := s.Revoke(ctx, prereg.RegistrationID("", "c@x.io"), false, "tok_5")
	noErr(t, err)
	items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Limit: 1})
	report(t, err == nil && len(items) == 1 && items[0].Action == prereg.AuditRevoked && items[0].Actor == "tok_5",
		"the newest entry after a revoke: %+v %v", items, err)
}
