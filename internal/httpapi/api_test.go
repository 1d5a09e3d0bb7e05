package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

const (
	hookSecret = "hook-secret-0123456789-0123456789-abcdef"
	adminToken = "admin-token-0123456789-0123456789-abcdef"
)

// env is a real router over HTTP on a real store in a temp dir.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	store  *boltstore.Store
	tokens map[string]string // principal name -> bearer
}

func newEnv(t *testing.T, mutate ...func(*httpapi.Config)) *env {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{HookSecrets: []string{hookSecret}, AdminToken: adminToken, TrustedConnections: []string{"corp-saml"}}
	for _, m := range mutate {
		m(&cfg)
	}
	srv := newServer(t, cfg, storesOf(store))
	t.Cleanup(func() {
		srv.Close()
		if errs := store.Check(); len(errs) > 0 {
			t.Errorf("Tx.Check: %v", errs)
		}
		store.Close()
	})
	e := &env{t: t, srv: srv, store: store, tokens: map[string]string{"tenant": adminToken, "hook": hookSecret, "none": ""}}
	ctx := context.Background()
	for name, spec := range map[string]struct {
		org string
		ro  bool
	}{"org_a": {"org_a", false}, "org_a_ro": {"org_a", true}, "tenant_ro": {"", true}} {
		_, secret, err := store.CreateToken(ctx, prereg.TokenRequest{Name: name, OrganizationID: spec.org, ReadOnly: spec.ro}, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	return e
}

func newServer(t *testing.T, cfg httpapi.Config, stores httpapi.Stores) *httptest.Server {
	t.Helper()
	return httptest.NewServer(httpapi.New(cfg, stores).Handler())
}

// storesOf serves every resource of the API from the bbolt store, as
// prereg serve does.
func storesOf(s *boltstore.Store) httpapi.Stores {
	return httpapi.Stores{Logins: s, Registrations: s, SyncQueue: s, Stats: s, Erasures: s,
		Audit: s, Backups: s, Imports: s, Tokens: s, Health: s}
}

// csvImporter runs imports with package importer over the store, as
// prereg serve does; before, when set, runs first.
type csvImporter struct {
	store  *boltstore.Store
	tmp    string
	before func()
}

func (c csvImporter) Run(ctx context.Context, r io.Reader, p prereg.Principal, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	if c.before != nil {
		c.before()
	}
	return importer.Run(ctx, c.store, r, importer.Options{DryRun: o.DryRun, Strict: o.Strict, Principal: p, TempDir: c.tmp})
}

// csvExporter writes exports with package csvio, as prereg serve does.
type csvExporter struct{}

func (csvExporter) NewEncoder(w io.Writer) httpapi.Encoder { return csvio.NewEncoder(w) }

func (e *env) do(method, path, bearer string, body any) (int, []byte) {
	e.t.Helper()
	return e.doHeaders(method, path, bearer, body, nil)
}

// doFull is do without a body, also returning the answer's headers.
func (e *env) doFull(method, path, bearer string) (int, []byte, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

func (e *env) doHeaders(method, path, bearer string, body any, headers map[string]string) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (e *env) register(in map[string]any) prereg.Registration {
	e.t.Helper()
	code, raw := e.do("POST", "/v1/registrations", adminToken, in)
	if code != 201 && code != 200 {
		e.t.Fatalf("register %v: %d %s", in, code, raw)
	}
	var r prereg.Registration
	_ = json.Unmarshal(raw, &r)
	return r
}

func (e *env) hook(login map[string]any) prereg.HookResult {
	e.t.Helper()
	code, raw := e.do("POST", "/v1/hooks/post-login", hookSecret, login)
	if code != 200 {
		e.t.Fatalf("hook %v: %d %s", login, code, raw)
	}
	var res prereg.HookResult
	if err := json.Unmarshal(raw, &res); err != nil {
		e.t.Fatal(err)
	}
	return res
}

type apiError struct {
	Error struct {
		Code    string              `json:"code"`
		Message string              `json:"message"`
		Details []prereg.FieldError `json:"details"`
	} `json:"error"`
}

func decodeErr(t *testing.T, raw []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a contract error body: %s", raw)
	}
	return e
}

func TestHookOutcomes(t *testing.T) {
	e := newEnv(t)
	e.register(map[string]any{"email": "Ana.Silva@Example.com", "roles": []string{"billing-admin"}})
	e.register(map[string]any{"email": "ana.silva@example.com", "organization_id": "org_dr3b5S9l3sReLayv", "roles": []string{"rol_lEh5V8omwZrnZd9o", "billing-admin"}})
	e.register(map[string]any{"email": "bo@example.com", "roles": []string{"viewer"}})
	e.register(map[string]any{"email": "saml@example.com", "roles": []string{"staff"}})

	// Unverified: nothing claimed, roles empty.
	res := e.hook(map[string]any{"user_id": "auth0|1", "email": "ana.silva@example.com", "email_verified": false})
	if res.Outcome != prereg.OutcomeEmailUnverified || len(res.Roles) != 0 || res.EmailVerified {
		t.Fatalf("unverified: %+v", res)
	}
	// Missing email_verified counts as not verified.
	if res := e.hook(map[string]any{"user_id": "auth0|1", "email": "ana.silva@example.com"}); res.Outcome != prereg.OutcomeEmailUnverified {
		t.Fatalf("missing email_verified: %+v", res)
	}
	// Granted in the organization: tenant-wide + this organization's roles, deduplicated.
	res = e.hook(map[string]any{"user_id": "auth0|1", "email": "ANA.SILVA@example.com", "email_verified": true, "organization_id": "org_dr3b5S9l3sReLayv", "connection": "Username-Password-Authentication", "extra": "ignored"})
	if res.Outcome != prereg.OutcomeGranted || !slices.Equal(res.Roles, []string{"billing-admin", "rol_lEh5V8omwZrnZd9o"}) || len(res.Grants) != 2 {
		t.Fatalf("granted: %+v", res)
	}
	// Again without organization: already granted, tenant-wide roles only, every grant listed.
	res = e.hook(map[string]any{"user_id": "auth0|1", "email": "ana.silva@example.com", "email_verified": true})
	if res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, []string{"billing-admin"}) || len(res.Grants) != 2 {
		t.Fatalf("already granted: %+v", res)
	}
	// A second account with the same address gets nothing.
	if res := e.hook(map[string]any{"user_id": "google-oauth2|2", "email": "ana.silva@example.com", "email_verified": true}); res.Outcome != prereg.OutcomeNoMatch || len(res.Grants) != 0 {
		t.Fatalf("second account: %+v", res)
	}
	// No email: no_match, also for a user with earlier grants (CONTRACT §2).
	if res := e.hook(map[string]any{"user_id": "sms|3"}); res.Outcome != prereg.OutcomeNoMatch || res.Roles == nil || res.Grants == nil {
		t.Fatalf("no email: %+v", res)
	}
	if res := e.hook(map[string]any{"user_id": "auth0|1", "email_verified": true}); res.Outcome != prereg.OutcomeNoMatch || len(res.Roles) != 0 {
		t.Fatalf("no email, earlier grants: %+v", res)
	}
	// Trusted connection counts as verified.
	res = e.hook(map[string]any{"user_id": "samlp|4", "email": "saml@example.com", "email_verified": false, "connection": "corp-saml"})
	if res.Outcome != prereg.OutcomeGranted || !res.EmailVerified {
		t.Fatalf("trusted connection: %+v", res)
	}
	// The grant is visible in the admin list.
	code, raw := e.do("GET", "/v1/registrations?status=granted&email=Ana.Silva@example.com", adminToken, nil)
	var page struct{ Items []prereg.Registration }
	_ = json.Unmarshal(raw, &page)
	if code != 200 || len(page.Items) != 2 || page.Items[0].GrantedTo != "auth0|1" {
		t.Fatalf("list granted: %d %s", code, raw)
	}
}

// Concurrent logins each get their own answer: the hook reads bodies and
// writes answers in pooled buffers, and half the bodies here are large
// (an unknown field of 12 KiB) so that a buffer handed on with an old
// body or answer in it would show.
func TestConcurrentHookAnswersStayApart(t *testing.T) {
	e := newEnv(t)
	const users, calls = 16, 40
	ids := make([]string, users)
	for i := range users {
		ids[i] = e.register(map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "roles": []string{fmt.Sprintf("role-%d", i)}}).ID
	}
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			login := map[string]any{"user_id": fmt.Sprintf("auth0|user%d", i), "email": fmt.Sprintf("user%d@example.com", i), "email_verified": true}
			if i%2 == 1 {
				login["padding"] = strings.Repeat("x", 12<<10)
			}
			body, _ := json.Marshal(login)
			for n := range calls {
				req, _ := http.NewRequest("POST", e.srv.URL+"/v1/hooks/post-login", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+hookSecret)
				resp, err := e.client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var res prereg.HookResult
				if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != 200 {
					t.Errorf("user %d call %d: %d %s", i, n, resp.StatusCode, raw)
					return
				}
				want := prereg.OutcomeAlreadyGranted
				if n == 0 {
					want = prereg.OutcomeGranted
				}
				if res.Outcome != want || !slices.Equal(res.Roles, []string{fmt.Sprintf("role-%d", i)}) || len(res.Grants) != 1 || res.Grants[0].RegistrationID != ids[i] {
					t.Errorf("user %d call %d got another answer: %s", i, n, raw)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHookRejects(t *testing.T) {
	e := newEnv(t)
	big := `{"user_id":"u","email":"` + strings.Repeat("a", 17<<10) + `"}`
	tests := []struct {
		name   string
		bearer string
		body   string
		status int
		code   string
	}{
		{"no secret", "", `{"user_id":"u"}`, 401, "unauthorized"},
		{"admin token is not a hook secret", adminToken, `{"user_id":"u"}`, 401, "unauthorized"},
		{"wrong secret", hookSecret + "x", `{"user_id":"u"}`, 401, "unauthorized"},
		{"oversize body", hookSecret, big, 413, "payload_too_large"},
		{"not JSON", hookSecret, `{"user_id":`, 400, "invalid_request"},
		{"missing user_id", hookSecret, `{"email":"a@b.io"}`, 400, "invalid_request"},
		{"control character in user_id", hookSecret, `{"user_id":"auth0|a\u0000b"}`, 400, "invalid_request"},
		{"wrong type", hookSecret, `{"user_id":"u","email_verified":"yes"}`, 400, "invalid_request"},
		{"empty body", hookSecret, ``, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, raw := e.do("POST", "/v1/hooks/post-login", tt.bearer, tt.body)
			if code != tt.status {
				t.Fatalf("status %d, want %d: %s", code, tt.status, raw)
			}
			if got := decodeErr(t, raw).Error.Code; got != tt.code {
				t.Fatalf("code %s, want %s", got, tt.code)
			}
		})
	}
}

// TestAdminAuthorization checks every admin route against every kind of
// caller. Each case gets a fresh store, so writes do not leak between cases.
func TestAdminAuthorization(t *testing.T) {
	regA := prereg.RegistrationID("org_a", "a@example.com")
	regB := prereg.RegistrationID("org_b", "b@example.com")
	type route struct {
		method, path string
		body         any
	}
	routes := map[string]route{
		"create in own org":   {"POST", "/v1/registrations", map[string]any{"email": "new@example.com", "organization_id": "org_a", "roles": []string{"r"}}},
		"create in other org": {"POST", "/v1/registrations", map[string]any{"email": "new@example.com", "organization_id": "org_b", "roles": []string{"r"}}},
		"create tenant-wide":  {"POST", "/v1/registrations", map[string]any{"email": "new@example.com", "roles": []string{"r"}}},
		"list":                {"GET", "/v1/registrations", nil},
		"get own":             {"GET", "/v1/registrations/" + regA, nil},
		"get other":           {"GET", "/v1/registrations/" + regB, nil},
		"revoke own":          {"DELETE", "/v1/registrations/" + regA, nil},
		"revoke other":        {"DELETE", "/v1/registrations/" + regB, nil},
		"stats":               {"GET", "/v1/stats", nil},
		"audit":               {"GET", "/v1/audit", nil},
		"erase":               {"POST", "/v1/erasures", map[string]any{"email": "a@example.com"}},
		"backup":              {"GET", "/v1/backup", nil},
		"create token":        {"POST", "/v1/tokens", map[string]any{"name": "x"}},
		"list tokens":         {"GET", "/v1/tokens", nil},
		"missing import":      {"GET", "/v1/imports/imp_nope", nil},
	}
	// expected status per route for: tenant, org_a, org_a_ro, tenant_ro, hook, none.
	want := map[string][6]int{
		"create in own org":   {201, 201, 403, 403, 401, 401},
		"create in other org": {201, 403, 403, 403, 401, 401},
		"create tenant-wide":  {201, 403, 403, 403, 401, 401},
		"list":                {200, 200, 200, 200, 401, 401},
		"get own":             {200, 200, 200, 200, 401, 401},
		"get other":           {200, 404, 404, 200, 401, 401},
		"revoke own":          {200, 200, 403, 403, 401, 401},
		"revoke other":        {200, 404, 404, 403, 401, 401},
		"stats":               {200, 200, 200, 200, 401, 401},
		"audit":               {200, 200, 200, 200, 401, 401},
		"erase":               {200, 200, 403, 403, 401, 401},
		"backup":              {200, 403, 403, 403, 401, 401},
		"create token":        {201, 403, 403, 403, 401, 401},
		"list tokens":         {200, 403, 403, 403, 401, 401},
		"missing import":      {404, 404, 404, 404, 401, 401},
	}
	callers := []string{"tenant", "org_a", "org_a_ro", "tenant_ro", "hook", "none"}
	for name, rt := range routes {
		for i, who := range callers {
			t.Run(name+"/"+who, func(t *testing.T) {
				e := newEnv(t)
				e.register(map[string]any{"email": "a@example.com", "organization_id": "org_a", "roles": []string{"r"}})
				e.register(map[string]any{"email": "b@example.com", "organization_id": "org_b", "roles": []string{"r"}})
				code, raw := e.do(rt.method, rt.path, e.tokens[who], rt.body)
				if code != want[name][i] {
					t.Fatalf("%s %s as %s: %d, want %d: %s", rt.method, rt.path, who, code, want[name][i], raw)
				}
				if code >= 400 {
					decodeErr(t, raw)
				}
			})
		}
	}
}

func TestLimitedTokenSeesOnlyItsOrganization(t *testing.T) {
	e := newEnv(t)
	for i := range 6 {
		org := []string{"", "org_a", "org_b"}[i%3]
		e.register(map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "organization_id": org, "roles": []string{"r"}})
	}
	for _, path := range []string{"/v1/registrations", "/v1/registrations?organization_id=org_b", "/v1/registrations?organization_id=", "/v1/audit"} {
		code, raw := e.do("GET", path, e.tokens["org_a"], nil)
		var page struct {
			Items []struct {
				OrganizationID string `json:"organization_id"`
			}
		}
		if err := json.Unmarshal(raw, &page); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		for _, it := range page.Items {
			if it.OrganizationID != "org_a" {
				t.Fatalf("%s: org_a token saw %q", path, it.OrganizationID)
			}
		}
	}
	code, raw := e.do("GET", "/v1/stats", e.tokens["org_a"], nil)
	var st prereg.Stats
	_ = json.Unmarshal(raw, &st)
	if code != 200 || st.Overall.Total != 2 || len(st.ByOrganization) != 1 {
		t.Fatalf("stats: %d %s", code, raw)
	}
	// An erasure by a limited token leaves other organizations' records.
	e.register(map[string]any{"email": "shared@example.com", "organization_id": "org_b", "roles": []string{"r"}})
	e.register(map[string]any{"email": "shared@example.com", "organization_id": "org_a", "roles": []string{"r"}})
	if code, raw := e.do("POST", "/v1/erasures", e.tokens["org_a"], map[string]any{"email": "shared@example.com"}); code != 200 {
		t.Fatalf("erase: %d %s", code, raw)
	}
	if _, err := e.store.Get(context.Background(), prereg.RegistrationID("org_b", "shared@example.com")); err != nil {
		t.Fatalf("org_b record erased by an org_a token: %v", err)
	}
}

func TestPagingThroughHTTP(t *testing.T) {
	e := newEnv(t)
	var items []prereg.Input
	for i := range 2500 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("p%04d@example.com", i), Roles: []string{"r"}})
	}
	if _, err := e.store.ApplyBatch(context.Background(), items, "import:imp_t", "test", false); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	cursor := ""
	pages := 0
	for {
		code, raw := e.do("GET", "/v1/registrations?limit=100&cursor="+cursor, adminToken, nil)
		if code != 200 {
			t.Fatalf("%d %s", code, raw)
		}
		var page struct {
			Items      []prereg.Registration `json:"items"`
			NextCursor string                `json:"next_cursor"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Items {
			seen[r.ID]++
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(seen) != 2500 || pages != 25 {
		t.Fatalf("saw %d distinct in %d pages", len(seen), pages)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times", id, n)
		}
	}
}

func TestAdminBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"bad email", "POST", "/v1/registrations", map[string]any{"email": "ana@", "roles": []string{"r"}}, 400, "email"},
		{"no roles", "POST", "/v1/registrations", map[string]any{"email": "a@b.io", "roles": []string{}}, 400, "roles"},
		{"bad org", "POST", "/v1/registrations", map[string]any{"email": "a@b.io", "organization_id": "acme", "roles": []string{"r"}}, 400, "organization_id"},
		{"role with pipe", "POST", "/v1/registrations", map[string]any{"email": "a@b.io", "roles": []string{"a|b"}}, 400, "roles"},
		{"bad expiry", "POST", "/v1/registrations", map[string]any{"email": "a@b.io", "roles": []string{"r"}, "expires_at": "tomorrow"}, 400, "expires_at"},
		{"unknown field", "POST", "/v1/registrations", `{"email":"a@b.io","roles":["r"],"expires":"2027-01-01"}`, 400, ""},
		{"bad status filter", "GET", "/v1/registrations?status=active", nil, 400, "status"},
		{"limit too big", "GET", "/v1/registrations?limit=1001", nil, 400, "limit"},
		{"bad cursor", "GET", "/v1/registrations?cursor=zz", nil, 400, ""},
		{"oversize admin body", "POST", "/v1/registrations", `{"email":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
		{"unknown route", "GET", "/v1/nothing", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, raw := e.do(tt.method, tt.path, adminToken, tt.body)
			if code != tt.status {
				t.Fatalf("%d, want %d: %s", code, tt.status, raw)
			}
			er := decodeErr(t, raw)
			if tt.field != "" && !slices.ContainsFunc(er.Error.Details, func(d prereg.FieldError) bool { return d.Field == tt.field }) {
				t.Fatalf("no detail for %s: %s", tt.field, raw)
			}
		})
	}
}

