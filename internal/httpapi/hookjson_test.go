package httpapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/prereg/prereg/internal/prereg"
)

func TestAppendHookResultMatchesEncodingJSON(t *testing.T) {
	tests := []prereg.HookResult{
		{Outcome: prereg.OutcomeNoMatch, Roles: []string{}, Grants: []prereg.Grant{}},
		{Outcome: prereg.OutcomeEmailUnverified, EmailVerified: false, Roles: []string{}, Grants: []prereg.Grant{}},
		{Outcome: prereg.OutcomeGranted, EmailVerified: true, Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing-admin"}, Grants: []prereg.Grant{
			{RegistrationID: "reg_0123456789abcdefghijklmn", Roles: []string{"billing-admin"}, Status: prereg.StatusGranted},
			{RegistrationID: "reg_x", OrganizationID: "org_dr3b5S9l3sReLayv", Roles: []string{"rol_lEh5V8omwZrnZd9o"}, Status: prereg.StatusGranted, Sync: prereg.SyncDone},
		}},
		// What encoding/json escapes, and what it does with odd input.
		{Outcome: "x", Roles: []string{`a"b`, `c\d`, "<script>&", "tab\there", "new\nline", "\x00\x1f\x7f", "naïve Ünïcødé ✓", "\u2028\u2029", "bad \xff utf-8", ""}, Grants: []prereg.Grant{{Roles: nil, Sync: prereg.SyncFailed}}},
		{Outcome: prereg.OutcomeAlreadyGranted, Roles: nil, Grants: nil},
	}
	for _, res := range tests {
		sameAsEncodingJSON(t, res)
	}
}

// sameAsEncodingJSON fails t unless appendHookResult writes what
// encoding/json writes for res.
func sameAsEncodingJSON(t *testing.T, res prereg.HookResult) {
	t.Helper()
	want, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendHookResult(nil, &res); string(got) != string(want) {
		t.Errorf("appendHookResult:\n got %s\nwant %s", got, want)
	}
}

func FuzzAppendHookResult(f *testing.F) {
	f.Add("granted", "reg_1", "org_1", "viewer", "billing <admin> & co", "done", true)
	f.Add("", "", "", "", "\xff\"\\\u2028", "", false)
	f.Fuzz(func(t *testing.T, outcome, id, org, role1, role2, sync string, verified bool) {
		res := prereg.HookResult{Outcome: prereg.Outcome(outcome), EmailVerified: verified, Roles: []string{role1, role2},
			Grants: []prereg.Grant{{RegistrationID: id, OrganizationID: org, Roles: []string{role2}, Status: prereg.StatusGranted, Sync: prereg.SyncState(sync)}}}
		sameAsEncodingJSON(t, res)
	})
}

// BenchmarkHookResultJSON compares the hook's encoder with encoding/json on
// an already_granted answer with two grants.
func BenchmarkHookResultJSON(b *testing.B) {
	res := prereg.HookResult{Outcome: prereg.OutcomeAlreadyGranted, EmailVerified: true, Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing-admin"}, Grants: []prereg.Grant{
		{RegistrationID: "reg_0123456789abcdefghijklmn", Roles: []string{"billing-admin"}, Status: prereg.StatusGranted},
		{RegistrationID: "reg_0123456789abcdefghijklmo", OrganizationID: "org_dr3b5S9l3sReLayv", Roles: []string{"rol_lEh5V8omwZrnZd9o"}, Status: prereg.StatusGranted, Sync: prereg.SyncDone},
	}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendHookResult(make([]byte, 0, 512), &res)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(res)
		}
	})
}

func TestDecodeLoginMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		body string
		fast bool // read without encoding/json
	}{
		{"action body", `{"user_id":"auth0|63d16bb22b2c1a2ae38bad61","email":"Ana.Silva@Example.com","email_verified":true,"organization_id":"org_dr3b5S9l3sReLayv","connection":"Username-Password-Authentication"}`, true},
		{"spaces and unverified", " {\n\t\"user_id\" : \"u\" ,\r\n \"email_verified\" : false } \n", true},
		{"empty object", `{}`, true},
		{"non-ASCII address", `{"user_id":"u","email":"jürgen@bücher.example"}`, true},
		{"duplicate key: the last wins", `{"user_id":"a","user_id":"b"}`, true},
		{"escape", `{"user_id":"a\"b","email":"x\u0040y"}`, false},
		{"null", `{"user_id":"u","email":null}`, false},
		{"unknown field", `{"user_id":"u","app_metadata":{"a":[1,2]}}`, false},
		{"key in other case", `{"User_ID":"u"}`, false},
		{"invalid UTF-8", "{\"user_id\":\"u\xff\"}", false},
		{"invalid UTF-8 in the address", "{\"user_id\":\"u\",\"email\":\"a\xff@b.io\"}", false},
		{"a surrogate in UTF-8 form", "{\"user_id\":\"u\xed\xa0\x80\"}", false},
		{"lone surrogate escape", `{"user_id":"u\ud800"}`, false},
		{"U+FFFD as is", "{\"user_id\":\"u\uFFFD\"}", true},
		{"control character", "{\"user_id\":\"u\x01\"}", false},
		{"string for a bool", `{"user_id":"u","email_verified":"true"}`, false},
		{"bool for a string", `{"user_id":true}`, false},
		{"literal run on", `{"user_id":"u","email_verified":truex}`, false},
		{"trailing data", `{"user_id":"u"}{}`, false},
		{"trailing comma", `{"user_id":"u",}`, false},
		{"cut short", `{"user_id":"u"`, false},
		{"array", `[]`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l prereg.Login
			if got := loginFast([]byte(tt.body), &l); got != tt.fast {
				t.Errorf("loginFast = %v, want %v", got, tt.fast)
			}
			sameLoginAsEncodingJSON(t, []byte(tt.body))
		})
	}
}

// sameLoginAsEncodingJSON fails t unless decodeLogin gives what
// decodeJSON (encoding/json) gives for body: the same login, or an error
// with the same message.
func sameLoginAsEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	var got, want prereg.Login
	gotErr, wantErr := decodeLogin(body, &got), decodeJSON(body, &want, false)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%q: error %v, encoding/json's %v", body, gotErr, wantErr)
	}
	if got != want {
		t.Errorf("%q:\n got %+v\nwant %+v", body, got, want)
	}
	// Never raw invalid bytes: those become U+FFFD, which
	// prereg.Login.Validate refuses in a user_id.
	for _, f := range []string{got.UserID, got.Email, got.OrganizationID, got.Connection} {
		if !utf8.ValidString(f) {
			t.Errorf("%q: decoded %q, not valid UTF-8", body, f)
		}
	}
}

func FuzzDecodeLogin(f *testing.F) {
	f.Add([]byte(`{"user_id":"auth0|1","email":"a@b.example","email_verified":true,"organization_id":"org_1","connection":"c"}`))
	f.Add([]byte(` { "email_verified" : false , "user_id" : "ü" } `))
	f.Add([]byte(`{"user_id":"a\"b","EMAIL":null,"x":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sameLoginAsEncodingJSON(t, body)
	})
}
