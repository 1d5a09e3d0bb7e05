package prereg_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

func TestValidate(t *testing.T) {
	long := strings.Repeat("a", 250) + "@b.io"
	tests := []struct {
		name   string
		in     prereg.Input
		fields []string
	}{
		{"valid", prereg.Input{Email: " Ana@Example.com ", Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing admin"}, OrganizationID: "org_dr3b5S9l3sReLayv", Connection: "Username-Password-Authentication"}, nil},
		{"missing email", prereg.Input{Roles: []string{"r"}}, []string{"email"}},
		{"bad email", prereg.Input{Email: "ana@", Roles: []string{"r"}}, []string{"email"}},
		{"email too long", prereg.Input{Email: long, Roles: []string{"r"}}, []string{"email"}},
		{"no roles", prereg.Input{Email: "a@b.io"}, []string{"roles"}},
		{"only blank roles", prereg.Input{Email: "a@b.io", Roles: []string{" ", ""}}, []string{"roles"}},
		{"too many roles", prereg.Input{Email: "a@b.io", Roles: manyRoles(51)}, []string{"roles"}},
		{"role with semicolon", prereg.Input{Email: "a@b.io", Roles: []string{"a;b"}}, []string{"roles"}},
		{"role with control char", prereg.Input{Email: "a@b.io", Roles: []string{"a\x01"}}, []string{"roles"}},
		{"role name too long", prereg.Input{Email: "a@b.io", Roles: []string{strings.Repeat("r", 101)}}, []string{"roles"}},
		{"bad organization", prereg.Input{Email: "a@b.io", Roles: []string{"r"}, OrganizationID: "org_"}, []string{"organization_id"}},
		{"organization too long", prereg.Input{Email: "a@b.io", Roles: []string{"r"}, OrganizationID: "org_" + strings.Repeat("a", 65)}, []string{"organization_id"}},
		{"bad connection", prereg.Input{Email: "a@b.io", Roles: []string{"r"}, Connection: "-bad"}, []string{"connection"}},
		{"several problems", prereg.Input{Email: "x", OrganizationID: "acme"}, []string{"email", "organization_id", "roles"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.Normalize().Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var pe *prereg.Error
			if !errors.As(err, &pe) || pe.Code != prereg.Invalid {
				t.Fatalf("error %v, want invalid", err)
			}
			var got []string
			for _, d := range pe.Details {
				if d.Message == "" {
					t.Fatalf("empty message for %s", d.Field)
				}
				got = append(got, d.Field)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields %v, want %v (%v)", got, tt.fields, pe.Details)
			}
		})
	}
}

func manyRoles(n int) []string {
	var out []string
	for i := range n {
		out = append(out, "role"+strings.Repeat("x", i))
	}
	return out
}

func TestNormalize(t *testing.T) {
	in := prereg.Input{Email: "  Ana@Example.COM\t", Roles: []string{" b ", "a", "b", ""}, OrganizationID: " org_x "}.Normalize()
	if in.Email != "Ana@Example.COM" || !slices.Equal(in.Roles, []string{"b", "a"}) || in.OrganizationID != "org_x" {
		t.Fatalf("%+v", in)
	}
	if prereg.EmailKey(in.Email) != "ana@example.com" {
		t.Fatal(prereg.EmailKey(in.Email))
	}
	if prereg.RegistrationID("org_x", "ANA@example.com ") != prereg.RegistrationID("org_x", "ana@example.com") {
		t.Fatal("ID depends on case")
	}
	if prereg.RegistrationID("", "ana@example.com") == prereg.RegistrationID("org_x", "ana@example.com") {
		t.Fatal("ID ignores the organization")
	}
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{"", "", false},
		{"2027-01-31", "2027-01-31T23:59:59Z", false},
		{"2027-01-31T18:00:00+02:00", "2027-01-31T16:00:00Z", false},
		{"2027-01-31T18:00:00.5Z", "2027-01-31T18:00:00.5Z", false},
		{"31/01/2027", "", true},
		{"2027-02-30", "", true},
	}
	for _, tt := range tests {
		got, err := prereg.ParseExpiry(tt.in)
		if (err != nil) != tt.err {
			t.Fatalf("%q: error %v", tt.in, err)
		}
		if !tt.err && prereg.FormatExpiry(got) != tt.want {
			t.Fatalf("%q: %q, want %q", tt.in, prereg.FormatExpiry(got), tt.want)
		}
	}
}

func TestApply(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	past := now.Add(-time.Hour)
	in := prereg.Input{Email: "a@b.io", Roles: []string{"r"}}
	created, ch, err := prereg.Apply(nil, in, "api", now)
	if err != nil || ch != prereg.Created || created.Status != prereg.StatusPending {
		t.Fatal(ch, err)
	}
	expired := created
	expired.ExpiresAt = &past
	granted := created
	prereg.Claim(&granted, "u1", now, prereg.SyncNone)
	revoked := created
	revoked.Status = prereg.StatusRevoked
	other := in
	other.Roles = []string{"s"}
	tests := []struct {
		name     string
		existing prereg.Registration
		in       prereg.Input
		change   prereg.Change
		status   prereg.Status
		conflict bool
	}{
		{"identical pending", created, in, prereg.Unchanged, prereg.StatusPending, false},
		{"different pending", created, other, prereg.Updated, prereg.StatusPending, false},
		{"expired reopens", expired, in, prereg.Updated, prereg.StatusPending, false},
		{"revoked reopens", revoked, in, prereg.Updated, prereg.StatusPending, false},
		{"identical granted", granted, in, prereg.Unchanged, prereg.StatusGranted, false},
		{"different granted", granted, other, prereg.Rejected, prereg.StatusGranted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ch, err := prereg.Apply(&tt.existing, tt.in, "api", now)
			if ch != tt.change || r.Status != tt.status || (prereg.ErrorCode(err) == prereg.Conflict) != tt.conflict {
				t.Fatalf("got %s %s %v", ch, r.Status, err)
			}
		})
	}
}