func TestWriteStatusesAndConflict(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"email": "c@example.com", "roles": []string{"r"}}
	if code, _ := e.do("POST", "/v1/registrations", adminToken, body); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := e.do("POST", "/v1/registrations", adminToken, body); code != 200 {
		t.Fatalf("unchanged: %d", code)
	}
	e.hook(map[string]any{"user_id": "u1", "email": "c@example.com", "email_verified": true})
	if code, _ := e.do("POST", "/v1/registrations", adminToken, body); code != 200 {
		t.Fatalf("identical to granted: %d", code)
	}
	body["roles"] = []string{"other"}
	code, raw := e.do("POST", "/v1/registrations", adminToken, body)
	if code != 409 || decodeErr(t, raw).Error.Code != "conflict" {
		t.Fatalf("different to granted: %d %s", code, raw)
	}
	id := prereg.RegistrationID("", "c@example.com")
	if code, _ := e.do("DELETE", "/v1/registrations/"+id, adminToken, nil); code != 409 {
		t.Fatalf("revoke granted without force: %d", code)
	}
	code, raw = e.do("DELETE", "/v1/registrations/"+id+"?force=true", adminToken, nil)
	var r prereg.Registration
	_ = json.Unmarshal(raw, &r)
	if code != 200 || r.Status != prereg.StatusRevoked || r.GrantedTo != "u1" {
		t.Fatalf("force revoke: %d %s", code, raw)
	}
}

