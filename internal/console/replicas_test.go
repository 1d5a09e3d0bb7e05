package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// replica is one prereg service over the shared etcd store.
type replica struct{ url string }

func startReplica(t *testing.T, endpoints []string) (*etcdstore.Store, replica) {
	t.Helper()
	st, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: endpoints, Prefix: "/console-test/"}, etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	con := console.New(console.Config{AdminToken: adminToken}, console.Stores{Registrations: st, SyncQueue: st, Stats: st, Audit: st, Imports: st, Tokens: st, Sessions: st, Backlog: st})
	api := httpapi.New(httpapi.Config{AdminToken: adminToken, Console: con},
		httpapi.Stores{Logins: st, Registrations: st, SyncQueue: st, Stats: st, Erasures: st, Audit: st, Backups: st, Imports: st, Tokens: st, Health: st})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return st, replica{srv.URL}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn signs in on r and returns the session cookie.
func (r replica) signIn(t *testing.T, secret string) string {
	t.Helper()
	resp, err := noRedirect.PostForm(r.url+"/console/signin", url.Values{"token": {secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "prereg_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("sign-in on %s answered %d without a session", r.url, resp.StatusCode)
	return ""
}

// do sends a request with the cookie and returns the status and body.
func (r replica) do(t *testing.T, method, path, cookie string, form url.Values) (int, string) {
	t.Helper()
	contentType := ""
	if form != nil {
		contentType = "application/x-www-form-urlencoded"
	}
	return r.send(t, method, path, cookie, contentType, strings.NewReader(form.Encode()))
}

// send sends a request with the cookie and returns the status and body.
func (r replica) send(t *testing.T, method, path, cookie, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.url+path, body)
	req.Header.Set("Cookie", cookie)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestSessionsAcrossReplicas: with the etcd store, a session opened on
// one replica works on another, and signing out or revoking the token on
// one ends it on every replica at once.
func TestSessionsAcrossReplicas(t *testing.T) {
	c := etcdtest.Start(t, 1)
	st, a := startReplica(t, c.Endpoints())
	_, b := startReplica(t, c.Endpoints())
	tok, secret, err := st.CreateToken(t.Context(), prereg.TokenRequest{Name: "desk"}, "test")
	if err != nil {
		t.Fatal(err)
	}

	cookie := a.signIn(t, secret)
	status, page := b.do(t, http.MethodGet, "/console/registrations", cookie, nil)
	m := csrfField.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("a session of replica A on replica B: %d", status)
	}
	if status, _ := b.do(t, http.MethodPost, "/console/signout", cookie, url.Values{"csrf": {m[1]}}); status != http.StatusSeeOther {
		t.Fatalf("sign-out on B: %d", status)
	}
	if status, _ := a.do(t, http.MethodGet, "/console/registrations", cookie, nil); status != http.StatusSeeOther {
		t.Fatalf("after sign-out on B, replica A answered %d", status)
	}

	cookie = a.signIn(t, secret)
	admin := b.signIn(t, adminToken)
	_, page = b.do(t, http.MethodGet, "/console/tokens", admin, nil)
	m = csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the tokens page")
	}
	if status, _ := b.do(t, http.MethodPost, "/console/tokens/"+tok.ID+"/revoke", admin, url.Values{"csrf": {m[1]}}); status != http.StatusSeeOther {
		t.Fatalf("revoke on B: %d", status)
	}
	if status, _ := a.do(t, http.MethodGet, "/console/registrations", cookie, nil); status != http.StatusSeeOther {
		t.Fatalf("after the token's revoke on B, replica A answered %d", status)
	}
}
