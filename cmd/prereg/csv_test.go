package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// TestImportCSVv2 runs CONTRACT §4 v2 through the real service and the
// CLI: an export carries the status and imports back with its revoked row
// skipped; a quote never closed is one error naming its line, over HTTP
// (400 invalid_request) and from the CLI (exit 2), on the service and on
// the file, and nothing is written.
func TestImportCSVv2(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	for _, email := range []string{"ana@example.com", "bob@example.com"} {
		if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": email, "roles": []string{"viewer"}}); code != 201 {
			t.Fatalf("create %s: %d %s", email, code, raw)
		}
	}
	if code, raw := s.call(t, "DELETE", "/v1/registrations/"+prereg.RegistrationID("", "bob@example.com"), testAdminToken, nil); code != 200 {
		t.Fatalf("revoke: %d %s", code, raw)
	}
	exported := filepath.Join(t.TempDir(), "export.csv")
	if out, err := runCLI("export", "--server", s.url, "--token", testAdminToken, "-o", exported); err != nil {
		t.Fatalf("export: %v %s", err, out)
	}
	data, _ := os.ReadFile(exported)
	lines := strings.Split(string(data), "\n")
	revokedLine := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "bob@example.com,") && strings.HasSuffix(l, ",revoked,,") {
			revokedLine = i + 1
		}
	}
	if lines[0] != "email,organization_id,roles,connection,expires_at,status,granted_to,granted_at" || revokedLine == 0 {
		t.Fatalf("export:\n%s", data)
	}
	out, err := runCLI("import", "--server", s.url, "--token", testAdminToken, exported)
	if err != nil || !strings.Contains(out, "0 created, 0 updated, 1 unchanged, 0 rejected, 1 skipped") ||
		!strings.Contains(out, fmt.Sprintf("warning line %d: status revoked: skipped, exports never reopen a registration", revokedLine)) {
		t.Fatalf("re-import of the export: %v\n%s", err, out)
	}
	if code, raw := s.call(t, "GET", "/v1/registrations/"+prereg.RegistrationID("", "bob@example.com"), testAdminToken, nil); code != 200 || !strings.Contains(string(raw), `"status":"revoked"`) {
		t.Fatalf("bob after the re-import: %d %s", code, raw)
	}

	broken := filepath.Join(t.TempDir(), "broken.csv")
	os.WriteFile(broken, []byte("email,roles\ncid@example.com,viewer\ndan@example.com,\"viewer\n"+strings.Repeat("eve@example.com,viewer\n", 5)), 0o600)
	const want = "line 3: a quoted cell opens on this line and is never closed"
	for _, q := range []string{"", "?dry_run=true", "?strict=true"} {
		body, _ := os.ReadFile(broken)
		req, _ := http.NewRequest("POST", s.url+"/v1/imports"+q, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var answer struct {
			Error struct {
				Code    string              `json:"code"`
				Message string              `json:"message"`
				Details []prereg.FieldError `json:"details"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		e := answer.Error
		if err != nil || resp.StatusCode != 400 || e.Code != "invalid_request" || !strings.HasPrefix(e.Message, want) ||
			len(e.Details) != 1 || e.Details[0].Field != "line" || e.Details[0].Value != "3" {
			t.Fatalf("POST /v1/imports%s: %d %+v %v", q, resp.StatusCode, answer, err)
		}
	}
	_, err = runCLI("import", "--server", s.url, "--token", testAdminToken, broken)
	if exitStatus(err) != 2 || !strings.HasPrefix(describe(err), want) {
		t.Fatalf("CLI import through the service: exit %d: %s", exitStatus(err), describe(err))
	}
	s.stop()
	for _, args := range [][]string{nil, {"--dry-run"}, {"--strict"}} {
		_, err = runCLI(append([]string{"import", "--db", db, broken}, args...)...)
		if msg := describe(err); exitStatus(err) != 2 || !strings.HasPrefix(msg, want) || strings.Count(msg, want) != 1 {
			t.Fatalf("CLI import %v on the file: exit %d: %s", args, exitStatus(err), msg)
		}
	}
	out, err = runCLI("list", "--db", db, "--json", "--email", "cid@example.com")
	if err != nil || strings.Contains(out, "cid@example.com") {
		t.Fatalf("a row before the broken quote was written: %v %s", err, out)
	}
}
