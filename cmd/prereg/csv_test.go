package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

func runCLI(args ...string) (string, error) {
	out := &bytes.Buffer{}
	err := runEnv(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(string) string { return "" }})
	return out.String(), err
}

func exitStatus(err error) int { return exitCode(err, io.Discard) }

func TestImportCLIOnFileExitCodes(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "prereg.db")
	// Create the store with one run of serve's bootstrap-free path: tokens create makes the file.
	if _, err := runCLI("tokens", "create", "--db", db, "--name", "x"); err == nil || !strings.Contains(describe(err), "no store") {
		t.Fatalf("no store yet: %v", err)
	}
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	s.stop()
	tests := []struct {
		name, file string
		args       []string
		status     int
		out        string
	}{
		{"good file", "../../testdata/csv/google_sheets.csv", nil, 0, " created,"},
		{"same file again changes nothing", "../../testdata/csv/google_sheets.csv", nil, 0, " 0 created, 0 updated,"},
		{"bad rows", "../../testdata/csv/bad_rows.csv", nil, 1, "error   line "},
		{"header typo is fatal", "../../testdata/csv/header_typo.csv", nil, 2, ""},
		{"UTF-16 is fatal", "../../testdata/csv/utf16le_bom.csv", nil, 2, ""},
		{"dry run", "../../testdata/csv/google_sheets.csv", []string{"--dry-run"}, 0, "dry run: nothing written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(append([]string{"import", "--db", db, tt.file}, tt.args...)...)
			if got := exitStatus(err); got != tt.status {
				t.Fatalf("exit %d, want %d: %v\n%s", got, tt.status, err, out)
			}
			if !strings.Contains(out, tt.out) {
				t.Fatalf("output %q lacks %q", out, tt.out)
			}
		})
	}
	// The header typo names the column and suggests the right one.
	_, err := runCLI("import", "--db", db, "../../testdata/csv/header_typo.csv")
	if msg := describe(err); !strings.Contains(msg, "did you mean") {
		t.Fatalf("header typo message: %s", msg)
	}
	// import show reads the kept report.
	out, _ := runCLI("import", "--db", db, "--json", "../../testdata/csv/google_sheets.csv")
	var rep prereg.ImportReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.ImportID == "" {
		t.Fatalf("json report: %v %s", err, out)
	}
	if out, err := runCLI("import", "show", "--db", db, rep.ImportID); err != nil || !strings.Contains(out, rep.ImportID) {
		t.Fatalf("import show: %v %s", err, out)
	}
}

func TestImportAndExportThroughService(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	// CLI streaming the file to the service.
	out, err := runCLI("import", "--server", s.url, "--token", testAdminToken, "../../testdata/csv/multiline.csv")
	if err != nil && exitStatus(err) != 1 {
		t.Fatalf("import via server: %v %s", err, out)
	}
	// Multipart upload, as a browser sends it.
	body := &bytes.Buffer{}
	mw := multipart.NewWriter(body)
	fw, _ := mw.CreateFormFile("file", "people.csv")
	io.WriteString(fw, "email,roles,organization_id\r\nmulti@example.com,a|b,org_abc\r\nnot-an-email,x,\r\n")
	mw.Close()
	req, _ := http.NewRequest("POST", s.url+"/v1/imports", body)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep prereg.ImportReport
	_ = json.Unmarshal(raw, &rep)
	if resp.StatusCode != 200 || rep.Created != 1 || rep.Rejected != 1 {
		t.Fatalf("multipart import: %d %s", resp.StatusCode, raw)
	}
	// GET /v1/imports/{id} returns the same report.
	code, raw := s.call(t, "GET", "/v1/imports/"+rep.ImportID, testAdminToken, nil)
	if code != 200 || !strings.Contains(string(raw), rep.ImportID) {
		t.Fatalf("import report: %d %s", code, raw)
	}
	// A wrong media type and a header problem.
	req, _ = http.NewRequest("POST", s.url+"/v1/imports", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 415 {
		t.Fatalf("json body: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", s.url+"/v1/imports", strings.NewReader("emial,roles\na@b.io,r\n"))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "text/csv")
	resp, _ = http.DefaultClient.Do(req)
	raw, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(raw), "invalid_request") || !strings.Contains(string(raw), "email") {
		t.Fatalf("header typo: %d %s", resp.StatusCode, raw)
	}
	// Export through the service, re-import: everything unchanged.
	exported := filepath.Join(t.TempDir(), "export.csv")
	if out, err := runCLI("export", "--server", s.url, "--token", testAdminToken, "-o", exported); err != nil {
		t.Fatalf("export: %v %s", err, out)
	}
	data, _ := os.ReadFile(exported)
	if !strings.HasPrefix(string(data), "email,organization_id,roles,connection,expires_at") {
		t.Fatalf("export header: %q", data)
	}
	out, err = runCLI("import", "--server", s.url, "--token", testAdminToken, "--json", exported)
	var again prereg.ImportReport
	if jerr := json.Unmarshal([]byte(out), &again); err != nil || jerr != nil || again.Created+again.Updated != 0 || again.Unchanged == 0 {
		t.Fatalf("re-import of export: %v %s", errors.Join(err, jerr), out)
	}
}

// list and export share one filter: an unknown status is refused on the
// file as through the service, and --all pages through one open store.
func TestListAndExportFilters(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	if out, err := runCLI("import", "--db", db, "../../testdata/csv/google_sheets.csv"); err != nil {
		t.Fatalf("seed: %v %s", err, out)
	}
	for _, cmd := range []string{"list", "export"} {
		if _, err := runCLI(cmd, "--db", db, "--status", "active"); err == nil || !strings.Contains(describe(err), "--status must be") {
			t.Fatalf("%s --status active: %v", cmd, err)
		}
	}
	out, err := runCLI("list", "--db", db, "--all", "--limit", "1", "--json")
	var page struct{ Items []prereg.Registration }
	if jerr := json.Unmarshal([]byte(out), &page); err != nil || jerr != nil || len(page.Items) < 2 {
		t.Fatalf("list --all --limit 1: %v %v %s", err, jerr, out)
	}
	exported, err := runCLI("export", "--db", db, "--organization", "-")
	if err != nil || strings.Count(exported, "\n")-1 > len(page.Items) {
		t.Fatalf("export tenant-wide: %v %s", err, exported)
	}
	for _, line := range strings.Split(strings.TrimSpace(exported), "\n")[1:] {
		if strings.Split(line, ",")[1] != "" {
			t.Fatalf("tenant-wide export holds an organization row: %q", line)
		}
	}
}
