package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testErasure: everything of an address is gone, an organization's
// erasure touches only that organization, and each erasure that found
// something leaves one erased entry with counts and no address.
func testErasure(t *testing.T, open Open) {
	t.Run("EverythingGone", func(t *testing.T) { testErasureEverythingGone(t, open(t, Options{Serve: true, SyncEnabled: true})) })
	t.Run("LimitedToItsOrganization", func(t *testing.T) { testErasureLimited(t, open(t, Options{Serve: true})) })
	t.Run("Audited", func(t *testing.T) { testErasureAudited(t, open(t, Options{})) })
}

// holdsFold reports whether raw holds needle in any ASCII letter case.
func holdsFold(raw []byte, needle string) bool {
	return bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(needle)))
}

func putAddr(t *testing.T, s Store, email, org string) prereg.Registration {
	t.Helper()
	return Put(t, s, prereg.Input{Email: email, OrganizationID: org, Roles: []string{"viewer"}})
}

// echoingImport keeps an import report of org whose row error echoes value.
func echoingImport(t *testing.T, s Store, id, org, value string) {
	t.Helper()
	rep := prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: id, OrganizationID: org, Actor: "test", Rows: 1, Rejected: 1}, Errors: []prereg.RowError{{Line: 2, Column: "roles", Value: value, Message: "bad roles for " + value}}, Warnings: []prereg.RowWarning{{Line: 2, Message: "row of " + value}}}
	if err := s.SaveImport(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
}

func erasedEntries(t *testing.T, s Store) []prereg.AuditEntry {
	t.Helper()
	items, _, err := s.AuditTrail(context.Background(), prereg.AuditFilter{Action: prereg.AuditErased, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

// The addresses of testErasureEverythingGone: addr is erased; alias and
// kept are other addresses; user is a user_id holding addr.
const (
	goneAddr  = "Jane.Doe@Corp.Example"
	goneAlias = "jdoe@corp.example"
	goneKept  = "kept.person@corp.example"
	goneUser  = "samlp|corp|JANE.DOE@corp.example"
)

// Through the store's own methods, nothing of the address is found after
// an erasure: no registration, listing, login, grant, job, import report
// or audit summary; the grant of another address to a user_id holding
// the address stays a grant.
func testErasureEverythingGone(t *testing.T, s Store) {
	runSteps(t,
		step{"Prepare", func(t *testing.T) { prepareGone(t, s) }},
		step{"Erase", func(t *testing.T) {
			out, err := s.Erase(context.Background(), strings.ToUpper(goneAddr), "", "tok_admin")
			noErr(t, err)
			expect(t, len(out.Registrations) == 2 && out.Found(), "erasure answered %+v, want 2 registrations", out)
		}},
		step{"NothingReadable", func(t *testing.T) { nothingReadable(t, s) }},
		step{"Afterwards", func(t *testing.T) { afterErasure(t, s) }},
	)
}

// prepareGone writes the address in every place the store keeps one.
func prepareGone(t *testing.T, s Store) {
	putAddr(t, s, goneAddr, "")
	putAddr(t, s, strings.ToLower(goneAddr), "org_a")
	putAddr(t, s, goneAlias, "org_a")
	putAddr(t, s, goneKept, "org_a")
	res := loginAs(t, s, goneUser, goneAddr, "")
	expect(t, res.Outcome == prereg.OutcomeGranted, "login: %s", res.Outcome)
	res = loginAs(t, s, goneUser, goneAlias, "")
	expect(t, res.Outcome == prereg.OutcomeGranted, "alias login: %s", res.Outcome)
	_, err := s.MarkVerificationSent(context.Background(), goneUser, time.Hour)
	noErr(t, err)
	echoingImport(t, s, "imp_1", "", "<"+strings.ToUpper(goneAddr)+">")
}

func nothingReadable(t *testing.T, s Store) {
	ctx := context.Background()
	for _, org := range []string{"", "org_a"} {
		_, err := s.Get(ctx, prereg.RegistrationID(org, goneAddr))
		report(t, prereg.ErrorCode(err) == prereg.NotFound, "registration of %q after the erasure: %v", org, err)
	}
	items, _, err := s.List(ctx, prereg.Filter{Email: goneAddr})
	report(t, err == nil && len(items) == 0, "listing the address: %d items, %v", len(items), err)
	all := readableDump(t, s)
	report(t, !holdsFold(all, goneAddr), "the address is still readable:\n%s", all)
	report(t, holdsFold(all, goneKept) && holdsFold(all, goneAlias), "the addresses that were not erased are gone")
}

// readableDump is everything the store's readers hand out, as text:
// registrations, audit trail, the import report and the queued jobs.
func readableDump(t *testing.T, s Store) []byte {
	ctx := context.Background()
	var all bytes.Buffer
	noErr(t, s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error { fmt.Fprintf(&all, "%+v\n", r); return nil }))
	trail, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Limit: 1000})
	noErr(t, err)
	fmt.Fprintf(&all, "%+v\n", trail)
	rep, err := s.Import(ctx, "imp_1")
	noErr(t, err)
	fmt.Fprintf(&all, "%+v\n", rep)
	jobs, err := s.DueJobs(ctx, time.Now().Add(time.Hour), 100)
	noErr(t, err)
	fmt.Fprintf(&all, "%+v\n", jobs)
	return all.Bytes()
}

