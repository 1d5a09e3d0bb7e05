package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testio"
)

// startWithAuth0 runs serve with AUTH0_* pointing at a local fake of the
// Management API.
func startWithAuth0(t *testing.T, fake *auth0fake.Server, db string, extra ...string) *service {
	t.Helper()
	vars := map[string]string{"AUTH0_DOMAIN": fake.URL(), "AUTH0_CLIENT_ID": fake.ClientID, "AUTH0_CLIENT_SECRET": fake.ClientSecret}
	return startServiceEnv(t, vars, append([]string{"--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken, "--sync-budget", patientBudget}, extra...)...)
}

// patientBudget lets a login wait for the fake however loaded the machine:
// the tests that expect "sync":"done" in the answer are not about the
// budget, which only caps the wait (a later --sync-budget overrides it).
const patientBudget = "1m"

func TestEndToEndAuth0Sync(t *testing.T) {
	fake := auth0fake.New(t)
	fake.AddRole("rol_lEh5V8omwZrnZd9o", "org-admin")
	fake.AddRole("rol_B1llingAdm1n000", "billing-admin")
	fake.AddOrganization("org_dr3b5S9l3sReLayv")
	fake.AddUser(auth0fake.User{ID: "auth0|ana", Email: "ana@example.com", EmailVerified: true})
	fake.AddUser(auth0fake.User{ID: "auth0|bo", Email: "bo@example.com", EmailVerified: true})
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startWithAuth0(t, fake, db, "--send-verification-email")

	for _, body := range []map[string]any{
		{"email": "ana@example.com", "roles": []string{"billing-admin"}},
		{"email": "ana@example.com", "organization_id": "org_dr3b5S9l3sReLayv", "roles": []string{"rol_lEh5V8omwZrnZd9o"}},
		{"email": "bo@example.com", "roles": []string{"no-such-role"}},
		{"email": "cy@example.com", "roles": []string{"billing-admin"}},
	} {
		if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, body); code != 201 {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|ana", "email": "ana@example.com", "email_verified": true, "organization_id": "org_dr3b5S9l3sReLayv"})
	var res prereg.HookResult
	_ = json.Unmarshal(raw, &res)
	if code != 200 || res.Outcome != prereg.OutcomeGranted || len(res.Grants) != 2 {
		t.Fatalf("hook: %d %s", code, raw)
	}
	for _, g := range res.Grants {
		if g.Sync != prereg.SyncDone {
			t.Fatalf("grant not synced within the budget: %s", raw)
		}
	}
	if got := fake.UserRoles("auth0|ana"); !slices.Equal(got, []string{"rol_B1llingAdm1n000"}) {
		t.Fatalf("user roles in Auth0: %v", got)
	}
	if got := fake.MemberRoles("org_dr3b5S9l3sReLayv", "auth0|ana"); !slices.Equal(got, []string{"rol_lEh5V8omwZrnZd9o"}) {
		t.Fatalf("member roles in Auth0: %v", got)
	}
	// An unknown role name fails that grant's sync, with the name in the error.
	code, raw = s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|bo", "email": "bo@example.com", "email_verified": true})
	if code != 200 || !strings.Contains(string(raw), `"sync":"failed"`) {
		t.Fatalf("unknown role: %d %s", code, raw)
	}
	_, raw = s.call(t, "GET", "/v1/registrations?email=bo@example.com", testAdminToken, nil)
	if !strings.Contains(string(raw), "no-such-role") {
		t.Fatalf("sync_error does not name the role: %s", raw)
	}
	// Unverified: a verification email, once.
	fake.AddUser(auth0fake.User{ID: "auth0|cy", Email: "cy@example.com"})
	for range 2 {
		if code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|cy", "email": "cy@example.com", "email_verified": false}); code != 200 || !strings.Contains(string(raw), "email_unverified") {
			t.Fatalf("unverified: %d %s", code, raw)
		}
	}
	// Stopping waits for the sends the logins left running: after it no
	// send can still come. The service then starts again on the same file.
	s.stop()
	if n := len(fake.VerificationEmails()); n != 1 {
		t.Fatalf("verification emails sent: %d, want 1", n)
	}
	s = startWithAuth0(t, fake, db, "--send-verification-email")
	// Force-revoke removes the organization member roles again, and the
	// grant from what the Action recorded in app_metadata.
	id := prereg.RegistrationID("org_dr3b5S9l3sReLayv", "ana@example.com")
	tenantGrant := map[string]any{"registration_id": prereg.RegistrationID("", "ana@example.com"), "organization_id": "", "roles": []any{"billing-admin"}}
	fake.SetAppMetadata("auth0|ana", map[string]any{"prereg": []any{
		tenantGrant, map[string]any{"registration_id": id, "organization_id": "org_dr3b5S9l3sReLayv", "roles": []any{"rol_lEh5V8omwZrnZd9o"}},
	}})
	if code, raw := s.call(t, "DELETE", "/v1/registrations/"+id+"?force=true", testAdminToken, nil); code != 200 {
		t.Fatalf("force revoke: %d %s", code, raw)
	}
	testio.WaitFor(t, 10*time.Second, "member roles removed by the force revoke", func() bool {
		return len(fake.MemberRoles("org_dr3b5S9l3sReLayv", "auth0|ana")) == 0
	})
	want, _ := json.Marshal([]any{tenantGrant})
	testio.WaitFor(t, 10*time.Second, "only the tenant grant left in app_metadata", func() bool {
		got, _ := json.Marshal(fake.AppMetadata("auth0|ana")["prereg"])
		return string(got) == string(want)
	})
}

// With a custom domain, AUTH0_AUDIENCE names the canonical domain's
// Management API, and grants sync through the custom domain.
func TestEndToEndAuth0CustomDomain(t *testing.T) {
	fake := auth0fake.New(t)
	fake.SetCanonicalDomain("dev-tenant.eu.auth0.com")
	fake.AddRole("rol_B1llingAdm1n000", "billing-admin")
	fake.AddUser(auth0fake.User{ID: "auth0|ana", Email: "ana@example.com", EmailVerified: true})
	vars := map[string]string{"AUTH0_DOMAIN": fake.URL(), "AUTH0_CLIENT_ID": fake.ClientID, "AUTH0_CLIENT_SECRET": fake.ClientSecret,
		"AUTH0_AUDIENCE": "https://dev-tenant.eu.auth0.com/api/v2/"}
	s := startServiceEnv(t, vars, "--db", filepath.Join(t.TempDir(), "prereg.db"), "--hook-secrets", testHookSecret, "--admin-token", testAdminToken, "--sync-budget", patientBudget)
	if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "ana@example.com", "roles": []string{"billing-admin"}}); code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|ana", "email": "ana@example.com", "email_verified": true})
	if code != 200 || !strings.Contains(string(raw), `"sync":"done"`) {
		t.Fatalf("hook: %d %s", code, raw)
	}
	if got := fake.UserRoles("auth0|ana"); !slices.Equal(got, []string{"rol_B1llingAdm1n000"}) {
		t.Fatalf("user roles in Auth0: %v", got)
	}
}

func TestReconcileThroughService(t *testing.T) {
	fake := auth0fake.New(t)
	fake.AddRole("rol_B1llingAdm1n000", "billing-admin")
	fake.AddUser(auth0fake.User{ID: "auth0|dee", Email: "dee@example.com", EmailVerified: true})
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startWithAuth0(t, fake, db)
	for _, email := range []string{"Dee@Example.com", "nobody@example.com"} {
		if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": email, "roles": []string{"billing-admin"}}); code != 201 {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	out := &bytes.Buffer{}
	run := func(args ...string) error {
		out.Reset()
		return runEnv(context.Background(), args, &env{stdout: out, stderr: io.Discard, getenv: func(string) string { return "" }})
	}
	if err := run("reconcile", "--server", s.url, "--token", testAdminToken, "--dry-run"); err != nil || !strings.Contains(out.String(), "would_grant") || !strings.HasPrefix(out.String(), "REGISTRATION ") {
		t.Fatalf("dry run: %v %s", err, out)
	}
	if fake.UserRoles("auth0|dee") != nil {
		t.Fatal("dry run wrote to Auth0")
	}
	if err := run("reconcile", "--server", s.url, "--token", testAdminToken); err != nil || !strings.Contains(out.String(), "granted 1, skipped 1") {
		t.Fatalf("reconcile: %v %s", err, out)
	}
	testio.WaitFor(t, 10*time.Second, "roles granted by reconcile", func() bool { return len(fake.UserRoles("auth0|dee")) != 0 })
	if got := fake.UserRoles("auth0|dee"); !slices.Equal(got, []string{"rol_B1llingAdm1n000"}) {
		t.Fatalf("roles after reconcile: %v", got)
	}
}

func TestInstallActionIdempotent(t *testing.T) {
	fake := auth0fake.New(t)
	vars := map[string]string{"AUTH0_DOMAIN": fake.URL(), "AUTH0_CLIENT_ID": fake.ClientID, "AUTH0_CLIENT_SECRET": fake.ClientSecret}
	out := &bytes.Buffer{}
	args := []string{"auth0", "install-action", "--url", "https://prereg.example.com", "--hook-secret", testHookSecret}
	for i, want := range []string{"created true", "nothing changed"} {
		out.Reset()
		if err := runEnv(context.Background(), args, &env{stdout: out, stderr: io.Discard, getenv: func(k string) string { return vars[k] }}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if !strings.Contains(out.String(), want) {
			t.Fatalf("run %d: %q, want %q", i, out, want)
		}
	}
	acts := fake.Actions()
	if len(acts) != 1 || !strings.Contains(acts[0].Code, "onExecutePostLogin") {
		t.Fatalf("actions: %+v", acts)
	}
	if b := fake.Bindings("post-login"); len(b) != 1 {
		t.Fatalf("bindings: %+v", b)
	}
}

// What print-action prints is pasted into the Action's code, where it stays in
// every version: it never carries a secret, and a flag that would put one
// there is refused with a pointer to the Action's secrets.
func TestPrintActionHasNoSecret(t *testing.T) {
	const signing = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci1wcmludA=="
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"every option", []string{"--url", "https://p.example.com", "--timeout-ms", "2500", "--on-error", "deny", "--on-unverified", "allow", "--claim-namespace", "https://example.com/"}, ""},
		{"hook secret", []string{"--url", "https://p.example.com", "--hook-secret", testHookSecret}, "set PREREG_SECRET in the Action's secrets"},
		{"signing secret", []string{"--url", "https://p.example.com", "--signing-secret", signing}, "set PREREG_SIGNING_SECRET in the Action's secrets"},
		{"namespace on auth0.com", []string{"--claim-namespace", "https://tenant.auth0.com/"}, "whose claims Auth0 drops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
			// print-action needs no credentials.
			err := runEnv(context.Background(), append([]string{"auth0", "print-action"}, tt.args...), &env{stdout: out, stderr: errOut, getenv: func(string) string { return "" }})
			for _, secret := range []string{testHookSecret, signing, signing[len("whsec_"):]} {
				for where, text := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "error": fmt.Sprint(err)} {
					if strings.Contains(text, secret) {
						t.Errorf("%s holds the secret %q", where, secret)
					}
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				if out.Len() != 0 {
					t.Errorf("printed code despite the error:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("print-action: %v", err)
			}
			for _, want := range []string{"exports.onExecutePostLogin", "PREREG_URL = https://", "PREREG_SECRET", "Secrets"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
		})
	}
}

// A slow Auth0 never makes a login slower than the sync budget: the grant
// answers with sync pending and the queue finishes the job later.
func TestSlowAuth0KeepsLoginsWithinBudget(t *testing.T) {
	fake := auth0fake.New(t)
	fake.AddRole("rol_B1llingAdm1n000", "billing-admin")
	fake.AddUser(auth0fake.User{ID: "auth0|slow", Email: "slow@example.com", EmailVerified: true})
	// Auth0 answers nothing until the login has been answered.
	release := make(chan struct{})
	fake.FailNext(-1, auth0fake.Fault{Hold: release})
	s := startWithAuth0(t, fake, filepath.Join(t.TempDir(), "prereg.db"), "--sync-budget", "200ms")
	if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "slow@example.com", "roles": []string{"billing-admin"}}); code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	start := time.Now()
	code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|slow", "email": "slow@example.com", "email_verified": true})
	took := time.Since(start)
	if code != 200 || !strings.Contains(string(raw), `"outcome":"granted"`) || !strings.Contains(string(raw), `"sync":"pending"`) {
		t.Fatalf("hook: %d %s", code, raw)
	}
	// A login that waited for the held call would wait out the job
	// timeout (30 s): far beyond this bound, which no load reaches.
	if took > 10*time.Second {
		t.Fatalf("login took %s with a 200ms budget", took)
	}
	// The job finishes in the background.
	close(release)
	testio.WaitFor(t, 15*time.Second, "roles granted by the queue", func() bool { return len(fake.UserRoles("auth0|slow")) != 0 })
	if got := fake.UserRoles("auth0|slow"); !slices.Equal(got, []string{"rol_B1llingAdm1n000"}) {
		t.Fatalf("roles after the queue ran: %v", got)
	}
}

// A verification email for a social user names the identity, and a send
// that failed is tried again at the next login instead of a day later.
func TestVerificationEmailRetriedAfterFailure(t *testing.T) {
	const user = "google-oauth2|109876543210"
	fake := auth0fake.New(t)
	fake.AddUser(auth0fake.User{ID: user, Email: "gia@example.com", Connection: "google-oauth2"})
	fake.FailNext(1, auth0fake.Fault{Status: 503, Path: "/api/v2/jobs/verification-email"})
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startWithAuth0(t, fake, db, "--send-verification-email")
	if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "gia@example.com", "roles": []string{"billing-admin"}}); code != 201 {
		t.Fatalf("create: %d %s", code, raw)
	}
	// Each login's send runs off the login path; stopping the service waits
	// for it, and for the store write recording its outcome.
	loginAndStop := func() {
		t.Helper()
		code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": user, "email": "gia@example.com", "email_verified": false})
		if code != 200 || !strings.Contains(string(raw), "email_unverified") {
			t.Fatalf("unverified: %d %s", code, raw)
		}
		s.stop()
	}
	loginAndStop()
	if got, n := fake.VerificationEmails(), fake.Count("POST", "/api/v2/jobs/verification-email"); len(got) != 0 || n != 1 {
		t.Fatalf("after the first login: emails %v after %d requests, want none after 1", got, n)
	}
	s = startWithAuth0(t, fake, db, "--send-verification-email")
	loginAndStop()
	if got, n := fake.VerificationEmails(), fake.Count("POST", "/api/v2/jobs/verification-email"); !slices.Equal(got, []string{user}) || n != 2 {
		t.Fatalf("after the next login: emails %v after %d requests, want [%s] after the failed one and a retry", got, n, user)
	}
}
