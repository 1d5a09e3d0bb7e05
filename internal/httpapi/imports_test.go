package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// newImportEnv is newEnv with the importer and the exporter plugged in as
// the service plugs them in.
func newImportEnv(t *testing.T) *env {
	imp := &csvImporter{tmp: t.TempDir()}
	e := newEnv(t, func(c *httpapi.Config) {
		c.Importer, c.Exporter = imp, csvExporter{}
	})
	imp.store = e.store
	return e
}

type importPage struct {
	Items      []prereg.ImportSummary `json:"items"`
	NextCursor string                 `json:"next_cursor"`
}

// importIDs lists, page by page, the IDs of the imports bearer sees.
func (e *env) importIDs(bearer string, limit int) (ids []string, pages int) {
	e.t.Helper()
	cursor := ""
	for {
		code, raw := e.do("GET", fmt.Sprintf("/v1/imports?limit=%d&cursor=%s", limit, cursor), bearer, nil)
		var p importPage
		if err := json.Unmarshal(raw, &p); code != 200 || err != nil {
			e.t.Fatalf("list imports: %d %s", code, raw)
		}
		pages++
		for _, it := range p.Items {
			ids = append(ids, it.ImportID)
		}
		if p.NextCursor == "" {
			return ids, pages
		}
		if pages > 100 {
			e.t.Fatal("paging does not end")
		}
		cursor = p.NextCursor
	}
}

func TestImportsListNewestFirstInPages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// Saved in a shuffled order; two finish in the same instant.
	for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
		at := t0.Add(time.Duration(min(i, 5)) * time.Minute)
		rep := prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: fmt.Sprintf("imp_%d", i), Rows: i, Organizations: []string{""}, Actor: "bootstrap", StartedAt: at, FinishedAt: at}, Errors: []prereg.RowError{{Line: 2, Message: "bad"}}, Warnings: []prereg.RowWarning{}}
		if err := e.store.SaveImport(ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"imp_6", "imp_5", "imp_4", "imp_3", "imp_2", "imp_1", "imp_0"}
	for _, limit := range []int{1, 2, 3, 7, 100} {
		got, pages := e.importIDs(adminToken, limit)
		if !slices.Equal(got, want) || pages != max(1, (len(want)+limit-1)/limit) {
			t.Fatalf("limit %d: %v in %d pages, want %v", limit, got, pages, want)
		}
	}
	// The default page holds them all; items are summaries.
	code, raw := e.do("GET", "/v1/imports", adminToken, nil)
	if code != 200 || strings.Contains(string(raw), `"errors":`) || !strings.Contains(string(raw), `"next_cursor":""`) {
		t.Fatalf("default page: %d %s", code, raw)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=zz", "cursor=" + strings.Repeat("A", 40)} {
		code, raw := e.do("GET", "/v1/imports?"+q, adminToken, nil)
		if code != 400 || decodeErr(t, raw).Error.Code != "invalid_request" {
			t.Errorf("%s: %d %s", q, code, raw)
		}
	}
}

// A limited token lists, and reads, only the imports it ran and those
// whose rows all named its organization; the report of an import it may
// not see is 404, as if it did not exist.
func TestImportsListOrganizationIsolation(t *testing.T) {
	e := newImportEnv(t)
	files := map[string]string{
		"org_a rows":           "email,organization_id,roles\na1@example.com,org_a,r\na2@example.com,org_a,r\n",
		"org_a and org_b rows": "email,organization_id,roles\na3@example.com,org_a,r\nb1@example.com,org_b,r\n",
		"tenant-wide rows":     "email,roles\nt1@example.com,r\n",
		"org_b rows":           "email,organization_id,roles\nb2@example.com,org_b,r\n",
		"org_a and a bad row":  "email,organization_id,roles\na4@example.com,org_a,r\nb3@example.com,org_b\n",
	}
	ids := map[string]string{}
	run := func(name, bearer, body string) {
		code, raw := e.doHeaders("POST", "/v1/imports", bearer, body, map[string]string{"Content-Type": "text/csv"})
		var rep prereg.ImportReport
		if err := json.Unmarshal(raw, &rep); code != 200 || err != nil {
			t.Fatalf("import %s: %d %s", name, code, raw)
		}
		ids[name] = rep.ImportID
	}
	for name, body := range files {
		run(name, adminToken, body)
	}
	run("by org_a token", e.tokens["org_a"], files["org_a and org_b rows"])
	// A report saved before reports named their organizations.
	if err := e.store.SaveImport(context.Background(), prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: "imp_older", Actor: "bootstrap", FinishedAt: time.Now()}, Errors: []prereg.RowError{}, Warnings: []prereg.RowWarning{}}); err != nil {
		t.Fatal(err)
	}
	ids["older"] = "imp_older"

	visible := map[string][]string{
		"tenant":    {"org_a rows", "org_a and org_b rows", "tenant-wide rows", "org_b rows", "org_a and a bad row", "by org_a token", "older"},
		"tenant_ro": {"org_a rows", "org_a and org_b rows", "tenant-wide rows", "org_b rows", "org_a and a bad row", "by org_a token", "older"},
		"org_a":     {"org_a rows", "by org_a token"},
		"org_a_ro":  {"org_a rows", "by org_a token"},
	}
	for who, names := range visible {
		var want []string
		for _, n := range names {
			want = append(want, ids[n])
		}
		got, _ := e.importIDs(e.tokens[who], 2)
		if !sameSet(got, want) {
			t.Errorf("%s lists %v, want %v", who, got, want)
		}
		for name, id := range ids {
			code, raw := e.do("GET", "/v1/imports/"+id, e.tokens[who], nil)
			if wantCode := map[bool]int{true: 200, false: 404}[slices.Contains(names, name)]; code != wantCode {
				t.Errorf("%s reads %s: %d, want %d: %s", who, name, code, wantCode, raw)
			}
		}
	}
	// The export of what was imported is described too (checked by the
	// env's client against the API description).
	if code, raw := e.do("GET", "/v1/exports?organization_id=org_a", e.tokens["org_a"], nil); code != 200 || !strings.Contains(string(raw), "a1@example.com") || strings.Contains(string(raw), "b1@example.com") {
		t.Fatalf("export: %d %s", code, raw)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
