package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// fieldError checks an answer is 400 invalid_request with a detail on
// field.
func fieldError(t *testing.T, what string, code int, raw []byte, field string) {
	t.Helper()
	var e apiError
	_ = json.Unmarshal(raw, &e)
	if code != 400 || e.Error.Code != "invalid_request" || !slices.ContainsFunc(e.Error.Details, func(d prereg.FieldError) bool { return d.Field == field }) {
		t.Errorf("%s: %d %s, want 400 invalid_request on %s", what, code, raw, field)
	}
}

// CONTRACT §1 v2: look-alike addresses never claim a registration.
// Matching folds A-Z only and trims ASCII white space only; an address
// holding a control, format or other white-space character is refused
// when registered and never matches on the hook.
func TestLookAlikeAddressesDoNotClaim(t *testing.T) {
	e := newImportEnv(t)
	e.register(map[string]any{"email": "k1@corp.example", "roles": []string{"k-role"}})
	e.register(map[string]any{"email": "i1@corp.example", "roles": []string{"i-role"}})
	lookalikes := []string{
		"\u212A1@corp.example", // Kelvin sign
		"\u01301@corp.example", // I with dot above
		"\u00a0k1@corp.example",
		"k1@corp.example\u0085",
		"k1@corp.example\u2028",
		"\u3000k1@corp.example",
		"k1\u200b@corp.example",
		"\u202Ek1@corp.example",
	}
	for i, email := range lookalikes {
		res := e.hook(map[string]any{"user_id": "auth0|attacker" + string(rune('a'+i)), "email": email, "email_verified": true})
		if res.Outcome != prereg.OutcomeNoMatch || len(res.Roles) != 0 {
			t.Errorf("login as %q: %+v, want no_match", email, res)
		}
	}
	for _, email := range []string{"k1@corp.example", "i1@corp.example"} {
		code, raw := e.do("GET", "/v1/registrations/"+prereg.RegistrationID("", email), adminToken, nil)
		if code != 200 || !strings.Contains(string(raw), `"status":"pending"`) {
			t.Errorf("%s after the look-alikes: %d %s", email, code, raw)
		}
	}
	// The address itself, in any ASCII case and with ASCII white space
	// around it, still claims.
	res := e.hook(map[string]any{"user_id": "auth0|owner", "email": " \tK1@Corp.EXAMPLE\r\n", "email_verified": true})
	if res.Outcome != prereg.OutcomeGranted || !slices.Equal(res.Roles, []string{"k-role"}) {
		t.Errorf("the owner: %+v", res)
	}
	// Registering such an address is refused, naming the field.
	for _, email := range []string{"a\u202E@corp.example", "\u00a0a@corp.example", "a@corp.example\u2028", "a\u3000b@corp.example", "a\x01@corp.example"} {
		code, raw := e.do("POST", "/v1/registrations", adminToken, map[string]any{"email": email, "roles": []string{"r"}})
		fieldError(t, "register "+email, code, raw, "email")
	}
	// In an import, a row error on the email column.
	code, raw := e.doHeaders("POST", "/v1/imports", adminToken, "email,roles\nok@corp.example,r\n\"a\u202E@corp.example\",r\nb@corp.example\u0085,r\n", map[string]string{"Content-Type": "text/csv"})
	var rep prereg.ImportReport
	if err := json.Unmarshal(raw, &rep); code != 200 || err != nil || rep.Created != 1 || len(rep.Errors) != 2 || rep.Errors[0].Column != "email" || rep.Errors[1].Column != "email" {
		t.Errorf("import: %d %s", code, raw)
	}
}

// CONTRACT §2 v2: user_ids that decode to the same string are refused,
// so "victim" keeps its roles to itself.
func TestUserIDNeverMerges(t *testing.T) {
	e := newEnv(t)
	e.register(map[string]any{"email": "victim@example.com", "roles": []string{"victim-role"}})
	e.register(map[string]any{"email": "bait@example.com", "roles": []string{"bait-role"}})
	if res := e.hook(map[string]any{"user_id": "victim", "email": "victim@example.com", "email_verified": true}); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("victim: %+v", res)
	}
	bodies := map[string]string{
		"lone high surrogate": `{"user_id":"victim\ud800","email":"bait@example.com","email_verified":true}`,
		"lone low surrogate":  `{"user_id":"victim\udfff","email":"bait@example.com","email_verified":true}`,
		"escaped U+FFFD":      `{"user_id":"victim\ufffd","email":"bait@example.com","email_verified":true}`,
		"raw U+FFFD":          "{\"user_id\":\"victim\uFFFD\",\"email\":\"bait@example.com\",\"email_verified\":true}",
		"raw invalid byte":    "{\"user_id\":\"victim\xff\",\"email\":\"bait@example.com\",\"email_verified\":true}",
		"C1 control":          `{"user_id":"victim\u0085","email":"bait@example.com","email_verified":true}`,
		"too long":            `{"user_id":"` + strings.Repeat("v", prereg.MaxUserIDBytes+1) + `","email":"bait@example.com","email_verified":true}`,
		"empty":               `{"user_id":"","email":"bait@example.com","email_verified":true}`,
	}
	for name, body := range bodies {
		code, raw := e.do("POST", "/v1/hooks/post-login", hookSecret, []byte(body))
		fieldError(t, name, code, raw, "user_id")
	}
	// Nothing was claimed, and each look-alike of victim's ID is refused
	// rather than answered with victim's grants.
	code, raw := e.do("GET", "/v1/registrations/"+prereg.RegistrationID("", "bait@example.com"), adminToken, nil)
	if code != 200 || !strings.Contains(string(raw), `"status":"pending"`) {
		t.Errorf("bait after the attempts: %d %s", code, raw)
	}
	res := e.hook(map[string]any{"user_id": "victim", "email": "victim@example.com", "email_verified": true})
	if res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, []string{"victim-role"}) || len(res.Grants) != 1 {
		t.Errorf("victim afterwards: %+v", res)
	}
	// A user_id at the limit, and one with non-ASCII letters, are fine.
	for _, id := range []string{strings.Repeat("u", prereg.MaxUserIDBytes), "samlp|corp|José"} {
		if res := e.hook(map[string]any{"user_id": id, "email": "nobody@example.com"}); res.Outcome != prereg.OutcomeNoMatch {
			t.Errorf("%q: %+v", id, res)
		}
	}
}

