package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/apicheck"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// client is the HTTP client of the env's calls: every exchange is checked
// against the API description (CONTRACT §11), and a mismatch fails e.t.
func (e *env) client() *http.Client { return apicheck.Client(e.t) }

// theSpec is the checker of the embedded document.
func theSpec(t testing.TB) *apicheck.Checker {
	t.Helper()
	c, err := apicheck.Default()
	if err != nil {
		t.Fatalf("the API description: %v", err)
	}
	return c
}

func TestOpenAPIDocumentLoadsAndIsServed(t *testing.T) {
	e := newEnv(t)
	code, raw, hdr := e.doFull("GET", "/v1/openapi.json", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || !bytes.Equal(raw, httpapi.OpenAPI) {
		t.Fatalf("GET /v1/openapi.json: %d %s", code, hdr.Get("Content-Type"))
	}
	doc, err := apicheck.Load(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hookSecret", "adminToken"} {
		s := doc.Components.SecuritySchemes[name]
		if s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
			t.Errorf("security scheme %s: %+v", name, s)
		}
	}
	hook := doc.Paths.Find("/v1/hooks/post-login").Post
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if hook.Parameters.GetByInAndName("header", h) == nil {
			t.Errorf("the hook does not declare the %s header", h)
		}
	}
	codes := doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum
	for _, c := range []string{"invalid_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict", "payload_too_large", "unsupported_media_type", "rate_limited", "internal", "unavailable"} {
		if !slices.Contains(codes, any(c)) {
			t.Errorf("error code %s is not in the Error schema", c)
		}
	}
}

// ginPath turns gin's /a/:id into OpenAPI's /a/{id}.
func ginPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// Every route gin serves is described, and every operation described is
// served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	console := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	engine, ok := httpapi.New(httpapi.Config{Console: console}, storesOf(store)).Handler().(*gin.Engine)
	if !ok {
		t.Fatal("Handler is not a *gin.Engine")
	}
	served := map[string]bool{}
	consoleRoutes := 0
	for _, r := range engine.Routes() {
		// The console's HTML pages are not the API: left out explicitly.
		if apicheck.IsConsole(r.Path) {
			consoleRoutes++
			continue
		}
		served[r.Method+" "+ginPath(r.Path)] = true
	}
	if consoleRoutes == 0 {
		t.Error("the console is not mounted under /console/")
	}
	described := map[string]bool{}
	for path, item := range theSpec(t).Doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	for r := range served {
		if !described[r] {
			t.Errorf("%s is served but not in the API description", r)
		}
	}
	for r := range described {
		if !served[r] {
			t.Errorf("%s is in the API description but not served", r)
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
}

// The checker is not blind: with a property taken out of the description
// in memory, the same real traffic fails, for an answer and for a request.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	drifted := func(edit func(doc *openapi3.T)) *apicheck.Checker {
		doc, err := apicheck.Load(httpapi.OpenAPI)
		if err != nil {
			t.Fatal(err)
		}
		edit(doc)
		sc, err := apicheck.New(doc)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	dropProperty := func(schema, prop string) func(*openapi3.T) {
		return func(doc *openapi3.T) {
			s := doc.Components.Schemas[schema].Value
			delete(s.Properties, prop)
			s.Required = slices.DeleteFunc(s.Required, func(r string) bool { return r == prop })
		}
	}
	tests := []struct {
		name   string
		edit   func(*openapi3.T)
		method string
		path   string
		body   any
		want   string
	}{
		{"answer property", dropProperty("Registration", "granted_to"), "GET", "/v1/registrations", nil, "granted_to"},
		{"request property", dropProperty("RegistrationInput", "connection"), "POST", "/v1/registrations",
			map[string]any{"email": "drift2@example.com", "roles": []string{"r"}, "connection": "corp"}, "connection"},
		{"status not described", func(doc *openapi3.T) { doc.Paths.Find("/v1/stats").Get.Responses.Delete("200") }, "GET", "/v1/stats", nil, "200"},
		{"route not described", func(doc *openapi3.T) { doc.Paths.Delete("/v1/audit") }, "GET", "/v1/audit", nil, "does not have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(map[string]any{"email": "drift@example.com", "roles": []string{"r"}})
			var failures []string
			cl := &http.Client{Transport: apicheck.Transport{Checker: drifted(tt.edit), Fail: func(f string, a ...any) {
				failures = append(failures, fmt.Sprintf(f, a...))
			}}}
			var r io.Reader
			if tt.body != nil {
				raw, _ := json.Marshal(tt.body)
				r = bytes.NewReader(raw)
			}
			req, _ := http.NewRequest(tt.method, e.srv.URL+tt.path, r)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if len(failures) != 1 || !strings.Contains(failures[0], tt.want) {
				t.Fatalf("want one failure naming %q, got %q", tt.want, failures)
			}
		})
	}
}

// fixedReport is a reconciler that reports the same every time.
type fixedReport prereg.ReconcileReport

func (f fixedReport) Reconcile(context.Context, bool) (prereg.ReconcileReport, error) {
	return prereg.ReconcileReport(f), nil
}

// The routes the other tests of the package leave out, with Auth0 sync on,
// so that their answers are checked against the description too: a retried
// sync, grants carrying their sync state, and reconcile's report.
func TestOpenAPISyncAndReconcileAnswers(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{SyncEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	report := prereg.ReconcileReport{DryRun: true, Checked: 2, Granted: 1, Skipped: 1, Items: []prereg.ReconcileItem{
		{RegistrationID: "reg_1", Email: "a***@example.com", Result: "granted", UserID: "auth0|1"},
		{RegistrationID: "reg_2", OrganizationID: "org_a", Email: "b***@example.com", Result: "skipped", Reason: prereg.ReasonAlreadyClaims},
	}}
	srv := newServer(t, httpapi.Config{HookSecrets: []string{hookSecret}, AdminToken: adminToken,
		Reconciler: fixedReport(report)}, storesOf(store))
	t.Cleanup(func() { srv.Close(); store.Close() })
	e := &env{t: t, srv: srv, store: store}
	reg := e.register(map[string]any{"email": "s@example.com", "organization_id": "org_a", "roles": []string{"r"}})
	if res := e.hook(map[string]any{"user_id": "auth0|s", "email": "s@example.com", "email_verified": true, "organization_id": "org_a"}); len(res.Grants) != 1 || res.Grants[0].Sync != prereg.SyncPending {
		t.Fatalf("hook: %+v", res)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/v1/registrations/" + reg.ID + "/sync", 202},
		{"GET", "/v1/registrations/" + reg.ID, 200},
		{"GET", "/v1/registrations?sync=pending", 200},
		{"POST", "/v1/reconcile?dry_run=true", 200},
	} {
		if code, raw := e.do(c.method, c.path, adminToken, nil); code != c.status || !bytes.Contains(raw, []byte(`"`)) {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, raw)
		}
	}
}