func TestTokensLifecycle(t *testing.T) {
	e := newEnv(t)
	code, raw := e.do("POST", "/v1/tokens", adminToken, map[string]any{"name": "help desk", "organization_id": "org_a", "read_only": true})
	var tok struct{ ID, Token string }
	_ = json.Unmarshal(raw, &tok)
	if code != 201 || tok.Token == "" || tok.ID == "" {
		t.Fatalf("create: %d %s", code, raw)
	}
	_, raw = e.do("GET", "/v1/tokens", adminToken, nil)
	if bytes.Contains(raw, []byte(tok.Token)) || bytes.Contains(raw, []byte(`"hash"`)) {
		t.Fatalf("token list leaks secrets: %s", raw)
	}
	if code, _ := e.do("GET", "/v1/registrations", tok.Token, nil); code != 200 {
		t.Fatalf("new token: %d", code)
	}
	if code, _ := e.do("DELETE", "/v1/tokens/"+tok.ID, adminToken, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := e.do("GET", "/v1/registrations", tok.Token, nil); code != 401 {
		t.Fatalf("revoked token: %d", code)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, raw := e.do("GET", p, "", nil); code != 200 {
			t.Fatalf("%s: %d %s", p, code, raw)
		}
	}
	e.hook(map[string]any{"user_id": "u", "email": "x@example.com"})
	e.hook(map[string]any{"user_id": "u", "email": "x@example.com"})
	// Made-up methods share one label.
	for _, m := range []string{"BREW", "WHEN"} {
		e.do(m, "/healthz", "", nil)
	}
	code, raw := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`prereg_hook_outcomes_total{outcome="no_match"} 2`,
		`prereg_http_requests_total{method="POST",route="/v1/hooks/post-login",status="200"} 2`,
		`prereg_http_request_duration_seconds_count{route="/v1/hooks/post-login"} 2`,
		`prereg_http_requests_total{method="other",route="unmatched",status="405"} 2`,
	} {
		if code != 200 || !bytes.Contains(raw, []byte(want)) {
			t.Fatalf("metrics: %d, want %s in\n%s", code, want, raw)
		}
	}
	if bytes.Contains(raw, []byte("BREW")) {
		t.Fatalf("a made-up method became a label:\n%s", raw)
	}
}
