package boltstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

func TestRecordRoundTrip(t *testing.T) {
	now := time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)
	exp := now.Add(time.Hour)
	tests := []prereg.Registration{
		{ID: "reg_a", Email: "Ana@Example.com", Roles: []string{"r"}, Status: prereg.StatusPending, CreatedAt: now, UpdatedAt: now, Source: "api"},
		{ID: "reg_b", Email: "b@x.io", OrganizationID: "org_x", Roles: []string{"rol_1", "näme with spaces", ""}, Connection: "google-oauth2",
			ExpiresAt: &exp, Status: prereg.StatusGranted, GrantedTo: "auth0|1", GrantedAt: &now, CreatedAt: now, UpdatedAt: now,
			Source: "import:imp_1", Sync: prereg.SyncFailed, SyncError: `unknown Auth0 role "x"`},
		{ID: "reg_c", Email: "c@x.io", Roles: []string{"editor", "rol_2"}, Status: prereg.StatusGranted, GrantedTo: "auth0|2", GrantedAt: &now,
			CreatedAt: now, UpdatedAt: now, Sync: prereg.SyncDone, SyncedRoleIDs: []string{"rol_1", "rol_2"}},
		{ID: "reg_d", Email: "d@x.io", Roles: []string{"gone"}, Status: prereg.StatusGranted, GrantedTo: "auth0|3", GrantedAt: &now,
			CreatedAt: now, UpdatedAt: now, Sync: prereg.SyncFailed, SyncedRoleIDs: []string{}},
	}
	for _, want := range tests {
		raw, err := encodeReg(&want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeReg(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
		}
		// Every truncation is an error, never a panic or a half record; the
		// one exception is a cut just before the synced role IDs, which reads
		// as a record written before they were kept.
		for i := 0; i < len(raw); i++ {
			got, err := decodeReg(raw[:i])
			if err != nil {
				continue
			}
			old := want
			old.SyncedRoleIDs = nil
			if want.SyncedRoleIDs == nil || !reflect.DeepEqual(*got, old) {
				t.Fatalf("truncated at %d decoded: %+v", i, *got)
			}
		}
		if _, err := decodeReg(append(raw, 'Z')); err == nil {
			t.Fatal("an unknown section decoded")
		}
	}
}

// Only the binary forms are records: the JSON form written before
// schema 3 (never released) and unknown version bytes are errors.
func TestRecordRefusesOtherForms(t *testing.T) {
	now := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	raw, err := encodeReg(&prereg.Registration{ID: "reg_j", Email: "j@x.io", Roles: []string{"r"}, Status: prereg.StatusPending, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []byte{0, recordV2 + 1, '{'} {
		bad := append([]byte{v}, raw[1:]...)
		if r, err := decodeReg(bad); err == nil {
			t.Errorf("version byte %d decoded: %+v", v, r)
		}
	}
	if r, err := decodeReg([]byte(`{"i":"reg_j","e":"j@x.io","r":["r"],"s":"pending","ca":1,"ua":1}`)); err == nil {
		t.Errorf("JSON record decoded: %+v", r)
	}
}

// The user index carries what the hook answers about a grant.
func TestGrantRoundTrip(t *testing.T) {
	tests := []prereg.Registration{
		{ID: "reg_0123456789abcdefghijklmn", Roles: []string{"viewer"}, Status: prereg.StatusGranted, GrantedTo: "auth0|1"},
		{ID: "reg_legacyidabcdefghijklmnop", OrganizationID: "org_x", Roles: []string{"rol_1", "näme with spaces", ""}, Status: prereg.StatusGranted, GrantedTo: "auth0|1", Sync: prereg.SyncFailed},
	}
	for _, r := range tests {
		got, err := decodeGrant(encodeGrant(&r), r.GrantedTo)
		if err != nil {
			t.Fatal(err)
		}
		want := prereg.Registration{ID: r.ID, OrganizationID: r.OrganizationID, Roles: r.Roles, Status: prereg.StatusGranted, GrantedTo: r.GrantedTo, Sync: r.Sync}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("got %+v, want %+v", *got, want)
		}
		raw := encodeGrant(&r)
		for _, bad := range [][]byte{nil, raw[:len(raw)-1], append(raw, 0)} {
			if _, err := decodeGrant(bad, "u"); err == nil {
				t.Errorf("decodeGrant(%x) accepted a malformed entry", bad)
			}
		}
	}
}
