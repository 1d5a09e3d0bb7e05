package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// filesHolding lists the files in dir whose bytes contain needle, in any
// letter case.
func filesHolding(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	needleB := []byte(strings.ToLower(needle))
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(bytes.ToLower(raw), needleB) {
			hits = append(hits, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestErasureLeavesNoByteOfTheAddress registers an address in two
// organizations, grants one, lets an import report echo it, erases it
// through POST /v1/erasures, and then searches the bytes of every file in
// the store's directory (while the service runs, and after it stopped)
// for the address in any letter case: none may hold it. A second address
// that was not erased must still be found, which proves the search sees
// what the store holds.
func TestErasureLeavesNoByteOfTheAddress(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "prereg.db")
	const (
		erased = "Erase.Me@Example.COM"
		kept   = "Keep.Me@Example.COM"
		userID = "auth0|erasure-user"
	)
	s := startService(t, "--db", db, "--hook-secrets", crashHookSecret, "--admin-token", crashAdminToken)
	for _, body := range []map[string]any{
		{"email": erased, "organization_id": "org_erase1", "roles": []string{"viewer"}},
		{"email": " erase.me@example.com ", "organization_id": "org_erase2", "roles": []string{"editor"}, "connection": "corp-saml"},
		{"email": kept, "organization_id": "org_erase1", "roles": []string{"viewer"}},
		{"email": kept, "organization_id": "org_erase2", "roles": []string{"viewer"}},
	} {
		if code, raw := s.call(t, "POST", "/v1/registrations", crashAdminToken, body); code != 201 {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	// Grant one of the two (the other is pinned to a connection).
	code, raw := s.call(t, "POST", "/v1/hooks/post-login", crashHookSecret,
		map[string]any{"user_id": userID, "email": "ERASE.ME@example.com", "email_verified": true, "organization_id": "org_erase1"})
	if code != 200 || !strings.Contains(string(raw), `"outcome":"granted"`) || strings.Count(string(raw), `"registration_id"`) != 1 {
		t.Fatalf("hook: %d %s", code, raw)
	}
	// An import whose report echoes the address in a row error.
	csv := "email,roles,organization_id\n<" + erased + ">,viewer,org_erase1\n" + strings.ToUpper(erased) + ",bad|role;x,org_nope!\nother@example.com,viewer,org_erase1\n"
	req, _ := http.NewRequest("POST", s.url+"/v1/imports", strings.NewReader(csv))
	req.Header.Set("Authorization", "Bearer "+crashAdminToken)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	imported := resp.StatusCode == 200
	if imported {
		if !strings.Contains(strings.ToLower(string(rep)), strings.ToLower(erased)) {
			t.Logf("note: the import report does not echo the address: %s", rep)
		}
	} else {
		t.Logf("imports are not available yet (%d %s): the import-report part of the erasure is not exercised", resp.StatusCode, rep)
	}
	if hits := filesHolding(t, dir, erased); len(hits) == 0 {
		t.Fatal("before the erasure the address is not found in the store's files: the search is broken")
	}

	code, raw = s.call(t, "POST", "/v1/erasures", crashAdminToken, map[string]any{"email": "erase.me@EXAMPLE.com"})
	if code != 200 {
		t.Fatalf("erasure: %d %s", code, raw)
	}
	var out struct {
		Registrations   []string `json:"registrations"`
		ImportsScrubbed int      `json:"imports_scrubbed"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Registrations) != 2 {
		t.Fatalf("erasure answer: %s", raw)
	}
	if imported && out.ImportsScrubbed == 0 {
		t.Errorf("erasure scrubbed no import report: %s", raw)
	}
	if hits := filesHolding(t, dir, erased); len(hits) > 0 {
		t.Errorf("after the erasure, with the service running, the address is still in %v", hits)
	}
	if hits := filesHolding(t, dir, kept); len(hits) == 0 {
		t.Error("the address that was not erased is gone from the store's files")
	}
	// The service goes on working on the wiped file.
	code, raw = s.call(t, "POST", "/v1/hooks/post-login", crashHookSecret,
		map[string]any{"user_id": userID, "email": erased, "email_verified": true, "organization_id": "org_erase1"})
	if code != 200 || !strings.Contains(string(raw), `"outcome":"no_match"`) {
		t.Errorf("hook after the erasure: %d %s", code, raw)
	}
	code, raw = s.call(t, "GET", "/v1/registrations?email=erase.me@example.com", crashAdminToken, nil)
	if code != 200 || !strings.Contains(string(raw), `"items":[]`) {
		t.Errorf("list after the erasure: %d %s", code, raw)
	}
	code, raw = s.call(t, "POST", "/v1/hooks/post-login", crashHookSecret,
		map[string]any{"user_id": "auth0|keeper", "email": kept, "email_verified": true, "organization_id": "org_erase2"})
	if code != 200 || !strings.Contains(string(raw), `"outcome":"granted"`) {
		t.Errorf("hook for the kept address after the erasure: %d %s", code, raw)
	}
	s.stop()

	if hits := filesHolding(t, dir, erased); len(hits) > 0 {
		t.Errorf("after the erasure and a clean stop, the address is still in %v", hits)
	}
	facts := verifyStoreFile(t, db)
	for _, org := range []string{"org_erase1", "org_erase2"} {
		if _, ok := facts.regs[prereg.RegistrationID(org, erased)]; ok {
			t.Errorf("the erased registration of %s is still in the store", org)
		}
		if _, ok := facts.regs[prereg.RegistrationID(org, kept)]; !ok {
			t.Errorf("the kept registration of %s is gone", org)
		}
	}
}

// prereg erase on the file: a string that is not an address is refused
// with an error naming the email field and changes nothing; an address is
// erased, and the output counts what went without printing the address.
func TestEraseCLIOnFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "cli.erase@example.com", "roles": []string{"viewer"}}); code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	s.stop()
	out, err := runCLI("erase", "--db", db, "org_bbbb")
	if exitStatus(err) == 0 || !strings.Contains(describe(err), "email") {
		t.Fatalf("erase of a non-address: %v\n%s", err, out)
	}
	out, err = runCLI("erase", "--db", db, "--yes", "CLI.Erase@example.com")
	if err != nil || !strings.Contains(out, "erased 1 registration(s)") || strings.Contains(strings.ToLower(out), "cli.erase@") {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	if hits := filesHolding(t, filepath.Dir(db), "cli.erase@example.com"); len(hits) > 0 {
		t.Errorf("after prereg erase the address is still in %v", hits)
	}
}
