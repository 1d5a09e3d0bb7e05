package auth0sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/prereg"
)

const (
	userA = "auth0|63d16bb22b2c1a2ae38bad61"
	orgA  = "org_dr3b5S9l3sReLayv"
)

func newClient(t *testing.T, f *auth0fake.Server) *auth0sync.Client {
	t.Helper()
	c, err := auth0sync.New(auth0sync.Config{Domain: f.URL(), ClientID: f.ClientID, ClientSecret: f.ClientSecret, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// bodyRoles decodes the {"roles": [...]} body of a recorded request.
func apiCalls(f *auth0fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		if strings.HasPrefix(r.Path, "/api/v2/") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  auth0sync.Config
	}{
		{"missing secret", auth0sync.Config{Domain: "t.auth0.com", ClientID: "id"}},
		{"plain http to a real host", auth0sync.Config{Domain: "http://t.auth0.com", ClientID: "id", ClientSecret: "s"}},
		{"path in domain", auth0sync.Config{Domain: "https://t.auth0.com/api", ClientID: "id", ClientSecret: "s"}},
		{"unknown scheme", auth0sync.Config{Domain: "ftp://t.auth0.com", ClientID: "id", ClientSecret: "s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth0sync.New(tt.cfg)
			if prereg.ErrorCode(err) != prereg.Invalid {
				t.Fatalf("New: got %v, want an invalid error", err)
			}
		})
	}
	for _, ok := range []string{"t.eu.auth0.com", "https://t.eu.auth0.com/", "http://127.0.0.1:9", "http://localhost:9"} {
		if _, err := auth0sync.New(auth0sync.Config{Domain: ok, ClientID: "id", ClientSecret: "s"}); err != nil {
			t.Errorf("New(%q): %v", ok, err)
		}
	}
}

func TestSyncGrant(t *testing.T) {
	tests := []struct {
		name      string
		job       prereg.SyncJob
		wantCalls []string
		check     func(t *testing.T, f *auth0fake.Server, billing string)
	}{
		{
			name: "tenant-wide grant assigns user roles",
			job:  prereg.SyncJob{Kind: prereg.JobGrant, UserID: userA, Roles: []string{"billing-admin", "rol_lEh5V8omwZrnZd9o"}},
			wantCalls: []string{
				"GET /api/v2/roles",
				"POST /api/v2/users/" + userA + "/roles",
			},
			check: func(t *testing.T, f *auth0fake.Server, billing string) {
				if got := f.UserRoles(userA); !slices.Equal(got, []string{billing, "rol_lEh5V8omwZrnZd9o"}) {
					t.Errorf("user roles = %v", got)
				}
			},
		},
		{
			name: "organization grant adds the member then member roles",
			job:  prereg.SyncJob{Kind: prereg.JobGrant, UserID: userA, OrganizationID: orgA, Roles: []string{"billing-admin"}},
			wantCalls: []string{
				"GET /api/v2/roles",
				"POST /api/v2/organizations/" + orgA + "/members",
				"POST /api/v2/organizations/" + orgA + "/members/" + userA + "/roles",
			},
			check: func(t *testing.T, f *auth0fake.Server, billing string) {
				if got := f.Members(orgA); !slices.Equal(got, []string{userA}) {
					t.Errorf("members = %v", got)
				}
				if got := f.MemberRoles(orgA, userA); !slices.Equal(got, []string{billing}) {
					t.Errorf("member roles = %v", got)
				}
				if got := f.UserRoles(userA); len(got) != 0 {
					t.Errorf("an organization grant assigned tenant roles %v", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auth0fake.New(t)
			f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com", EmailVerified: true})
			f.AddOrganization(orgA)
			f.AddRole("rol_lEh5V8omwZrnZd9o", "viewer")
			billing := f.AddRole("", "billing-admin")
			c := newClient(t, f)
			if _, err := c.SyncGrant(context.Background(), tt.job); err != nil {
				t.Fatalf("SyncGrant: %v", err)
			}
			if got := apiCalls(f); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("calls:\n got %q\nwant %q", got, tt.wantCalls)
			}
			tt.check(t, f, billing)
			// Idempotent: the same job again changes nothing.
			if _, err := c.SyncGrant(context.Background(), tt.job); err != nil {
				t.Fatalf("SyncGrant again: %v", err)
			}
			tt.check(t, f, billing)
		})
	}
}

func TestRevokeGrantKeepsMembership(t *testing.T) {
	f := auth0fake.New(t)
	f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com", EmailVerified: true})
	f.AddOrganization(orgA)
	admin := f.AddRole("", "admin")
	viewer := f.AddRole("", "viewer")
	c := newClient(t, f)
	ctx := context.Background()
	org := prereg.SyncJob{UserID: userA, OrganizationID: orgA, Roles: []string{"admin", "viewer"}}
	tenant := prereg.SyncJob{UserID: userA, Roles: []string{"admin"}}
	for _, j := range []prereg.SyncJob{org, tenant} {
		if _, err := c.SyncGrant(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	org.Roles = []string{"viewer"}
	if err := c.RevokeGrant(ctx, org); err != nil {
		t.Fatalf("RevokeGrant org: %v", err)
	}
	if got := f.MemberRoles(orgA, userA); !slices.Equal(got, []string{admin}) {
		t.Errorf("member roles after revoke = %v, want [%s]", got, admin)
	}
	if got := f.Members(orgA); !slices.Equal(got, []string{userA}) {
		t.Errorf("membership after revoke = %v, want it kept", got)
	}
	if got := f.UserRoles(userA); !slices.Equal(got, []string{admin}) {
		t.Errorf("tenant roles touched by an org revoke: %v", got)
	}
	if err := c.RevokeGrant(ctx, tenant); err != nil {
		t.Fatalf("RevokeGrant tenant: %v", err)
	}
	if got := f.UserRoles(userA); len(got) != 0 {
		t.Errorf("user roles after revoke = %v", got)
	}
	_ = viewer
	// A user Auth0 no longer has: nothing left to remove, so done.
	if err := c.RevokeGrant(ctx, prereg.SyncJob{UserID: "auth0|gone", Roles: []string{"admin"}}); err != nil {
		t.Errorf("revoke for a deleted user: %v, want nil", err)
	}
}

func TestRoleResolution(t *testing.T) {
	f := auth0fake.New(t)
	f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com"})
	// name_filter matches substrings: "admin" also finds these two.
	f.AddRole("", "billing-admin")
	f.AddRole("", "admin-readonly")
	admin := f.AddRole("", "admin")
	c := newClient(t, f)
	ctx := context.Background()

	if _, err := c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if got := f.UserRoles(userA); !slices.Equal(got, []string{admin}) {
		t.Fatalf("resolved %v, want exactly the role named admin (%s)", got, admin)
	}
	// Cached: a second grant does not look the name up again.
	if _, err := c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	if n := f.Count("GET", "/api/v2/roles"); n != 1 {
		t.Errorf("role lookups = %d, want 1 (cached)", n)
	}
	// Concurrent resolutions of a new name share one lookup.
	f.AddRole("", "auditor")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{"auditor"}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.Count("GET", "/api/v2/roles"); n != 2 {
		t.Errorf("role lookups = %d, want 2 (one per name)", n)
	}
	// A role ID is used as is, without lookup.
	if _, err := c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{admin}}); err != nil {
		t.Fatal(err)
	}
	if n := f.Count("GET", "/api/v2/roles"); n != 2 {
		t.Errorf("a role ID was looked up")
	}
	// Only case differs and it is the only such role: accepted.
	if _, err := c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{"Billing-Admin"}}); err != nil {
		t.Errorf("case-only difference: %v", err)
	}
}

func TestUnknownRoleNamesTheRole(t *testing.T) {
	f := auth0fake.New(t)
	f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com"})
	f.AddRole("", "billing-admin")
	viewer := f.AddRole("", "viewer")
	c := newClient(t, f)
	_, err := c.SyncGrant(context.Background(), prereg.SyncJob{UserID: userA, Roles: []string{"billing", "viewer"}})
	if prereg.ErrorCode(err) != prereg.Invalid {
		t.Fatalf("err = %v, want invalid", err)
	}
	if msg := prereg.ErrorMessage(err); !strings.Contains(msg, `"billing"`) {
		t.Errorf("message %q does not name the role", msg)
	}
	// The known role is still assigned; the unknown one is reported.
	if got := f.UserRoles(userA); !slices.Equal(got, []string{viewer}) {
		t.Errorf("user roles = %v, want [%s]", got, viewer)
	}
	// Not cached: once the role exists, it resolves.
	billing := f.AddRole("", "billing")
	if _, err := c.SyncGrant(context.Background(), prereg.SyncJob{UserID: userA, Roles: []string{"billing"}}); err != nil {
		t.Fatalf("after creating the role: %v", err)
	}
	if !slices.Contains(f.UserRoles(userA), billing) {
		t.Errorf("billing not assigned")
	}
}

func TestErrorTranslation(t *testing.T) {
	// Far enough that Retry-After: 1 stays the earlier of the two however
	// late the call comes (a 3 s margin lost to a 2 s stall).
	reset := time.Now().Add(time.Minute).Truncate(time.Second)
	tests := []struct {
		name     string
		fault    *auth0fake.Fault
		userID   string
		wantCode prereg.Code
	}{
		{"rate limited", &auth0fake.Fault{Status: 429, RateLimitReset: reset, RetryAfter: "1"}, userA, prereg.RateLimited},
		{"server error", &auth0fake.Fault{Status: 503}, userA, prereg.Unavailable},
		{"bad request", &auth0fake.Fault{Status: 400}, userA, prereg.Invalid},
		{"missing scope", &auth0fake.Fault{Status: 403}, userA, prereg.Forbidden},
		{"unknown user", nil, "auth0|nobody", prereg.NotFound},
		{"hang past the timeout", &auth0fake.Fault{Hang: true}, userA, prereg.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auth0fake.New(t)
			f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com"})
			// Only the hang needs a short timeout: on a loaded machine a
			// short one could cut off the calls the other cases answer.
			var timeout time.Duration
			if tt.fault != nil && tt.fault.Hang {
				timeout = 300 * time.Millisecond
			}
			c, err := auth0sync.New(auth0sync.Config{Domain: f.URL(), ClientID: f.ClientID, ClientSecret: f.ClientSecret, Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				f.FailNext(1, *tt.fault)
			}
			_, err = c.SyncGrant(context.Background(), prereg.SyncJob{UserID: tt.userID, Roles: []string{"rol_x1"}})
			if got := prereg.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.wantCode)
			}
			var pe *prereg.Error
			if !errors.As(err, &pe) {
				t.Fatalf("not a *prereg.Error: %T", err)
			}
			until, ok := auth0sync.RetryAt(err)
			if tt.wantCode == prereg.RateLimited {
				// X-RateLimit-Reset is later than Retry-After: it wins.
				if !ok || !until.Equal(reset) {
					t.Errorf("RetryAt = %v, %v; want %v", until, ok, reset)
				}
			} else if ok {
				t.Errorf("RetryAt set for a %s error", tt.wantCode)
			}
			// go-auth0's own retries are off: exactly one API call.
			if n := f.Count("POST", "/api/v2/users/"); n > 1 {
				t.Errorf("%d attempts, want 1 (no SDK retries)", n)
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	f := auth0fake.New(t)
	c, err := auth0sync.New(auth0sync.Config{Domain: f.URL(), ClientID: f.ClientID, ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UsersByEmail(context.Background(), "ana@example.com")
	if prereg.ErrorCode(err) != prereg.Forbidden {
		t.Fatalf("err = %v, want forbidden", err)
	}
	if strings.Contains(prereg.ErrorMessage(err), "wrong") {
		t.Errorf("message leaks the secret: %q", prereg.ErrorMessage(err))
	}
}

func TestTokenReused(t *testing.T) {
	f := auth0fake.New(t)
	f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com"})
	c := newClient(t, f)
	for range 3 {
		if _, err := c.UsersByEmail(context.Background(), "ana@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.TokensIssued(); n != 1 {
		t.Errorf("tokens fetched = %d, want 1", n)
	}
}

func TestUsersByEmail(t *testing.T) {
	f := auth0fake.New(t)
	f.AddUser(auth0fake.User{ID: "auth0|1", Email: "ana.silva@example.com", EmailVerified: true})
	f.AddUser(auth0fake.User{ID: "google-oauth2|2", Email: "Ana.Silva@Example.com", EmailVerified: true, Connection: "google-oauth2"})
	f.AddUser(auth0fake.User{ID: "auth0|3", Email: "other@example.com"})
	c := newClient(t, f)
	tests := []struct {
		email   string
		want    []string
		lookups []string
	}{
		{"Ana.Silva@Example.com", []string{"auth0|1", "google-oauth2|2"}, []string{"ana.silva@example.com", "Ana.Silva@Example.com"}},
		{"ana.silva@example.com", []string{"auth0|1"}, []string{"ana.silva@example.com"}},
		{" nobody@example.com ", nil, []string{"nobody@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			f.ResetRequests()
			users, err := c.UsersByEmail(context.Background(), tt.email)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, u := range users {
				ids = append(ids, u.ID)
				if !u.EmailVerified {
					t.Errorf("%s: verified flag lost", u.ID)
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("users = %v, want %v", ids, tt.want)
			}
			var lookups []string
			for _, r := range f.Requests() {
				if r.Path == "/api/v2/users-by-email" {
					lookups = append(lookups, r.Query.Get("email"))
				}
			}
			if !slices.Equal(lookups, tt.lookups) {
				t.Errorf("lookups = %q, want %q", lookups, tt.lookups)
			}
		})
	}
	users, _ := c.UsersByEmail(context.Background(), "Ana.Silva@Example.com")
	if len(users) == 2 && !slices.Equal(users[1].Connections, []string{"google-oauth2"}) {
		t.Errorf("connections = %v", users[1].Connections)
	}
}

func TestSendVerificationEmail(t *testing.T) {
	tests := []struct {
		name, userID, connection string
		// identity is the identity the request must carry.
		identity string
	}{
		{"database", userA, "", `{"user_id":"63d16bb22b2c1a2ae38bad61","provider":"auth0"}`},
		{"social", "google-oauth2|109876543210", "google-oauth2", `{"user_id":"109876543210","provider":"google-oauth2"}`},
		{"enterprise", "samlp|corp-saml|ana@corp.example", "corp-saml", `{"user_id":"corp-saml|ana@corp.example","provider":"samlp"}`},
		{"passwordless", "email|64a1f0c2e4b0a1b2c3d4e5f6", "email", `{"user_id":"64a1f0c2e4b0a1b2c3d4e5f6","provider":"email"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auth0fake.New(t)
			f.AddUser(auth0fake.User{ID: tt.userID, Email: "ana@example.com", Connection: tt.connection})
			c := newClient(t, f)
			if err := c.SendVerificationEmail(context.Background(), tt.userID); err != nil {
				t.Fatal(err)
			}
			if got := f.VerificationEmails(); !slices.Equal(got, []string{tt.userID}) {
				t.Errorf("verification emails = %v", got)
			}
			reqs := f.Requests()
			last := reqs[len(reqs)-1]
			var body struct {
				UserID   string          `json:"user_id"`
				Identity json.RawMessage `json:"identity"`
			}
			if err := json.Unmarshal(last.Body, &body); err != nil {
				t.Fatal(err)
			}
			if last.Method != http.MethodPost || last.Path != "/api/v2/jobs/verification-email" || body.UserID != tt.userID || string(body.Identity) != tt.identity {
				t.Errorf("request = %s %s %s", last.Method, last.Path, last.Body)
			}
		})
	}
	f := auth0fake.New(t)
	if err := newClient(t, f).SendVerificationEmail(context.Background(), "auth0|nobody"); prereg.ErrorCode(err) != prereg.NotFound {
		t.Errorf("unknown user: %v", err)
	}
}

func TestNetworkErrorHidesAddress(t *testing.T) {
	f := auth0fake.New(t)
	url := f.URL()
	f.Close()
	c, err := auth0sync.New(auth0sync.Config{Domain: url, ClientID: f.ClientID, ClientSecret: f.ClientSecret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UsersByEmail(context.Background(), "secret.person@example.com")
	if prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), "secret.person") || strings.Contains(err.Error(), "secret.person%40") {
		t.Errorf("error text leaks the address: %v", err)
	}
}

// Through a custom domain, the token must still be asked for the canonical
// domain's audience; Auth0 refuses any other.
func TestCustomDomainAudience(t *testing.T) {
	const audience = "https://dev-tenant.eu.auth0.com/api/v2/"
	f := auth0fake.New(t)
	f.SetCanonicalDomain("dev-tenant.eu.auth0.com")
	f.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com", EmailVerified: true})
	tests := []struct {
		name     string
		audience string
		want     prereg.Code
	}{
		{"configured audience", audience, ""},
		{"audience of the custom domain", "", prereg.Forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.ResetRequests()
			c, err := auth0sync.New(auth0sync.Config{Domain: f.URL(), Audience: tt.audience, ClientID: f.ClientID, ClientSecret: f.ClientSecret, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.UsersByEmail(context.Background(), "ana@example.com")
			if prereg.ErrorCode(err) != tt.want {
				t.Fatalf("UsersByEmail: %v, want code %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "ana") {
				t.Errorf("error text leaks the address: %v", err)
			}
			reqs := f.Requests()
			if len(reqs) == 0 || reqs[0].Path != "/oauth/token" {
				t.Fatalf("first request is not a token request: %+v", reqs)
			}
			wantAud := tt.audience
			if wantAud == "" {
				wantAud = f.URL() + "/api/v2/"
			}
			if got := tokenAudience(t, reqs[0].Body); got != wantAud {
				t.Errorf("token audience = %q, want %q", got, wantAud)
			}
		})
	}
	for _, bad := range []string{"dev-tenant.eu.auth0.com", "https://dev-tenant.eu.auth0.com/api/v2", "http://dev-tenant.eu.auth0.com/api/v2/", "https:///api/v2/"} {
		_, err := auth0sync.New(auth0sync.Config{Domain: f.URL(), Audience: bad, ClientID: "id", ClientSecret: "s"})
		if prereg.ErrorCode(err) != prereg.Invalid {
			t.Errorf("audience %q: %v, want an invalid error", bad, err)
		}
	}
}

// tokenAudience reads the audience of a client-credentials request, sent
// as a form or as JSON.
func tokenAudience(t *testing.T, body []byte) string {
	t.Helper()
	var js struct {
		Audience string `json:"audience"`
	}
	if json.Unmarshal(body, &js) == nil {
		return js.Audience
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("token request body: %v", err)
	}
	return q.Get("audience")
}
