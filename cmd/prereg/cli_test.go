package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// term runs one command with stdin given and stdin reported as a terminal
// or not.
func term(stdin string, terminal bool, args ...string) (string, error) {
	out := &bytes.Buffer{}
	e := &env{stdin: strings.NewReader(stdin), stdout: out, stderr: out, getenv: func(string) string { return "" },
		stdinTerminal: func() bool { return terminal }}
	err := runEnv(context.Background(), args, e)
	return out.String(), err
}

// seededStore is a store file holding one pending registration of
// ana@example.com, made through the CLI itself.
func seededStore(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "prereg.db")
	if out, err := runCLI("add", "ana@example.com", "--roles", "admin", "--db", db); err != nil {
		t.Fatalf("add: %v\n%s", describe(err), out)
	}
	return db
}

func TestCLIErrorMessages(t *testing.T) {
	db := seededStore(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want []string // every one is in the message
		not  []string // none is
	}{
		{"flag typo", []string{"list", "--orgnization", "x"},
			[]string{"unknown flag: --orgnization (did you mean --organization?)\nRun 'prereg list --help' for usage."}, nil},
		{"flag typo in a subcommand", []string{"tokens", "create", "--nme", "x"},
			[]string{"(did you mean --name?)", "Run 'prereg tokens create --help' for usage."}, nil},
		{"bad flag value", []string{"list", "--limit", "many"},
			[]string{"--limit", "Run 'prereg list --help' for usage."}, nil},
		{"command typo", []string{"lst"}, []string{`unknown command "lst"`, "list"}, nil},
		{"subcommand typo", []string{"tokens", "lst"}, []string{`unknown command "lst" for "prereg tokens"`, "Did you mean this?", "list"}, nil},
		{"missing ID", []string{"revoke"}, []string{"prereg revoke: missing registration ID"}, nil},
		{"missing email", []string{"erase"}, []string{"prereg erase: missing email address"}, nil},
		{"missing add email", []string{"add", "--roles", "r"}, []string{"prereg add: missing email address"}, nil},
		{"missing output", []string{"backup"}, []string{"prereg backup: missing output file"}, nil},
		{"missing import file", []string{"import"}, []string{"prereg import: missing CSV file"}, nil},
		{"too many", []string{"revoke", "a", "b"}, []string{"prereg revoke: one registration ID expected, got 2 arguments"}, nil},
		{"store path through a file", []string{"list", "--db", filepath.Join(notDir, "prereg.db")},
			[]string{"cannot open the store " + filepath.Join(notDir, "prereg.db") + ": not a directory"}, []string{"no store"}},
		{"import file through a file", []string{"import", "--db", db, filepath.Join(notDir, "x.csv")},
			[]string{"cannot open " + filepath.Join(notDir, "x.csv") + ": not a directory"}, nil},
		{"server not a URL", []string{"list", "--server", "ftp://example.com", "--token", "t"},
			[]string{"--server", "http://HOST:PORT"}, nil},
		{"audit action", []string{"audit", "--db", db, "--action", "bogus"},
			[]string{`--action "bogus" is not an audit action; one of created, updated, revoked, imported, granted, synced, token_created, token_revoked, backup, erased`}, nil},
		{"server not running", []string{"list", "--server", "127.0.0.1:1", "--token", "t"},
			[]string{"cannot reach http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"}, []string{"Get "}},
		{"add bad organization", []string{"add", "bo@example.com", "--roles", "r", "--organization", "acme", "--db", db},
			[]string{"--organization: not an Auth0 organization ID"}, []string{"organization_id"}},
		{"list limit on the file", []string{"list", "--db", db, "--limit", "5000"}, []string{"--limit must be between 1 and 1000"}, nil},
		{"audit limit on the file", []string{"audit", "--db", db, "--limit", "0"}, []string{"--limit must be between 1 and 1000"}, nil},
		{"token organization", []string{"tokens", "create", "--name", "desk", "--organization", "acme", "--db", db},
			[]string{"--organization: not an Auth0 organization ID"}, []string{"organization_id"}},
		{"token without name", []string{"tokens", "create", "--db", db}, []string{"--name is required"}, nil},
		{"list status", []string{"list", "--db", db, "--status", "done"}, []string{"--status must be"}, nil},
		{"restore without --db", []string{"restore", existing}, []string{"--db is required", "Run 'prereg restore --help' for usage."}, nil},
		{"add without roles", []string{"add", "bo@example.com", "--db", db}, []string{"--roles is required"}, nil},
		{"add bad expiry", []string{"add", "bo@example.com", "--roles", "r", "--expires-at", "soon", "--db", db}, []string{"--expires-at", "2027-01-31"}, []string{"expires_at"}},
		{"erase off a terminal", []string{"erase", "ana@example.com", "--db", db}, []string{"standard input is not a terminal", "--yes"}, nil},
		{"backup over a file", []string{"backup", existing, "--db", db}, []string{existing + " exists; pass --force to replace it"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := term("", false, tt.args...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			msg := describe(err)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, n := range append(tt.not, "[]string", "=true") {
				if strings.Contains(msg, n) {
					t.Errorf("message %q holds %q", msg, n)
				}
			}
		})
	}
	// A usage error names the command once, as its first words.
	var stderr bytes.Buffer
	_, err := term("", false, "revoke")
	if exitCode(err, &stderr) != 2 || !strings.HasPrefix(stderr.String(), "prereg revoke: missing registration ID\n") {
		t.Errorf("stderr of prereg revoke: %q", stderr.String())
	}
	if raw, _ := os.ReadFile(existing); string(raw) != "keep me" {
		t.Fatalf("backup overwrote %s", existing)
	}
	// The refused erasure erased nothing.
	if out, err := runCLI("list", "--db", db, "--json"); err != nil || !strings.Contains(out, "ana@example.com") {
		t.Fatalf("after refused erase: %v %s", err, out)
	}
}

func TestEraseConfirmation(t *testing.T) {
	db := seededStore(t)
	out, err := term("n\n", true, "erase", "ana@example.com", "--db", db)
	if err == nil || !strings.Contains(describe(err), "not erased") || !strings.Contains(out, "Erase every registration of a***@example.com") {
		t.Fatalf("answered no: %v\n%s", err, out)
	}
	if out, _ := runCLI("list", "--db", db); !strings.Contains(out, "ana@example.com") {
		t.Fatalf("erased without a yes:\n%s", out)
	}
	if out, err := term("yes\n", true, "erase", "ana@example.com", "--db", db); err != nil || !strings.Contains(out, "erased 1 registration(s)") {
		t.Fatalf("answered yes: %v\n%s", err, out)
	}
	if _, err := runCLI("add", "ana@example.com", "--roles", "r", "--db", db); err != nil {
		t.Fatal(err)
	}
	if out, err := term("", false, "erase", "ana@example.com", "--db", db, "--yes"); err != nil || !strings.Contains(out, "erased 1 registration(s)") {
		t.Fatalf("--yes: %v\n%s", err, out)
	}
}

func TestBackupOverwrite(t *testing.T) {
	db := seededStore(t)
	out := filepath.Join(t.TempDir(), "b.db")
	if msg, err := runCLI("backup", out, "--db", db); err != nil || !strings.Contains(msg, "KiB, checked)") {
		t.Fatalf("first backup: %v %s", err, msg)
	}
	if _, err := runCLI("backup", out, "--db", db); err == nil || !strings.Contains(describe(err), "pass --force") {
		t.Fatalf("second backup without --force: %v", err)
	}
	if msg, err := runCLI("backup", out, "--db", db, "--force"); err != nil {
		t.Fatalf("--force: %v %s", err, msg)
	}
	if msg, err := runCLI("check", "--db", out, "--json"); err != nil || !strings.Contains(msg, `"problems": []`) {
		t.Fatalf("check --json: %v %s", err, msg)
	}
}

func TestVersionFlagAndCommandAgree(t *testing.T) {
	a, err1 := runCLI("version")
	b, err2 := runCLI("--version")
	if err1 != nil || err2 != nil || a != b || a != "prereg "+version+"\n" {
		t.Fatalf("version %q (%v), --version %q (%v)", a, err1, b, err2)
	}
}

func TestAddAndListRoundTrip(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	host := strings.TrimPrefix(s.url, "http://")
	for i, where := range [][]string{
		{"--server", s.url, "--token", testAdminToken},
		{"--server", host, "--token", testAdminToken}, // http:// assumed
	} {
		t.Run(strings.Join(where[:2], " "), func(t *testing.T) { addRoundTrip(t, fmt.Sprintf("Bo.%d@Example.com", i), where) })
	}
	if out, err := runCLI("stats", "--server", host, "--token", testAdminToken); err != nil || !strings.Contains(out, "org_abc       2 ") {
		t.Fatalf("stats through the service: %v\n%s", err, out)
	}
	s.stop()
	// On the file: the same command, the same answers.
	if out, err := runCLI("add", "cy@example.com", "--roles", "r", "--db", db); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("add --db: %v\n%s", err, out)
	}
	if out, err := runCLI("list", "--db", db, "--email", "cy@example.com", "--json"); err != nil || !strings.Contains(out, `"email": "cy@example.com"`) {
		t.Fatalf("list --db: %v\n%s", err, out)
	}
}

