package console_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/prereg"
)

// TestTokens: a tenant administrator creates a token, sees its secret
// once (with a copy button), the secret works, and the token revoked
// from the page stops working.
func TestTokens(t *testing.T) {
	e := newEnv(t)
	b := e.open(t)
	b.signIn(adminToken)
	b.visit("/console/tokens")
	b.a11y()
	b.do(chromedp.SetValue(chromedp.ID("t-name"), "help desk acme"), chromedp.SetValue(chromedp.ID("t-org"), "org_acme"), chromedp.Click(chromedp.ID("t-ro")))
	if st := b.submit(`form[action="/console/tokens"] button`); st != 201 {
		b.fail("create answered %d", st)
	}
	b.a11y()
	secret, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("secret")))
	if err != nil || !strings.HasPrefix(secret, prereg.TokenPrefix) {
		b.fail("the new secret: %q %v", secret, err)
	}
	if b.count(`button[data-copy]:not([hidden])`) != 1 {
		b.fail("no copy button")
	}
	b.expectText("tbody", "help desk acme", "org_acme", "read-only")
	tok, ok, err := e.store.Authenticate(t.Context(), prereg.HashSecret(secret))
	if err != nil || !ok || tok.OrganizationID != "org_acme" || !tok.ReadOnly {
		t.Fatalf("the shown secret: %+v %v %v", tok, ok, err)
	}
	b.visit("/console/tokens")
	if b.count("#secret") != 0 || strings.Contains(eval[string](b, "document.documentElement.outerHTML"), secret) {
		b.fail("the secret is shown again")
	}
	b.submit(fmt.Sprintf(`form[action="/console/tokens/%s/revoke"] button`, tok.ID))
	b.expectText(".done", tok.ID, "revoked")
	if _, ok, _ := e.store.Authenticate(t.Context(), prereg.HashSecret(secret)); ok {
		t.Fatal("the revoked token still authenticates")
	}
}

// TestLimitedReadOnly: an organization's read-only token sees only its
// organization, is shown no control that writes, and the server refuses
// a crafted write and another organization's records.
func TestLimitedReadOnly(t *testing.T) {
	e := newEnv(t)
	seed(t, e)
	beta := e.put(t, "other@beta.test", "org_beta", "viewer")
	acme := e.put(t, "mine@acme.test", "org_acme", "viewer")
	_, secret := e.token(t, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_acme", ReadOnly: true})
	b := e.open(t)
	b.signIn(secret)
	b.expectText("header", "organization org_acme", "read-only")
	b.expectText(".counts", "62")
	if strings.Contains(b.text("main"), "org_beta") {
		b.fail("the overview shows another organization")
	}
	b.a11y()
	for _, path := range []string{"/console/", "/console/registrations", "/console/registrations/" + acme.ID, "/console/imports", "/console/audit"} {
		b.visit(path)
		b.a11y()
		forms := eval[[]string](b, `[...document.querySelectorAll("form[method=post]")].map(f => f.getAttribute("action"))`)
		if len(forms) != 1 || forms[0] != "/console/signout" {
			b.fail("%s shows forms that write: %v", path, forms)
		}
		if n := b.count(`a[href$="/revoke"], a[href="/console/import"], a[href="/console/tokens"]`); n != 0 {
			b.fail("%s links to %d pages that write", path, n)
		}
	}
	b.visit("/console/registrations?organization_id=org_beta")
	if b.count("tbody tr") != 0 {
		b.fail("another organization's registrations are listed")
	}
	if st := b.visit("/console/registrations/" + beta.ID); st != 404 {
		b.fail("another organization's registration answered %d", st)
	}
	for _, path := range []string{"/console/tokens", "/console/import", "/console/registrations/" + acme.ID + "/revoke"} {
		if st := b.visit(path); st != 403 {
			b.fail("%s answered %d", path, st)
		}
	}
	status := eval[int](b, fmt.Sprintf(`fetch("/console/registrations/%s/revoke", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "force=true&csrf=" + encodeURIComponent(document.querySelector("input[name=csrf]").value)}).then(r => r.status)`, acme.ID))
	if status != 403 {
		b.fail("a crafted revoke answered %d", status)
	}
	if got, _ := e.store.Get(t.Context(), acme.ID); got.Status != prereg.StatusPending {
		t.Fatalf("the crafted revoke changed the registration: %v", got.Status)
	}
	status = eval[int](b, `(() => {
		const f = new FormData();
		f.append("csrf", document.querySelector("input[name=csrf]").value);
		f.append("file", new Blob(["email,organization_id,roles\nnew@acme.test,org_acme,viewer\n"], {type: "text/csv"}), "x.csv");
		return fetch("/console/import", {method: "POST", body: f}).then(r => r.status);
	})()`)
	if status != 403 {
		b.fail("a crafted import answered %d", status)
	}
	if st, _ := e.store.Stats(t.Context(), prereg.StatsFilter{}); st.Overall.Total != 66 {
		t.Fatalf("after the crafted import the store holds %d registrations", st.Overall.Total)
	}
}

// TestRevokedTokenSession: revoking a token ends its console sessions at
// the next request.
func TestRevokedTokenSession(t *testing.T) {
	e := newEnv(t)
	tok, secret := e.token(t, prereg.TokenRequest{Name: "ops"})
	b := e.open(t)
	b.signIn(secret)
	b.visit("/console/tokens")
	b.expectText("header", tok.ID)
	if _, err := e.store.RevokeToken(t.Context(), tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if b.visit("/console/tokens"); b.path() != "/console/signin?next=%2Fconsole%2Ftokens" {
		b.fail("the revoked token's session is open: %s", b.path())
	}
}
