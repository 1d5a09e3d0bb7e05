package console_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/prereg"
)

// TestScreenshots writes the README's pictures of the main pages, taken
// from a seeded store, to testdata/console (go test ./internal/console
// -run TestScreenshots -update).
func TestScreenshots(t *testing.T) {
	if !*update {
		t.Skip("writes the README's screenshots only with -update")
	}
	e := newEnv(t)
	orgs := []string{"org_acme", "org_globex", "org_initech"}
	for i := range 40 {
		e.put(t, fmt.Sprintf("person%02d@%s.example", i, orgs[i%3][4:]), orgs[i%3], "viewer")
	}
	e.put(t, "dana@acme.example", "org_acme", "admin", "viewer")
	e.grant(t, "auth0|64f1c0ffee", "dana@acme.example", "org_acme")
	pinned := e.put(t, "lee@globex.example", "org_globex", "billing")
	in := prereg.Input{Email: "lee@globex.example", OrganizationID: "org_globex", Roles: []string{"billing"}, Connection: "Username-Password-Authentication"}.Normalize()
	exp := start.Add(30 * 24 * time.Hour)
	in.ExpiresAt = &exp
	if _, _, err := e.store.Put(t.Context(), in, "import", "test"); err != nil {
		t.Fatal(err)
	}
	e.token(t, prereg.TokenRequest{Name: "help desk globex", OrganizationID: "org_globex", ReadOnly: true})
	b := e.open(t)
	b.do(chromedp.EmulateViewport(1100, 720))
	b.signIn(adminToken)
	dir := "../../testdata/console"
	shot := func(name string) {
		t.Helper()
		b.a11y()
		png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			b.fail("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("overview")
	b.visit("/console/registrations?organization_id=org_globex")
	shot("registrations")
	b.visit("/console/registrations/" + pinned.ID)
	shot("registration")
	b.visit("/console/import")
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(t, "../../testdata/csv/bad_rows.csv")}))
	b.swap("#import-form button")
	shot("import-preview")
	b.visit("/console/tokens")
	shot("tokens")
}