// CONTRACT §1 v2: expires_at from 2000-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z: what is accepted is what is read back, listed,
// exported, counted and compared on the hook; outside is a field error.
func TestExpiresAtRange(t *testing.T) {
	e := newImportEnv(t)
	accepted := []struct {
		email, in, want, status string
	}{
		{"first@example.com", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "expired"},
		{"last@example.com", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "pending"},
		{"never@example.com", "9999-12-31", "9999-12-31T23:59:59Z", "pending"},
	}
	for _, tt := range accepted {
		code, raw := e.do("POST", "/v1/registrations", adminToken, map[string]any{"email": tt.email, "roles": []string{"r"}, "expires_at": tt.in})
		var r prereg.Registration
		_ = json.Unmarshal(raw, &r)
		if code != 201 || prereg.FormatExpiry(r.ExpiresAt) != tt.want {
			t.Errorf("register %s: %d %s", tt.in, code, raw)
		}
		code, raw = e.do("GET", "/v1/registrations/"+r.ID, adminToken, nil)
		if code != 200 || !strings.Contains(string(raw), `"expires_at":"`+tt.want+`"`) || !strings.Contains(string(raw), `"status":"`+tt.status+`"`) {
			t.Errorf("get %s: %d %s", tt.in, code, raw)
		}
		code, raw = e.do("GET", "/v1/registrations?status="+tt.status+"&email="+tt.email, adminToken, nil)
		if code != 200 || !strings.Contains(string(raw), `"expires_at":"`+tt.want+`"`) {
			t.Errorf("list %s: %d %s", tt.in, code, raw)
		}
		code, raw = e.do("GET", "/v1/exports?email="+tt.email, adminToken, nil)
		if code != 200 || !strings.Contains(string(raw)+",", ","+tt.want+",") && !strings.Contains(string(raw), ","+tt.want+"\n") {
			t.Errorf("export %s: %d %s", tt.in, code, raw)
		}
	}
	code, raw := e.do("GET", "/v1/stats", adminToken, nil)
	if code != 200 || !strings.Contains(string(raw), `"pending":2,"granted":0,"revoked":0,"expired":1`) {
		t.Errorf("stats: %d %s", code, raw)
	}
	for _, tt := range accepted {
		want := map[string]prereg.Outcome{"pending": prereg.OutcomeGranted, "expired": prereg.OutcomeNoMatch}[tt.status]
		if res := e.hook(map[string]any{"user_id": "auth0|" + tt.email, "email": tt.email, "email_verified": true}); res.Outcome != want {
			t.Errorf("hook %s: %+v, want %s", tt.email, res, want)
		}
	}
	for _, in := range []string{"1999-12-31T23:59:59Z", "1999-12-31", "9999-12-31T23:59:59.5Z", "9999-12-31T23:59:59-01:00", "1970-01-01T00:00:00Z", "1600-01-01"} {
		code, raw := e.do("POST", "/v1/registrations", adminToken, map[string]any{"email": "out@example.com", "roles": []string{"r"}, "expires_at": in})
		fieldError(t, "register "+in, code, raw, "expires_at")
	}
	code, raw = e.doHeaders("POST", "/v1/imports", adminToken, "email,roles,expires_at\nout@example.com,r,1600-01-01\nout2@example.com,r,2000-01-01T00:00:00Z\n", map[string]string{"Content-Type": "text/csv"})
	var rep prereg.ImportReport
	if err := json.Unmarshal(raw, &rep); code != 200 || err != nil || rep.Created != 1 || len(rep.Errors) != 1 || rep.Errors[0].Column != "expires_at" || rep.Errors[0].Line != 2 {
		t.Errorf("import: %d %s", code, raw)
	}
}
