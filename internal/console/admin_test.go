package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// seed stores 60 pending registrations in org_acme, 3 in org_beta and
// one granted in org_acme, and returns the granted one.
func seed(t *testing.T, e *env) prereg.Registration {
	t.Helper()
	for i := range 60 {
		e.put(t, fmt.Sprintf("person%02d@acme.test", i), "org_acme", "viewer")
	}
	for i := range 3 {
		e.put(t, fmt.Sprintf("someone%d@beta.test", i), "org_beta", "editor")
	}
	g := e.put(t, "granted@acme.test", "org_acme", "admin", "viewer")
	e.grant(t, "auth0|granted", "granted@acme.test", "org_acme")
	return g
}

// TestTenantAdmin: a tenant administrator sees the counts, lists, filters
// and pages through registrations, downloads the filtered export, opens
// a registration, revokes it after a confirmation, retries a grant's
// Auth0 sync and force-revokes it; the audit page shows both revokes.
func TestTenantAdmin(t *testing.T) {
	e := newEnvWith(t, boltstore.Options{SyncEnabled: true})
	g := seed(t, e)
	b := e.open(t)
	b.signIn(adminToken)
	b.expectText(".counts", "Pending", "63", "Granted", "1", "64")
	b.expectText("table", "org_acme", "org_beta")
	b.expectText("main", "1 sync job is waiting")
	b.a11y()

	b.visit("/console/registrations")
	b.a11y()
	if title := eval[string](b, `document.querySelector("time").title`); !strings.HasSuffix(title, "UTC") {
		b.fail("a time's title is %q, not its UTC text", title)
	}
	if n := b.count("tbody tr"); n != 50 {
		b.fail("the first page shows %d rows", n)
	}
	b.submit(`a[rel="next"]`)
	if n := b.count("tbody tr"); n != 14 || b.count(`a[rel="next"]`) != 0 {
		b.fail("the second page shows %d rows", n)
	}

	b.visit("/console/registrations")
	b.do(chromedp.SetValue(chromedp.ID("f-org"), "org_beta"))
	b.submit(".filters button")
	if n := b.count("tbody tr"); n != 3 || !strings.Contains(b.path(), "organization_id=org_beta") {
		b.fail("filtered by org_beta: %d rows at %s", n, b.path())
	}
	csv := eval[string](b, `fetch(document.querySelector("a[download]").href).then(r => r.text())`)
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 4 || !strings.Contains(csv, "someone0@beta.test") || strings.Contains(csv, "acme") {
		b.fail("the export of the filtered list:\n%s", csv)
	}
	b.visit("/console/registrations")
	b.do(chromedp.SetValue(chromedp.ID("f-status"), "granted"))
	b.submit(".filters button")
	b.expectText("tbody", "granted@acme.test")
	if n := b.count("tbody tr"); n != 1 {
		b.fail("status granted lists %d", n)
	}

	// Revoke a pending registration, after its confirmation page.
	b.visit("/console/registrations?organization_id=org_beta")
	b.submit("tbody tr:first-child a")
	b.expectText("main", "Why it is pending", "Nobody has claimed it yet", "verified")
	b.a11y()
	b.submit(`.actions a.button`)
	b.expectText("main", "Revoke the registration of")
	b.a11y()
	b.submit("main form button.danger")
	b.expectText(".done", "revoked")
	b.expectText(".fields", "revoked")
	b.expectText("main", "revoked before anyone claimed it")

	// Retry the grant's sync, then force-revoke it.
	b.visit("/console/registrations/" + g.ID)
	b.expectText("main", "Why it is granted", "auth0|granted")
	b.a11y()
	b.submit(`form[action$="/sync"] button`)
	b.expectText(".done", "queued again")
	b.submit(`.actions a.button.danger`)
	b.expectText("main", "Force-revoke the grant of granted@acme.test to auth0|granted")
	b.submit("main form button.danger")
	b.expectText(".fields", "revoked")
	b.expectText("main", "force-revoked")
	b.expectText("table", "granted", "revoked")

	b.visit("/console/audit?action=revoked")
	b.a11y()
	if n := b.count("tbody tr"); n != 2 {
		b.fail("the audit trail lists %d revocations", n)
	}
	b.expectText("tbody", "force-revoked a grant to auth0|granted")
}

// TestCSRF: a POST without the session's CSRF token, or with another
// one, is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	r := e.put(t, "target@acme.test", "org_acme", "viewer")
	b := e.open(t)
	b.signIn(adminToken)
	for _, body := range []string{"", "csrf=wrong"} {
		status := eval[int](b, fmt.Sprintf(`fetch("/console/registrations/%s/revoke", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`, r.ID, body))
		if status != 403 {
			b.fail("a POST with body %q answered %d", body, status)
		}
	}
	// A multipart body is a form too: no way around the token.
	status := eval[int](b, fmt.Sprintf(`(() => { const f = new FormData(); f.append("force", "true"); return fetch("/console/registrations/%s/revoke", {method: "POST", body: f}).then(r => r.status) })()`, r.ID))
	if status != 403 {
		b.fail("a multipart POST without the token answered %d", status)
	}
	got, err := e.store.Get(t.Context(), r.ID)
	if err != nil || got.Status != prereg.StatusPending {
		t.Fatalf("after refused POSTs: %v %v", got.Status, err)
	}
	// The same POST with the page's token goes through.
	status = eval[int](b, fmt.Sprintf(`fetch("/console/registrations/%s/revoke", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`, r.ID))
	if status != 200 {
		b.fail("a POST with the CSRF token answered %d", status)
	}
	if got, _ := e.store.Get(t.Context(), r.ID); got.Status != prereg.StatusRevoked {
		t.Fatalf("the POST with the token did not revoke: %v", got.Status)
	}
}
