package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// prereg imports list, through the service and on the file: newest first,
// paged, and an organization's token sees only its organization's imports.
func TestImportsListCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	files := []string{
		"email,organization_id,roles\na1@example.com,org_a,r\na2@example.com,org_a,r\n",
		"email,organization_id,roles\na3@example.com,org_a,r\nb1@example.com,org_b,r\n",
		"email,roles\nt1@example.com,r\n",
	}
	var ids []string // newest first
	for i, body := range files {
		path := filepath.Join(dir, "f.csv")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI("import", "--server", s.url, "--token", testAdminToken, "--json", path)
		var rep prereg.ImportReport
		if jerr := json.Unmarshal([]byte(out), &rep); err != nil || jerr != nil {
			t.Fatalf("import %d: %v %s", i, err, out)
		}
		ids = append([]string{rep.ImportID}, ids...)
	}
	code, raw := s.call(t, "POST", "/v1/tokens", testAdminToken, map[string]any{"name": "org a", "organization_id": "org_a", "read_only": true})
	var tok struct{ Token string }
	if err := json.Unmarshal(raw, &tok); code != 201 || err != nil {
		t.Fatalf("token: %d %s", code, raw)
	}
	list := func(args ...string) []string {
		t.Helper()
		out, err := runCLI(append([]string{"imports", "list", "--json"}, args...)...)
		var page struct {
			Items []prereg.ImportSummary `json:"items"`
		}
		if jerr := json.Unmarshal([]byte(out), &page); err != nil || jerr != nil {
			t.Fatalf("imports list %v: %v %s", args, err, out)
		}
		var got []string
		for _, it := range page.Items {
			got = append(got, it.ImportID)
		}
		return got
	}
	if got := list("--server", s.url, "--token", testAdminToken); !slices.Equal(got, ids) {
		t.Fatalf("tenant-wide: %v, want %v", got, ids)
	}
	if got := list("--server", s.url, "--token", tok.Token, "--limit", "1", "--all"); !slices.Equal(got, ids[2:]) {
		t.Fatalf("org_a token: %v, want %v", got, ids[2:])
	}
	out, err := runCLI("imports", "list", "--server", s.url, "--token", testAdminToken, "--limit", "2")
	if err != nil || !strings.Contains(out, "ID  ") || !strings.Contains(out, "ORGANIZATIONS") || !strings.Contains(out, ids[1]) ||
		strings.Contains(out, ids[2]) || !strings.Contains(out, "org_a,org_b") || !strings.Contains(out, "more: --cursor ") {
		t.Fatalf("table: %v\n%s", err, out)
	}
	s.stop()
	if got := list("--db", db, "--limit", "2", "--all"); !slices.Equal(got, ids) {
		t.Fatalf("on the file: %v, want %v", got, ids)
	}
	if _, err := runCLI("imports", "list", "--db", db, "--limit", "0"); err == nil {
		t.Fatal("--limit 0 accepted")
	}
}
