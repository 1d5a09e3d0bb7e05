package httpapi

import (
	"encoding/json"
	"testing"

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
