package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleMounted: prereg serve serves the console at /console/ with
// its headers, signs in with the configured admin token behind a trusted
// proxy that says HTTPS (Secure cookie), and --console=false (or
// PREREG_CONSOLE=false) leaves it off.
func TestConsoleMounted(t *testing.T) {
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken, "--trusted-proxies", "127.0.0.0/8")
	resp, err := http.Get(s.url + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /console/signin: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest(http.MethodPost, s.url+"/console/signin", strings.NewReader(url.Values{"token": {testAdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"prereg_session=", "Path=/console/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("sign-in cookie %q lacks %s", cookie, want)
		}
	}
	s.stop()

	for _, off := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--console=false"}, nil},
		{nil, map[string]string{"PREREG_CONSOLE": "false"}},
	} {
		s := startServiceEnv(t, off.env, append([]string{"--db", db, "--hook-secrets", testHookSecret, "--admin-token", testAdminToken}, off.args...)...)
		resp, err := http.Get(s.url + "/console/signin")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("console off (%v %v): %d", off.args, off.env, resp.StatusCode)
		}
		s.stop()
	}
}
