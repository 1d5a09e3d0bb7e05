package csvio_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

func ptime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestEncoderOutput(t *testing.T) {
	tests := []struct {
		name string
		regs []prereg.Registration
		want string
	}{
		{"empty export is still a valid import file", nil,
			"email,organization_id,roles,connection,expires_at,status,granted_to,granted_at\n"},
		{"plain", []prereg.Registration{{Email: "Ana@example.com", OrganizationID: org, Roles: []string{role, "billing admin"}, Connection: "google-oauth2", ExpiresAt: ptime("2027-01-31T23:59:59Z")}},
			"email,organization_id,roles,connection,expires_at,status,granted_to,granted_at\nAna@example.com," + org + "," + role + "|billing admin,google-oauth2,2027-01-31T23:59:59Z,,,\n"},
		{"formula injection neutralised", []prereg.Registration{
			{Email: "+max@example.com", Roles: []string{`=HYPERLINK("http://evil.example")`, "viewer"}},
			{Email: "a@example.com", Roles: []string{"-1+2"}},
			{Email: "b@example.com", Roles: []string{"@SUM(A1)"}},
			{Email: "c@example.com", Roles: []string{"\tx"}},
			{Email: "d@example.com", Roles: []string{"\rx"}},
			{Email: "e@example.com", Roles: []string{"'=already quoted"}},
			{Email: "f@example.com", Roles: []string{"'plain", "=not first"}},
		},
			"email,organization_id,roles,connection,expires_at,status,granted_to,granted_at\n" +
				"'+max@example.com,,\"'=HYPERLINK(\"\"http://evil.example\"\")|viewer\",,,,,\n" +
				"a@example.com,,'-1+2,,,,,\n" +
				"b@example.com,,'@SUM(A1),,,,,\n" +
				"c@example.com,,'\tx,,,,,\n" +
				"d@example.com,,\"'\rx\",,,,,\n" +
				"e@example.com,,''=already quoted,,,,,\n" +
				"f@example.com,,'plain|=not first,,,,,\n"},
		{"status and claim, neutralised too", []prereg.Registration{
			{Email: "g@example.com", Roles: []string{"viewer"}, Status: prereg.StatusGranted, GrantedTo: "-auth0|1", GrantedAt: ptime("2026-10-01T08:00:00.5Z")},
			{Email: "h@example.com", Roles: []string{"viewer"}, Status: prereg.StatusRevoked, GrantedTo: "auth0|2", GrantedAt: ptime("2026-10-02T00:00:00Z")},
			{Email: "i@example.com", Roles: []string{"viewer"}, ExpiresAt: ptime("2026-01-01T23:59:59Z"), Status: prereg.StatusExpired},
		},
			"email,organization_id,roles,connection,expires_at,status,granted_to,granted_at\n" +
				"g@example.com,,viewer,,,granted,'-auth0|1,2026-10-01T08:00:00.5Z\n" +
				"h@example.com,,viewer,,,revoked,auth0|2,2026-10-02T00:00:00Z\n" +
				"i@example.com,,viewer,,2026-01-01T23:59:59Z,expired,,\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := csvio.NewEncoder(&buf)
			for _, r := range tt.regs {
				if err := enc.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Flush(); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", buf.String(), tt.want)
			}
		})
	}
}

// TestRoundTrip: whatever valid registration is exported imports back as
// the very same input.
func TestRoundTrip(t *testing.T) {
	regs := []prereg.Registration{
		{Email: "Ana.Silva@Example.com", OrganizationID: org, Roles: []string{role, "billing-admin"}, Connection: "Username-Password-Authentication", ExpiresAt: ptime("2027-01-31T23:59:59Z")},
		{Email: "bruno@example.com", Roles: []string{"Admin, Support", `a "quoted" role`}},
		{Email: "+max@example.com", Roles: []string{`=HYPERLINK("http://evil.example")`, "-x", "@y", "'=z", "''+w", "'plain"}},
		{Email: "=cmd@example.com", Roles: []string{"+1"}, ExpiresAt: ptime("2027-06-30T16:00:00.123456789Z")},
		{Email: "josé.núñez@example.com", OrganizationID: org, Roles: []string{"Gestão", "日本語ロール"}},
	}
	var buf bytes.Buffer
	enc := csvio.NewEncoder(&buf)
	for _, r := range regs {
		if err := enc.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	dec, err := csvio.NewDecoder(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range regs {
		row, err := dec.Next()
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		want := prereg.Input{Email: r.Email, OrganizationID: r.OrganizationID, Roles: r.Roles, Connection: r.Connection, ExpiresAt: r.ExpiresAt}
		if len(row.Errors) > 0 || !reflect.DeepEqual(row.Input, want) || row.Line != i+2 {
			t.Errorf("row %d: got line %d %+v %+v, want %+v", i, row.Line, row.Input, row.Errors, want)
		}
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last row: %v, want io.EOF", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestEncoderReportsWriteErrors(t *testing.T) {
	enc := csvio.NewEncoder(failingWriter{})
	if err := enc.Write(prereg.Registration{Email: "a@example.com", Roles: []string{"x"}}); err != nil {
		t.Fatal(err) // buffered: the error shows on Flush
	}
	if err := enc.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush = %v, want the write error", err)
	}
}
