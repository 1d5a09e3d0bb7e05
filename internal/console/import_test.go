package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/prereg"
)

// TestImport: a CSV with errors shows its dry-run preview (counts, every
// error with line, column, value and message) and, cancelled, writes
// nothing; a good one, confirmed, is written and listed in past imports.
func TestImport(t *testing.T) {
	e := newEnv(t)
	b := e.open(t)
	b.signIn(adminToken)
	b.visit("/console/import")
	b.a11y()
	// While an import of the same token runs (through the API), the
	// console's waits its turn: one bound for both.
	release, ok := e.imports.TryAcquire(prereg.BootstrapTokenID)
	if !ok {
		t.Fatal("no import slot free")
	}
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(t, "../../testdata/csv/bad_rows.csv")}))
	b.swap("#import-form button")
	b.expectText(".problem", "already running")
	release()
	b.visit("/console/import")
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{abs(t, "../../testdata/csv/bad_rows.csv")}))
	b.waitText("#file-info", "bad_rows.csv")
	b.expectText("#file-info", "header: email,organization_id,roles")
	b.swap("#import-form button")
	b.expectText("main", "Nothing has been written yet", "Would create")
	b.expectText("table", "Line", "Column", "Value", "Problem", "org-123", "organization_id")
	b.a11y()
	if n := b.count("tbody tr"); n < 10 {
		b.fail("the preview lists %d problems", n)
	}
	b.submit("main form.inline button")
	b.expectText(".done", "cancelled", "nothing was written")
	if st, _ := e.store.Stats(t.Context(), prereg.StatsFilter{}); st.Overall.Total != 0 {
		t.Fatalf("a cancelled import wrote %d registrations", st.Overall.Total)
	}

	good := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(good, []byte("email,organization_id,roles\nann@acme.test,org_acme,viewer\nben@acme.test,org_acme,viewer|editor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetUploadFiles(chromedp.ID("file"), []string{good}))
	b.swap("#import-form button")
	b.expectText(".counts", "Would create", "2")
	b.expectText("main", "No errors.")
	b.swap("#confirm-form button")
	b.expectText("main", "people.csv", "Created")
	b.a11y()
	if st, _ := e.store.Stats(t.Context(), prereg.StatsFilter{}); st.Overall.Pending != 2 {
		t.Fatalf("the confirmed import left %d pending", st.Overall.Pending)
	}
	b.visit("/console/imports")
	b.a11y()
	// The previews are listed too, as dry runs; the clock is stopped, so
	// their order among the same second's imports is the store's.
	written := eval[string](b, `[...document.querySelectorAll("tbody tr")].filter(tr => tr.lastElementChild.textContent === "import").map(tr => tr.querySelector("a").getAttribute("href")).join(" ")`)
	if !strings.HasPrefix(written, "/console/imports/imp_") || strings.Contains(written, " ") {
		b.fail("past imports list the written import as %q", written)
	}
	b.visit(written)
	b.expectText(".counts", "Created", "2")
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
