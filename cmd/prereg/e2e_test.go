package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/apicheck"
	"github.com/prereg/prereg/internal/testio"
)

const (
	testHookSecret = "e2e-hook-secret-0123456789-0123456789-xyz"
	testAdminToken = "e2e-admin-token-0123456789-0123456789-xyz"
)

// service is a real prereg serve started through run() on 127.0.0.1:0.
type service struct {
	url    string
	stop   func()
	stdout *testio.Buffer
	stderr *testio.Buffer
}

func startService(t *testing.T, args ...string) *service {
	t.Helper()
	return startServiceEnv(t, nil, args...)
}

// startServiceEnv is startService with environment variables (AUTH0_*).
func startServiceEnv(t *testing.T, vars map[string]string, args ...string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	s := &service{stdout: &testio.Buffer{}, stderr: &testio.Buffer{}}
	e := &env{stdin: strings.NewReader(""), stdout: s.stdout, stderr: s.stderr, getenv: func(k string) string { return vars[k] }, ready: func(a string) { ready <- a }}
	go func() { done <- runEnv(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), e) }()
	select {
	case s.url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited: %v\n%s", err, s.stderr)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

func (s *service) call(t *testing.T, method, path, bearer string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.url+path, r)
	req.Header.Set("Authorization", "Bearer "+bearer)
	// Every exchange is checked against the API description too.
	resp, err := apicheck.Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func TestEndToEndGrantSurvivesRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	args := []string{"--db", db, "--hook-secrets", "old-" + testHookSecret + "," + testHookSecret, "--admin-token", testAdminToken}
	s := startService(t, args...)
	for _, body := range []map[string]any{
		{"email": "Ana.Silva@Example.com", "roles": []string{"billing-admin"}},
		{"email": "ana.silva@example.com", "organization_id": "org_dr3b5S9l3sReLayv", "roles": []string{"rol_lEh5V8omwZrnZd9o"}},
	} {
		if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, body); code != 201 {
			t.Fatalf("create: %d %s", code, raw)
		}
	}
	login := map[string]any{"user_id": "auth0|63d16bb22b2c1a2ae38bad61", "email": "ana.silva@example.com", "email_verified": true, "organization_id": "org_dr3b5S9l3sReLayv"}
	code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, login)
	if code != 200 || !strings.Contains(string(raw), `"outcome":"granted"`) || !strings.Contains(string(raw), `"roles":["billing-admin","rol_lEh5V8omwZrnZd9o"]`) {
		t.Fatalf("hook: %d %s", code, raw)
	}
	code, raw = s.call(t, "GET", "/v1/registrations?status=granted", testAdminToken, nil)
	if code != 200 || strings.Count(string(raw), `"granted_to":"auth0|63d16bb22b2c1a2ae38bad61"`) != 2 {
		t.Fatalf("list: %d %s", code, raw)
	}
	s.stop()

	s = startService(t, args...)
	code, raw = s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, login)
	if code != 200 || !strings.Contains(string(raw), `"outcome":"already_granted"`) {
		t.Fatalf("after restart: %d %s", code, raw)
	}
	// The old secret still works during rotation.
	if code, _ := s.call(t, "POST", "/v1/hooks/post-login", "old-"+testHookSecret, login); code != 200 {
		t.Fatalf("rotated secret: %d", code)
	}
	code, raw = s.call(t, "GET", "/v1/stats", testAdminToken, nil)
	if code != 200 || !strings.Contains(string(raw), `"overall":{"pending":0,"granted":2`) {
		t.Fatalf("stats after restart: %d %s", code, raw)
	}
	// Logs name routes and request IDs, never a secret or an address.
	logs := s.stderr.String() + s.stdout.String()
	for _, secret := range []string{testHookSecret, testAdminToken, "ana.silva@example.com", "Ana.Silva@Example.com"} {
		if strings.Contains(strings.ToLower(logs), strings.ToLower(secret)) {
			t.Fatalf("log contains %q", secret)
		}
	}
}

func TestFirstStartGeneratesSecretsOnce(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db)
	out := s.stdout.String()
	var hook, admin string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case strings.Contains(line, "hook secret"):
			hook = f[len(f)-1]
		case strings.Contains(line, "admin token"):
			admin = f[len(f)-1]
		}
	}
	if hook == "" || admin == "" {
		t.Fatalf("no generated secrets printed:\n%s", out)
	}
	if code, raw := s.call(t, "POST", "/v1/hooks/post-login", hook, map[string]any{"user_id": "u"}); code != 200 {
		t.Fatalf("generated hook secret: %d %s", code, raw)
	}
	s.stop()
	s = startService(t, "--db", db)
	if strings.Contains(s.stdout.String(), "generated") {
		t.Fatalf("secrets printed again:\n%s", s.stdout)
	}
	if code, _ := s.call(t, "GET", "/v1/registrations", admin, nil); code != 200 {
		t.Fatalf("generated admin token after restart: %d", code)
	}
	if code, _ := s.call(t, "POST", "/v1/hooks/post-login", hook, map[string]any{"user_id": "u"}); code != 200 {
		t.Fatalf("generated hook secret after restart: %d", code)
	}
	if code, _ := s.call(t, "GET", "/v1/registrations", hook, nil); code != 401 {
		t.Fatalf("hook secret accepted as admin token: %d", code)
	}
}

func TestShortSecretsRefused(t *testing.T) {
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	err := runEnv(context.Background(), []string{"serve", "--db", filepath.Join(t.TempDir(), "p.db"), "--hook-secrets", "short"}, e)
	if err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
}

func TestCLIOnFileAndLockedStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
	if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "cli@example.com", "roles": []string{"r"}}); code != 201 {
		t.Fatalf("%d %s", code, raw)
	}
	// On the file while the service holds it: a clear error within a second or so.
	out := &bytes.Buffer{}
	start := time.Now()
	err := runEnv(context.Background(), []string{"list", "--db", db}, &env{stdout: out, stderr: out, getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(describe(err), "locked by another process") || time.Since(start) > 3*time.Second {
		t.Fatalf("locked store: %v after %s", err, time.Since(start))
	}
	// Through the service.
	out.Reset()
	err = runEnv(context.Background(), []string{"list", "--server", s.url, "--token", testAdminToken, "--json"}, &env{stdout: out, stderr: io.Discard, getenv: func(string) string { return "" }})
	if err != nil || !strings.Contains(out.String(), "cli@example.com") {
		t.Fatalf("list via server: %v %s", err, out)
	}
	s.stop()
	// On the file once the service is gone.
	for _, args := range [][]string{
		{"list", "--db", db},
		{"tokens", "create", "--db", db, "--name", "desk", "--organization", "org_a", "--read-only"},
		{"tokens", "list", "--db", db},
		{"revoke", "--db", db, "reg_none"},
	} {
		out.Reset()
		err := runEnv(context.Background(), args, &env{stdout: out, stderr: out, getenv: func(string) string { return "" }})
		if args[0] == "revoke" {
			if err == nil || !strings.Contains(describe(err), "no registration") {
				t.Fatalf("%v: %v", args, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if args[0] == "tokens" && args[1] == "list" && !strings.Contains(out.String(), "desk") {
			t.Fatalf("tokens list: %s", out)
		}
	}
}
