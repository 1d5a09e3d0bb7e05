package prereg_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// A filter naming a status or sync state nothing can have is refused with
// the field at fault, the same for the admin API and the CLI.
func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name  string
		f     prereg.Filter
		field string // "" when valid
	}{
		{"empty", prereg.Filter{}, ""},
		{"every status", prereg.Filter{Status: prereg.StatusExpired}, ""},
		{"granted and synced", prereg.Filter{Status: prereg.StatusGranted, Sync: prereg.SyncFailed}, ""},
		{"unknown status", prereg.Filter{Status: "active"}, "status"},
		{"status in capitals", prereg.Filter{Status: "PENDING"}, "status"},
		{"unknown sync", prereg.Filter{Sync: "stuck"}, "sync"},
		{"both unknown: status first", prereg.Filter{Status: "active", Sync: "stuck"}, "status"},
	}
	for _, tt := range tests {
		err := tt.f.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var pe *prereg.Error
		if !errors.As(err, &pe) || pe.Code != prereg.Invalid || len(pe.Details) != 1 || pe.Details[0].Field != tt.field || !strings.HasPrefix(pe.Details[0].Message, "one of ") {
			t.Errorf("%s: got %#v, want an invalid error on %s", tt.name, err, tt.field)
		}
	}
}

// Token names are 1 to 100 bytes after trimming; an organization must be an
// Auth0 organization ID.
func TestTokenRequestValidate(t *testing.T) {
	tests := []struct {
		name   string
		req    prereg.TokenRequest
		fields []string
	}{
		{"tenant-wide", prereg.TokenRequest{Name: "ci"}, nil},
		{"limited, read-only", prereg.TokenRequest{Name: " help desk ", OrganizationID: " org_abc123 ", ReadOnly: true}, nil},
		{"longest name", prereg.TokenRequest{Name: strings.Repeat("n", 100)}, nil},
		{"name too long", prereg.TokenRequest{Name: strings.Repeat("n", 101)}, []string{"name"}},
		{"blank name", prereg.TokenRequest{Name: " \t "}, []string{"name"}},
		{"bad organization", prereg.TokenRequest{Name: "x", OrganizationID: "acme"}, []string{"organization_id"}},
		{"both wrong", prereg.TokenRequest{OrganizationID: "org_"}, []string{"name", "organization_id"}},
	}
	for _, tt := range tests {
		req := tt.req.Normalize()
		err := req.Validate()
		var got []string
		var pe *prereg.Error
		if errors.As(err, &pe) {
			for _, d := range pe.Details {
				got = append(got, d.Field)
			}
		} else if err != nil {
			t.Fatalf("%s: %v is not a prereg error", tt.name, err)
		}
		if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
			t.Errorf("%s: fields at fault %v, want %v", tt.name, got, tt.fields)
		}
	}
	if n := (prereg.TokenRequest{Name: " a ", OrganizationID: " org_x "}).Normalize(); n.Name != "a" || n.OrganizationID != "org_x" {
		t.Errorf("Normalize kept white space: %+v", n)
	}
}

// Counts add each status to its own column and to the total.
func TestCountsAdd(t *testing.T) {
	var c prereg.Counts
	c.Add(prereg.StatusPending, 3)
	c.Add(prereg.StatusGranted, 2)
	c.Add(prereg.StatusRevoked, 1)
	c.Add(prereg.StatusExpired, 4)
	c.Add(prereg.StatusPending, -1)
	if want := (prereg.Counts{Pending: 2, Granted: 2, Revoked: 1, Expired: 4, Total: 9}); c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
}
