package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/webhook"
)

// TestLogsLeakNoSecretOrAddress starts the service with debug logging,
// drives every route (each hook outcome, every admin route, successes and
// failures, tokens, imports, exports, backup, erasure, audit, stats,
// metrics, health) with secrets and addresses in every place a caller can
// put them (bodies, query strings, paths, headers), and then searches
// everything the process wrote, stdout and stderr, for each hook secret,
// signing secret, admin token, created token secret and address, in any
// letter case and URL-encoded: none may appear.
func TestLogsLeakNoSecretOrAddress(t *testing.T) {
	signing, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	signingKey, err := webhook.ParseSecret(signing)
	if err != nil {
		t.Fatal(err)
	}
	const oldHook = "logs-old-hook-secret-0123456789-0123456789"
	db := filepath.Join(t.TempDir(), "prereg.db")
	s := startService(t, "--db", db, "--hook-secrets", oldHook+","+crashHookSecret, "--admin-token", crashAdminToken,
		"--signing-secrets", signing, "--log-level", "debug", "--trusted-connections", "corp-saml")

	emails := []string{"Ana.Silva@Example.com", "bob.unverified@example.com", "carol.pinned@example.com", "dave.import@example.com", "eve.erased@example.com", "frank.nomatch@example.com"}
	secrets := []string{oldHook, crashHookSecret, crashAdminToken, signing, strings.TrimPrefix(signing, "whsec_")}
	type call struct {
		method, path, bearer, ctype string
		body                        any
		header                      map[string]string
		want                        int // 0: any status
	}
	do := func(c call) (int, []byte) {
		t.Helper()
		var r io.Reader
		switch b := c.body.(type) {
		case nil:
		case string:
			r = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			r = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(c.method, s.url+c.path, r)
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if c.want != 0 && resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d: %.300s", c.method, c.path, resp.StatusCode, c.want, raw)
		}
		return resp.StatusCode, raw
	}
	hook := func(bearer string, body any, want int) []byte {
		_, raw := do(call{method: "POST", path: "/v1/hooks/post-login", bearer: bearer, body: body, want: want})
		return raw
	}
	admin := func(method, path string, body any, want int) []byte {
		_, raw := do(call{method: method, path: path, bearer: crashAdminToken, body: body, want: want})
		return raw
	}
	ana, bob, carol, dave, eve, frank := emails[0], emails[1], emails[2], emails[3], emails[4], emails[5]

	// Health, readiness, metrics; a secret in a query string.
	do(call{method: "GET", path: "/healthz?token=" + crashAdminToken, want: 200})
	do(call{method: "GET", path: "/readyz", want: 200})

	// Registrations: create, update, unchanged, invalid, conflict later.
	admin("POST", "/v1/registrations", map[string]any{"email": ana, "roles": []string{"billing-admin"}}, 201)
	admin("POST", "/v1/registrations", map[string]any{"email": ana, "organization_id": "org_logs1", "roles": []string{"rol_lEh5V8omwZrnZd9o"}}, 201)
	admin("POST", "/v1/registrations", map[string]any{"email": ana, "organization_id": "org_logs1", "roles": []string{"rol_lEh5V8omwZrnZd9o", "viewer"}}, 200)
	admin("POST", "/v1/registrations", map[string]any{"email": ana, "organization_id": "org_logs1", "roles": []string{"rol_lEh5V8omwZrnZd9o", "viewer"}}, 200)
	admin("POST", "/v1/registrations", map[string]any{"email": bob, "roles": []string{"viewer"}}, 201)
	admin("POST", "/v1/registrations", map[string]any{"email": carol, "roles": []string{"viewer"}, "connection": "corp-saml"}, 201)
	admin("POST", "/v1/registrations", map[string]any{"email": eve, "organization_id": "org_logs2", "roles": []string{"viewer"}, "expires_at": "2099-01-01T00:00:00Z"}, 201)
	admin("POST", "/v1/registrations", map[string]any{"email": "not-an-address " + frank, "roles": []string{"viewer"}}, 400)
	admin("POST", "/v1/registrations", map[string]any{"email": frank, "roles": []string{}, "expires": "tomorrow"}, 400)
	admin("POST", "/v1/registrations", `{"email":"`+frank+`",`, 400)
	admin("POST", "/v1/registrations", map[string]any{"email": frank, "organization_id": "not-an-org", "roles": []string{"a|b"}}, 400)
	do(call{method: "POST", path: "/v1/registrations", bearer: crashAdminToken, body: strings.Repeat("x", 70<<10), want: 413})

	// The hook: every outcome and every refusal.
	hook(crashHookSecret, map[string]any{"user_id": "auth0|ana", "email": strings.ToUpper(ana), "email_verified": true, "organization_id": "org_logs1"}, 200)
	hook(oldHook, map[string]any{"user_id": "auth0|ana", "email": ana, "email_verified": true, "organization_id": "org_logs1"}, 200)
	hook(crashHookSecret, map[string]any{"user_id": "auth0|ana-2", "email": ana, "email_verified": true}, 200)
	hook(crashHookSecret, map[string]any{"user_id": "auth0|bob", "email": bob, "email_verified": false}, 200)
	hook(crashHookSecret, map[string]any{"user_id": "samlp|carol", "email": carol, "connection": "corp-saml"}, 200)
	hook(crashHookSecret, map[string]any{"user_id": "auth0|frank", "email": frank, "email_verified": true}, 200)
	hook(crashHookSecret, map[string]any{"user_id": "auth0|noemail"}, 200)
	hook(crashHookSecret, map[string]any{"email": frank}, 400)
	hook(crashHookSecret, `{"user_id":"u","email":"`+frank+`"`, 400)
	hook(crashHookSecret, `{"user_id":"u","email":["`+frank+`"]}`, 400)
	hook(crashHookSecret, strings.Repeat(frank, 2000), 413)
	hook("", map[string]any{"user_id": "u", "email": frank}, 401)
	hook(crashAdminToken, map[string]any{"user_id": "u", "email": frank}, 401)
	hook(frank, map[string]any{"user_id": "u", "email": frank}, 401)
	hook(crashHookSecret+"x", map[string]any{"user_id": "u", "email": frank}, 401)
	// Signed calls: a good one, a bad one, a stale one.
	body, _ := json.Marshal(map[string]any{"user_id": "auth0|signed", "email": frank, "email_verified": true})
	now := time.Now()
	for _, h := range []map[string]string{
		{"webhook-id": "msg_good", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": webhook.Sign(signingKey, "msg_good", now, body)},
		{"webhook-id": "msg_bad", "webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": "v1," + base64.StdEncoding.EncodeToString([]byte(crashHookSecret))},
		{"webhook-id": "msg_old", "webhook-timestamp": "1", "webhook-signature": webhook.Sign(signingKey, "msg_old", time.Unix(1, 0), body)},
	} {
		do(call{method: "POST", path: "/v1/hooks/post-login", bearer: crashHookSecret, body: string(body), header: h})
	}
	// A caller's request ID that is an address is not taken as is.
	do(call{method: "GET", path: "/healthz", header: map[string]string{"X-Request-ID": frank}, want: 200})

	// Reads, with addresses in query strings and paths.
	q := url.Values{"email": {ana}}.Encode()
	admin("GET", "/v1/registrations?"+q, nil, 200)
	admin("GET", "/v1/registrations?status=granted&organization_id=org_logs1&limit=1", nil, 200)
	admin("GET", "/v1/registrations?status=bogus&email="+url.QueryEscape(frank), nil, 400)
	admin("GET", "/v1/registrations?cursor="+url.QueryEscape(ana), nil, 400)
	admin("GET", "/v1/registrations/"+url.PathEscape(ana), nil, 404)
	admin("GET", "/v1/nope/"+url.PathEscape(ana)+"?email="+url.QueryEscape(ana), nil, 404)
	do(call{method: "PUT", path: "/v1/registrations", bearer: crashAdminToken, want: 0})
	var listed struct {
		Items []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"items"`
	}
	_ = json.Unmarshal(admin("GET", "/v1/registrations?limit=1000", nil, 200), &listed)
	ids := map[string]string{}
	for _, it := range listed.Items {
		ids[strings.ToLower(it.Email)+"|"] = it.ID
	}
	var anaGranted string
	for _, it := range listed.Items {
		if strings.EqualFold(it.Email, ana) {
			anaGranted = it.ID
		}
	}
	if anaGranted == "" || ids[strings.ToLower(bob)+"|"] == "" {
		t.Fatalf("listing: %+v", listed)
	}
	admin("GET", "/v1/registrations/"+anaGranted, nil, 200)
	admin("POST", "/v1/registrations", map[string]any{"email": ana, "roles": []string{"something-else"}}, 409)
	admin("DELETE", "/v1/registrations/"+anaGranted, nil, 409)
	admin("POST", "/v1/registrations/"+anaGranted+"/sync", nil, 0)
	admin("DELETE", "/v1/registrations/"+ids[strings.ToLower(bob)+"|"], nil, 200)
	admin("DELETE", "/v1/registrations/"+anaGranted+"?force=true", nil, 200)
	admin("DELETE", "/v1/registrations/reg_missing", nil, 404)
	admin("GET", "/v1/stats", nil, 200)
	admin("GET", "/v1/stats?organization_id=org_logs1", nil, 200)
	admin("GET", "/v1/audit", nil, 200)
	admin("GET", "/v1/audit?action=granted&organization_id=org_logs1&limit=2", nil, 200)
	admin("GET", "/v1/audit?cursor="+url.QueryEscape(frank), nil, 400)
	admin("POST", "/v1/reconcile", nil, 0)

	// Imports and exports (whatever state they are in).
	csv := "email,roles,organization_id\n" + dave + ",viewer,org_logs1\n<" + frank + ">,viewer,\n" + dave + ",viewer|editor,org_logs1\n"
	_, rep := do(call{method: "POST", path: "/v1/imports?dry_run=true", bearer: crashAdminToken, ctype: "text/csv", body: csv})
	_, rep2 := do(call{method: "POST", path: "/v1/imports", bearer: crashAdminToken, ctype: "text/csv", body: csv})
	do(call{method: "POST", path: "/v1/imports?strict=true", bearer: crashAdminToken, ctype: "text/csv", body: csv})
	do(call{method: "POST", path: "/v1/imports", bearer: crashAdminToken, ctype: "text/csv", body: "mail,rolez\n" + frank + ",x\n"})
	do(call{method: "POST", path: "/v1/imports", bearer: crashAdminToken, ctype: "application/json", body: csv})
	for _, raw := range [][]byte{rep, rep2} {
		var r struct {
			ImportID string `json:"import_id"`
		}
		if json.Unmarshal(raw, &r) == nil && r.ImportID != "" {
			admin("GET", "/v1/imports/"+r.ImportID, nil, 200)
		}
	}
	admin("GET", "/v1/imports/imp_missing", nil, 404)
	do(call{method: "GET", path: "/v1/exports?" + q, bearer: crashAdminToken})
	do(call{method: "GET", path: "/v1/exports", bearer: crashAdminToken})

	// Tokens: create, use, list, revoke, use after revoke; limited and
	// read-only ones hitting 403 and 404.
	var created []string
	var limitedID string
	for _, b := range []map[string]any{
		{"name": "help desk " + frank, "organization_id": "org_logs1", "read_only": true},
		{"name": "org writer", "organization_id": "org_logs1"},
	} {
		var tok struct{ ID, Token string }
		_ = json.Unmarshal(admin("POST", "/v1/tokens", b, 201), &tok)
		if tok.Token == "" {
			t.Fatal("token not created")
		}
		created = append(created, tok.Token)
		limitedID = tok.ID
	}
	admin("POST", "/v1/tokens", map[string]any{"name": "", "organization_id": "nope"}, 400)
	admin("GET", "/v1/tokens", nil, 200)
	ro, rw := created[0], created[1]
	do(call{method: "GET", path: "/v1/registrations", bearer: ro, want: 200})
	do(call{method: "POST", path: "/v1/registrations", bearer: ro, body: map[string]any{"email": frank, "organization_id": "org_logs1", "roles": []string{"r"}}, want: 403})
	do(call{method: "POST", path: "/v1/registrations", bearer: rw, body: map[string]any{"email": frank, "roles": []string{"r"}}, want: 403})
	do(call{method: "GET", path: "/v1/registrations/" + ids[strings.ToLower(carol)+"|"], bearer: rw, want: 404})
	do(call{method: "GET", path: "/v1/backup", bearer: rw, want: 403})
	do(call{method: "GET", path: "/v1/tokens", bearer: ro, want: 403})
	do(call{method: "POST", path: "/v1/erasures", bearer: ro, body: map[string]any{"email": frank}, want: 403})
	admin("DELETE", "/v1/tokens/"+limitedID, nil, 200)
	admin("DELETE", "/v1/tokens/tok_missing", nil, 404)
	do(call{method: "GET", path: "/v1/registrations", bearer: rw, want: 401})
	do(call{method: "GET", path: "/v1/registrations", bearer: crashHookSecret, want: 401})
	do(call{method: "GET", path: "/v1/registrations", bearer: frank, want: 401})
	do(call{method: "GET", path: "/v1/registrations", want: 401})

	// Backup and erasure.
	if _, raw := do(call{method: "GET", path: "/v1/backup", bearer: crashAdminToken, want: 200}); len(raw) == 0 {
		t.Error("empty backup")
	}
	admin("POST", "/v1/erasures", map[string]any{"email": strings.ToUpper(eve)}, 200)
	admin("POST", "/v1/erasures", map[string]any{"email": ""}, 400)
	admin("POST", "/v1/erasures", map[string]any{"email": frank, "extra": ana}, 400)
	do(call{method: "GET", path: "/metrics", want: 200})
	s.stop()

	logs := s.stdout.String() + s.stderr.String()
	lower := strings.ToLower(logs)
	if !strings.Contains(logs, `"route":"/v1/hooks/post-login"`) || !strings.Contains(logs, `"route":"/v1/erasures"`) {
		t.Fatalf("the request log is not there; nothing was checked:\n%.2000s", logs)
	}
	type needle struct{ what, s string }
	var needles []needle
	for _, sec := range append(secrets, created...) {
		needles = append(needles, needle{"a secret", sec})
	}
	for _, e := range emails {
		needles = append(needles, needle{"an address", e}, needle{"an address (URL-encoded)", url.QueryEscape(e)}, needle{"an address (path-escaped)", strings.ReplaceAll(e, "@", "%40")})
	}
	for _, n := range needles {
		if strings.Contains(lower, strings.ToLower(n.s)) {
			i := strings.Index(lower, strings.ToLower(n.s))
			line := logs[strings.LastIndexByte(logs[:i], '\n')+1:]
			if j := strings.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			t.Errorf("the logs hold %s: %.400s", n.what, line)
		}
	}
	t.Logf("%d log lines (%d bytes) searched for %d secrets and %d addresses", strings.Count(logs, "\n"), len(logs), len(secrets)+len(created), len(emails))
}