// addRoundTrip adds email through where (connection flags) until it is
// created, unchanged and updated, then reads it back with list --json.
func addRoundTrip(t *testing.T, email string, where []string) {
	t.Helper()
	add := append([]string{"add", email, "--roles", "admin,rol_abc", "--organization", "org_abc", "--expires-at", "2030-01-31"}, where...)
	steps := []struct {
		args []string
		want string
	}{
		{add, "created"},
		{add, "unchanged"},
		{append([]string{"add", email, "--roles", "admin", "--organization", "org_abc"}, where...), "updated"},
	}
	for _, st := range steps {
		out, err := runCLI(st.args...)
		if err != nil || !strings.Contains(out, email) || !strings.Contains(out, "registration "+st.want) {
			t.Fatalf("%v: %v\n%s", st.args, err, out)
		}
	}
	out, err := runCLI(append([]string{"add", email, "--roles", "viewer", "--organization", "org_abc", "--json"}, where...)...)
	var rec struct {
		Change       string `json:"change"`
		Registration struct {
			Roles []string `json:"roles"`
		} `json:"registration"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec.Change != "updated" || strings.Join(rec.Registration.Roles, ",") != "viewer" {
		t.Fatalf("add --json: %v\n%s", err, out)
	}
	out, err = runCLI(append([]string{"list", "--json", "--email", email}, where...)...)
	var page struct {
		Items []struct {
			Email, OrganizationID string
			Roles                 []string
		} `json:"items"`
	}
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Items) != 1 || page.Items[0].Email != email || strings.Join(page.Items[0].Roles, ",") != "viewer" {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
}

func TestRevokeGrantedSaysUseForce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	out, err := runCLI("add", "gr@example.com", "--roles", "r", "--server", s.url, "--token", testAdminToken, "--json")
	var rec struct {
		Registration struct{ ID string } `json:"registration"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rec) != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	login := map[string]any{"user_id": "auth0|1", "email": "gr@example.com", "email_verified": true}
	if code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, login); code != 200 {
		t.Fatalf("hook: %d %s", code, raw)
	}
	check := func(args ...string) {
		t.Helper()
		_, err := runCLI(append([]string{"revoke", rec.Registration.ID}, args...)...)
		if msg := describe(err); err == nil || !strings.Contains(msg, "use --force") || strings.Contains(msg, "force=true") {
			t.Fatalf("revoke %v: %v", args, err)
		}
	}
	check("--server", s.url, "--token", testAdminToken)
	// A body of the wrong type is described in words, not Go types.
	code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "x@example.com", "roles": "admin"})
	if code != 400 || strings.Contains(string(raw), "[]string") || !strings.Contains(string(raw), "must be a list of strings") {
		t.Fatalf("wrong type: %d %s", code, raw)
	}
	s.stop()
	check("--db", db)
}

