package console

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

func TestExplain(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(48*time.Hour)
	tests := []struct {
		name string
		r    prereg.Registration
		want []string
		not  []string
	}{
		{"pending", prereg.Registration{Status: prereg.StatusPending}, []string{"never logged in", "verified email"}, []string{"pinned", "expires"}},
		{"pending, pinned, expiring", prereg.Registration{Status: prereg.StatusPending, Connection: "google-oauth2", OrganizationID: "org_a", ExpiresAt: &future},
			[]string{"pinned to the connection \"google-oauth2\"", "organization org_a", "expires on 4 March 2026"}, nil},
		{"expired", prereg.Registration{Status: prereg.StatusPending, ExpiresAt: &past}, []string{"expired on 2 March 2026 08:00 UTC"}, []string{"pinned"}},
		{"granted", prereg.Registration{Status: prereg.StatusGranted, GrantedTo: "auth0|u1", GrantedAt: &past}, []string{"claimed by auth0|u1"}, nil},
		{"granted without a time", prereg.Registration{Status: prereg.StatusGranted, GrantedTo: "auth0|u1"}, []string{"claimed by auth0|u1"}, nil},
		{"revoked", prereg.Registration{Status: prereg.StatusRevoked}, []string{"revoked before anyone claimed it"}, nil},
		{"force-revoked", prereg.Registration{Status: prereg.StatusRevoked, GrantedTo: "auth0|u1"}, []string{"granted to auth0|u1 and then force-revoked"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(explain(tt.r, now), "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("does not say %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("says %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "/console/",
		"/console/registrations?a": "/console/registrations?a",
		"https://evil.example/":    "/console/",
		"//evil.example/console/":  "/console/",
		"/console//evil.example":   "/console/",
		"/console/\\evil":          "/console/",
		"/v1/tokens":               "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzSafeNext: whatever the sign-in form says, the destination stays a
// path inside the console.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"", "/console/", "/console/registrations?status=pending", "//evil", "/console/\\\\evil", "https://x/console/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(u.Path, "/console/") || strings.ContainsAny(got, "\\\r\n") {
			t.Fatalf("safeNext(%q) = %q", next, got)
		}
	})
}
