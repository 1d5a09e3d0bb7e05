package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// An erasure's body must hold a valid address: anything else is refused
// before the store is searched, so the answer says nothing about what the
// store holds.
func TestErasureNeedsAValidAddress(t *testing.T) {
	e := newEnv(t)
	// Another organization's import whose report echoes its own ID.
	if err := e.store.SaveImport(context.Background(), prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: "imp_b", OrganizationID: "org_bbbb"}, Errors: []prereg.RowError{{Line: 2, Column: "organization_id", Value: "org_bbbb", Message: "org_bbbb is not allowed"}}}); err != nil {
		t.Fatal(err)
	}
	for _, body := range []map[string]any{
		{"email": "org_bbbb"},
		{"email": ""},
		{"email": "  "},
		{"email": "a@"},
		{"email": "line\nbreak@example.com"},
		{"email": strings.Repeat("a", 250) + "@example.com"},
		{},
	} {
		for _, who := range []string{"tenant", "org_a"} {
			code, raw := e.do("POST", "/v1/erasures", e.tokens[who], body)
			var out struct {
				Error struct {
					Code    string              `json:"code"`
					Details []prereg.FieldError `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &out); code != 400 || err != nil || out.Error.Code != "invalid_request" ||
				len(out.Error.Details) != 1 || out.Error.Details[0].Field != "email" {
				t.Errorf("%s erasing %v: %d %s, want 400 invalid_request naming the email field", who, body, code, raw)
			}
		}
	}
	rep, err := e.store.Import(context.Background(), "imp_b")
	if err != nil || rep.Errors[0].Value != "org_bbbb" {
		t.Fatalf("the import report was changed by refused erasures: %+v %v", rep, err)
	}
}

// A limited token's answer counts only its organization's registrations
// and import reports.
func TestErasureAnswerOfALimitedToken(t *testing.T) {
	e := newEnv(t)
	e.register(map[string]any{"email": "both@example.com", "organization_id": "org_a", "roles": []string{"r"}})
	e.register(map[string]any{"email": "both@example.com", "organization_id": "org_b", "roles": []string{"r"}})
	for _, org := range []string{"org_b", ""} {
		if err := e.store.SaveImport(context.Background(), prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: "imp_" + org, OrganizationID: org}, Errors: []prereg.RowError{{Line: 2, Column: "roles", Value: "both@example.com", Message: "bad"}}}); err != nil {
			t.Fatal(err)
		}
	}
	code, raw := e.do("POST", "/v1/erasures", e.tokens["org_a"], map[string]any{"email": "Both@Example.com"})
	var out struct {
		Registrations   []string `json:"registrations"`
		ImportsScrubbed int      `json:"imports_scrubbed"`
	}
	if err := json.Unmarshal(raw, &out); code != 200 || err != nil || len(out.Registrations) != 1 ||
		out.Registrations[0] != prereg.RegistrationID("org_a", "both@example.com") || out.ImportsScrubbed != 0 {
		t.Fatalf("org_a's erasure: %d %s, want its one registration and no import report", code, raw)
	}
	if code, raw := e.do("POST", "/v1/erasures", e.tokens["org_a_ro"], map[string]any{"email": "both@example.com"}); code != 403 {
		t.Fatalf("read-only token: %d %s", code, raw)
	}
}