func TestStatsTableAndJSON(t *testing.T) {
	db := seededStore(t)
	if _, err := runCLI("add", "bo@example.com", "--roles", "r", "--organization", "org_abc", "--db", db); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI("stats", "--db", db)
	if err != nil {
		t.Fatal(describe(err))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ORGANIZATION") || !strings.HasPrefix(lines[len(lines)-1], "all") {
		t.Fatalf("stats table:\n%s", out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) != 6 || f[1] != "1" && l != lines[3] || l == lines[3] && f[1] != "2" {
			t.Fatalf("stats row %q in\n%s", l, out)
		}
	}
	// export takes every filter of list, --sync included.
	out, err = runCLI("export", "--db", db, "--sync", "pending", "--organization", "org_abc")
	if err != nil || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.HasPrefix(out, "email,") {
		t.Fatalf("export --sync: %v\n%s", err, out)
	}
	out, err = runCLI("stats", "--db", db, "--json")
	var st struct {
		Overall struct{ Pending, Total int } `json:"overall"`
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Overall.Pending != 2 || st.Overall.Total != 2 {
		t.Fatalf("stats --json: %v\n%s", err, out)
	}
}

func TestEveryCommandHasExamplesAndEnvironment(t *testing.T) {
	root := newRoot(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && c.Parent() != nil && c.Example == "" {
			t.Errorf("%s has no Examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, args := range [][]string{{"serve", "--help"}, {"reconcile", "--help"}, {"auth0", "install-action", "--help"}} {
		out, err := runCLI(args...)
		if err != nil || !strings.Contains(out, "Environment:") || !strings.Contains(out, "AUTH0_DOMAIN") || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, _ := runCLI("serve", "--help")
	if !strings.Contains(out, "--max-import-bytes bytes") || !strings.Contains(out, "(default 256MiB)") || strings.Contains(out, "268435456") {
		t.Errorf("serve --help shows byte sizes as numbers:\n%s", out)
	}
	if !strings.Contains(out, "PREREG_DB") || !strings.Contains(out, "PREREG_HOOK_SECRETS_FILE") {
		t.Errorf("serve --help lacks its environment:\n%s", out)
	}
}

func TestByteSizeFlag(t *testing.T) {
	// The environment reads sizes the same way.
	out := &bytes.Buffer{}
	e := &env{stdin: strings.NewReader(""), stdout: out, stderr: out, getenv: func(k string) string {
		return map[string]string{"PREREG_MAX_IMPORT_BYTES": "1KiB", "PREREG_ADDR": "bad address"}[k]
	}}
	err := runEnv(context.Background(), []string{"serve", "--db", filepath.Join(t.TempDir(), "p.db"), "--insecure-dev", "--hook-secrets", "s"}, e)
	if err == nil || strings.Contains(describe(err), "max-import-bytes") {
		t.Fatalf("PREREG_MAX_IMPORT_BYTES=1KiB: %v", err)
	}
}

func TestImportTooLargeNamesTheLimitInUnits(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken, "--max-import-bytes", "1KiB")
	csv := filepath.Join(t.TempDir(), "big.csv")
	body := "email,roles\n" + strings.Repeat("someone@example.com,viewer\n", 100)
	if err := os.WriteFile(csv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI("import", csv, "--server", s.url, "--token", testAdminToken)
	if msg := describe(err); err == nil || !strings.Contains(msg, "larger than 1KiB") {
		t.Fatalf("import over the limit: %v", err)
	}
}