func TestResultRoles(t *testing.T) {
	grants := []prereg.Registration{
		{ID: "reg_b", OrganizationID: "org_b", Roles: []string{"b", "t"}, Status: prereg.StatusGranted},
		{ID: "reg_t", Roles: []string{"t"}, Status: prereg.StatusGranted},
		{ID: "reg_c", OrganizationID: "org_c", Roles: []string{"c"}, Status: prereg.StatusGranted},
	}
	res := prereg.Result(prereg.OutcomeGranted, true, grants, "org_b")
	if !slices.Equal(res.Roles, []string{"t", "b"}) || len(res.Grants) != 3 || res.Grants[0].RegistrationID != "reg_t" {
		t.Fatalf("%+v", res)
	}
	if res := prereg.Result(prereg.OutcomeNoMatch, false, nil, ""); res.Roles == nil || res.Grants == nil {
		t.Fatal("roles and grants must be arrays")
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{"Ana.Silva@Example.com": "a***@example.com", "x": "***", "@b.io": "***"} {
		if got := prereg.MaskEmail(in); got != want {
			t.Fatalf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestRegistrationKey(t *testing.T) {
	tests := []struct {
		org, email string
	}{
		{"", "ana@example.com"},
		{"org_x", " Ana.Silva@Example.COM "},
		{"org_x", "ÅSA@exämple.com"},
		{"org_dr3b5S9l3sReLayv", "\tx@y.io\n"},
	}
	for _, tt := range tests {
		k := prereg.RegistrationKey(tt.org, tt.email)
		e := prereg.EmailKey(tt.email)
		// The key is sha256(address key)[:7] then sha256(org \0 address key)[:8].
		h1 := sha256.Sum256([]byte(e))
		h2 := sha256.Sum256([]byte(tt.org + "\x00" + e))
		want := append(h1[:prereg.EmailPrefixSize:prereg.EmailPrefixSize], h2[:prereg.KeySize-prereg.EmailPrefixSize]...)
		if !bytes.Equal(k[:], want) {
			t.Errorf("RegistrationKey(%q, %q) = %x, want %x", tt.org, tt.email, k, want)
		}
		if !bytes.Equal(k[:prereg.EmailPrefixSize], prereg.EmailPrefix(e)) {
			t.Errorf("%q: key does not start with the address prefix", tt.email)
		}
		back, ok := prereg.ParseKey(k.ID())
		if !ok || back != k || len(k.ID()) != 28 {
			t.Errorf("ParseKey(%q) = %x %v", k.ID(), back, ok)
		}
	}
	// IDs sort as keys do (imports rely on it to write in order).
	a, b := prereg.Key{0x01}, prereg.Key{0x01, 0x01}
	if !(a.ID() < b.ID()) || !(prereg.Key{0xff}.ID() > b.ID()) {
		t.Errorf("ID order: %s %s", a.ID(), b.ID())
	}
	for _, id := range []string{"reg_", "reg_abc", "rg_00000000000000000000000", "reg_zzzzzzzzzzzzzzzzzzzzzzzz", "reg_0000000000000000000000000"} {
		if _, ok := prereg.ParseKey(id); ok {
			t.Errorf("ParseKey(%q) accepted", id)
		}
	}
}