func afterErasure(t *testing.T, s Store) {
	ctx := context.Background()
	// The alias's grant is still a grant, of a user_id without the address.
	r, err := s.Get(ctx, prereg.RegistrationID("org_a", goneAlias))
	report(t, err == nil && r.Status == prereg.StatusGranted && !holdsFold([]byte(r.GrantedTo), goneAddr) && r.GrantedTo != "",
		"the alias's grant after the erasure: %+v %v", r, err)
	// The verification mark went with it: a send is allowed again.
	send, err := s.MarkVerificationSent(ctx, goneUser, time.Hour)
	report(t, err == nil && send, "verification mark after the erasure: send %v, %v", send, err)
	res := loginAs(t, s, "auth0|new", goneAddr, "")
	report(t, res.Outcome == prereg.OutcomeNoMatch, "login of the erased address: %s", res.Outcome)
}

// An organization's token erases and scrubs only that organization's
// registrations and import reports, and its answer counts only those.
func testErasureLimited(t *testing.T, s Store) {
	ctx := context.Background()
	const addr = "Shared.Person@Example.com"
	mine := putAddr(t, s, addr, "org_a")
	other := putAddr(t, s, addr, "org_b")
	tenant := putAddr(t, s, addr, "")
	echoingImport(t, s, "imp_a", "org_a", addr)
	echoingImport(t, s, "imp_b", "org_b", strings.ToUpper(addr))
	echoingImport(t, s, "imp_t", "", addr)

	out, err := s.Erase(ctx, "shared.person@example.COM", "org_a", "tok_a")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Registrations) != 1 || out.Registrations[0] != mine.ID || out.ImportsScrubbed != 1 {
		t.Fatalf("limited erasure answered %+v, want only org_a's registration and import report", out)
	}
	for _, id := range []string{other.ID, tenant.ID} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("registration %s of another scope was erased: %v", id, err)
		}
	}
	if _, err := s.Get(ctx, mine.ID); prereg.ErrorCode(err) != prereg.NotFound {
		t.Errorf("org_a's registration is still there: %v", err)
	}
	for id, want := range map[string]bool{"imp_a": false, "imp_b": true, "imp_t": true} {
		rep, err := s.Import(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := holdsFold([]byte(fmt.Sprint(rep)), addr); got != want {
			t.Errorf("import %s holds the address: %v, want %v", id, got, want)
		}
	}
	// Another organization's token finds nothing of org_a's left, and
	// its own things are there to erase.
	out, err = s.Erase(ctx, addr, "org_b", "tok_b")
	if err != nil || len(out.Registrations) != 1 || out.Registrations[0] != other.ID || out.ImportsScrubbed != 1 {
		t.Fatalf("org_b's erasure: %+v %v", out, err)
	}
}

// Every erasure that removed or scrubbed something leaves one erased
// entry in the audit trail, with its actor, its organization and counts,
// never the address; one that found nothing leaves none.
func testErasureAudited(t *testing.T, s Store) {
	ctx := context.Background()
	const addr = "audited.person@example.com"
	putAddr(t, s, addr, "org_a")
	putAddr(t, s, addr, "org_b")
	echoingImport(t, s, "imp_x", "org_c", addr)

	if out, err := s.Erase(ctx, "nobody@example.com", "", "tok_admin"); err != nil || out.Found() {
		t.Fatalf("erasure of nobody: %+v %v", out, err)
	}
	if got := erasedEntries(t, s); len(got) != 0 {
		t.Fatalf("an erasure that found nothing was audited: %+v", got)
	}
	if _, err := s.Erase(ctx, addr, "org_c", "tok_c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Erase(ctx, addr, "", "tok_admin"); err != nil {
		t.Fatal(err)
	}
	got := erasedEntries(t, s)
	if len(got) != 2 {
		t.Fatalf("%d erased entries, want one per erasure: %+v", len(got), got)
	}
	tenant, limited := got[0], got[1] // newest first
	for _, c := range []struct {
		e          prereg.AuditEntry
		actor, org string
		counts     []string
	}{
		{limited, "tok_c", "org_c", []string{"0 registrations", "1 import report"}},
		{tenant, "tok_admin", "", []string{"2 registrations", "0 import reports"}},
	} {
		if c.e.Actor != c.actor || c.e.OrganizationID != c.org || c.e.RegistrationID != "" {
			t.Errorf("entry %+v, want actor %s, organization %q, no registration", c.e, c.actor, c.org)
		}
		for _, want := range c.counts {
			if !strings.Contains(c.e.Summary, want) {
				t.Errorf("summary %q does not say %q", c.e.Summary, want)
			}
		}
		if holdsFold([]byte(c.e.Summary), addr) || strings.Contains(c.e.Summary, "@") {
			t.Errorf("summary holds the address: %q", c.e.Summary)
		}
	}
}
