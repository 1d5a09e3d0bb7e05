package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

func TestAuditTrail(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.register(map[string]any{"email": fmt.Sprintf("a%d@example.com", i), "organization_id": "org_a", "roles": []string{"r"}})
	}
	e.register(map[string]any{"email": "b@example.com", "organization_id": "org_b", "roles": []string{"r"}})
	e.hook(map[string]any{"user_id": "u0", "email": "a0@example.com", "email_verified": true})
	e.do("DELETE", "/v1/registrations/"+prereg.RegistrationID("org_a", "a1@example.com"), adminToken, nil)
	e.do("POST", "/v1/erasures", adminToken, map[string]any{"email": "a2@example.com"})
	e.do("GET", "/v1/backup", adminToken, nil)

	page := func(bearer, query string) ([]prereg.AuditEntry, string) {
		t.Helper()
		code, raw := e.do("GET", "/v1/audit?"+query, bearer, nil)
		var p struct {
			Items      []prereg.AuditEntry `json:"items"`
			NextCursor string              `json:"next_cursor"`
		}
		if err := json.Unmarshal(raw, &p); code != 200 || err != nil {
			t.Fatalf("%s: %d %s", query, code, raw)
		}
		return p.Items, p.NextCursor
	}
	// Newest first, paged with a cursor, every entry once.
	var all []prereg.AuditEntry
	cursor := ""
	for {
		items, next := page(adminToken, "limit=3&cursor="+url.QueryEscape(cursor))
		all = append(all, items...)
		if next == "" {
			break
		}
		cursor = next
	}
	actions := map[prereg.AuditAction]int{}
	for i, a := range all {
		actions[a.Action]++
		if i > 0 && all[i-1].At.Before(a.At) {
			t.Fatalf("not newest first at %d", i)
		}
		if strings.Contains(a.Summary, "@example.com") && !strings.Contains(a.Summary, "***@") {
			t.Fatalf("audit summary holds a full address: %q", a.Summary)
		}
		if a.Actor == "" {
			t.Fatalf("entry without actor: %+v", a)
		}
	}
	// The erasure removed the created entry of the registration it erased.
	want := map[prereg.AuditAction]int{prereg.AuditCreated: 5, prereg.AuditGranted: 1, prereg.AuditRevoked: 1, prereg.AuditErased: 1, prereg.AuditBackup: 1, prereg.AuditTokenCreated: 3}
	for a, n := range want {
		if actions[a] != n {
			t.Fatalf("%s: %d entries, want %d (%v)", a, actions[a], n, actions)
		}
	}
	if items, _ := page(adminToken, "action=granted"); len(items) != 1 || items[0].Actor != "hook" {
		t.Fatalf("action filter: %+v", items)
	}
	// A limited token sees only its organization's entries.
	items, _ := page(e.tokens["org_a"], "limit=1000")
	if len(items) == 0 {
		t.Fatal("org_a token sees nothing")
	}
	for _, a := range items {
		if a.OrganizationID != "org_a" {
			t.Fatalf("org_a token saw %+v", a)
		}
	}
	if items, _ := page(e.tokens["org_a"], "organization_id=org_b"); len(items) != 0 {
		t.Fatalf("org_a token read org_b entries: %+v", items)
	}
}
