package boltstore_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }

func open(t *testing.T, opts boltstore.Options) *boltstore.Store {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "prereg.db"), opts)
}

// openPath opens the store at path and, when the test ends, checks the
// file with Tx.Check and closes it.
func openPath(tb testing.TB, path string, opts boltstore.Options) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if opts.LoginSets {
		s.WaitLoginSetsForTest(tb)
	}
	tb.Cleanup(func() {
		if errs := s.Check(); len(errs) > 0 {
			tb.Errorf("Tx.Check: %v", errs)
		}
		if err := s.CheckLoginSetsForTest(); err != nil {
			tb.Error(err)
		}
		if err := s.CheckGrantCacheForTest(); err != nil {
			tb.Error(err)
		}
		if err := s.CheckIndexesForTest(); err != nil {
			tb.Error(err)
		}
		s.Close()
	})
	return s
}

// eachSets runs a login test with the service's login sets (filled) and
// without them (as logins read before they are filled).
func eachSets(t *testing.T, test func(t *testing.T, opts boltstore.Options)) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("sets=%v", on), func(t *testing.T) { test(t, boltstore.Options{LoginSets: on}) })
	}
}

func put(t *testing.T, s *boltstore.Store, in prereg.Input) prereg.Registration {
	t.Helper()
	in = in.Normalize()
	if err := in.Validate(); err != nil {
		t.Fatalf("invalid input %+v: %v", in, err)
	}
	r, _, err := s.Put(context.Background(), in, "api", "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestClaimRaceManyUsersOneWinner(t *testing.T) {
	eachSets(t, func(t *testing.T, opts boltstore.Options) {
		s := open(t, opts)
		put(t, s, prereg.Input{Email: "ana@example.com", Roles: []string{"admin"}})
		const n = 32
		var wg sync.WaitGroup
		outcomes := make([]prereg.Outcome, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := s.Login(context.Background(), prereg.Login{UserID: fmt.Sprintf("auth0|%d", i), Email: "ANA@example.com", EmailVerified: true}, true)
				if err != nil {
					t.Error(err)
				}
				outcomes[i] = res.Outcome
			}()
		}
		wg.Wait()
		winners := 0
		for _, o := range outcomes {
			switch o {
			case prereg.OutcomeGranted:
				winners++
			case prereg.OutcomeNoMatch:
			default:
				t.Errorf("unexpected outcome %s", o)
			}
		}
		if winners != 1 {
			t.Fatalf("%d winners, want exactly 1 (%v)", winners, outcomes)
		}
	})
}

// TestClaimRaceSameUserSameRoles logs one new user in from many goroutines
// at once, round after round, for registrations just written: one call
// claims them and every other answers already_granted with the same roles
// (CONTRACT §2: the same user_id racing with itself gets the same roles,
// and reads are monotonic), never no_match.
func TestClaimRaceSameUserSameRoles(t *testing.T) {
	eachSets(t, func(t *testing.T, opts boltstore.Options) {
		s := open(t, opts)
		const rounds, n = 30, 24
		for round := range rounds {
			email := fmt.Sprintf("ana%d@example.com", round)
			put(t, s, prereg.Input{Email: email, Roles: []string{"admin", "rol_abc"}})
			put(t, s, prereg.Input{Email: email, OrganizationID: "org_a1", Roles: []string{"org-reader"}})
			user := fmt.Sprintf("auth0|%d", round)
			var wg sync.WaitGroup
			results := make([]prereg.HookResult, n)
			for i := range n {
				wg.Go(func() {
					res, err := s.Login(context.Background(), prereg.Login{UserID: user, Email: email, EmailVerified: true, OrganizationID: "org_a1"}, true)
					if err != nil {
						t.Error(err)
					}
					results[i] = res.HookResult
				})
			}
			wg.Wait()
			granted := 0
			for i, r := range results {
				if r.Outcome == prereg.OutcomeGranted {
					granted++
				}
				want := []string{"admin", "rol_abc", "org-reader"}
				if r.Outcome != prereg.OutcomeGranted && r.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(r.Roles, want) || len(r.Grants) != 2 {
					t.Errorf("round %d, login %d: %s with roles %v and %d grants, want granted or already_granted with roles %v and 2 grants", round, i, r.Outcome, r.Roles, len(r.Grants), want)
				}
			}
			if granted != 1 {
				t.Fatalf("round %d: %d calls answered granted, want exactly 1", round, granted)
			}
		}
	})
}

func TestLoginOutcomes(t *testing.T) {
	c := &clock{}
	base := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	c.set(base)
	past := base.Add(-time.Hour)
	future := base.Add(time.Hour)
	tests := []struct {
		name     string
		regs     []prereg.Input
		login    prereg.Login
		verified bool
		outcome  prereg.Outcome
		roles    []string
	}{
		{"no registrations", nil, prereg.Login{UserID: "u", Email: "a@x.io"}, true, prereg.OutcomeNoMatch, []string{}},
		{"no email", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}}}, prereg.Login{UserID: "u"}, true, prereg.OutcomeNoMatch, []string{}},
		{"case-insensitive match", []prereg.Input{{Email: "Ana.Silva@Example.com", Roles: []string{"r"}}}, prereg.Login{UserID: "u", Email: "ana.silva@example.COM"}, true, prereg.OutcomeGranted, []string{"r"}},
		{"unverified", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}}}, prereg.Login{UserID: "u", Email: "a@x.io"}, false, prereg.OutcomeEmailUnverified, []string{}},
		{"pinned to other connection", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}, Connection: "google-oauth2"}}, prereg.Login{UserID: "u", Email: "a@x.io", Connection: "Username-Password-Authentication"}, true, prereg.OutcomeNoMatch, []string{}},
		{"pinned, no connection in request", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}, Connection: "google-oauth2"}}, prereg.Login{UserID: "u", Email: "a@x.io"}, true, prereg.OutcomeNoMatch, []string{}},
		{"pinned to this connection", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}, Connection: "google-oauth2"}}, prereg.Login{UserID: "u", Email: "a@x.io", Connection: "google-oauth2"}, true, prereg.OutcomeGranted, []string{"r"}},
		{"expired", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}, ExpiresAt: &past}}, prereg.Login{UserID: "u", Email: "a@x.io"}, true, prereg.OutcomeNoMatch, []string{}},
		{"not yet expired", []prereg.Input{{Email: "a@x.io", Roles: []string{"r"}, ExpiresAt: &future}}, prereg.Login{UserID: "u", Email: "a@x.io"}, true, prereg.OutcomeGranted, []string{"r"}},
		{"other organization's roles not in this login", []prereg.Input{{Email: "a@x.io", Roles: []string{"t"}}, {Email: "a@x.io", OrganizationID: "org_b", Roles: []string{"b"}}}, prereg.Login{UserID: "u", Email: "a@x.io", OrganizationID: "org_c"}, true, prereg.OutcomeGranted, []string{"t"}},
	}
	eachSets(t, func(t *testing.T, opts boltstore.Options) {
		opts.Now = c.now
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c.set(base.Add(-2 * time.Hour)) // registrations written before expiry
				s := open(t, opts)
				for _, in := range tt.regs {
					put(t, s, in)
				}
				c.set(base)
				res, err := s.Login(context.Background(), tt.login, tt.verified)
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tt.outcome || !slices.Equal(res.Roles, tt.roles) {
					t.Fatalf("got %s %v, want %s %v", res.Outcome, res.Roles, tt.outcome, tt.roles)
				}
			})
		}
	})
}

// A claim leaves the organization index as it was: a pending record's
// entry already files it where a granted one is (moving it cost two random
// pages of the index per grant). Revoking a grant does move it.
func TestClaimLeavesOrganizationIndex(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"t"}})
	put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_b", Roles: []string{"b"}})
	put(t, s, prereg.Input{Email: "c@x.io", OrganizationID: "org_b", Roles: []string{"c"}})
	before, err := s.OrgIndexForTest()
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true); err != nil || res.Outcome != prereg.OutcomeGranted || len(res.Grants) != 2 {
		t.Fatalf("claim: %v %+v", err, res.HookResult)
	}
	after, err := s.OrgIndexForTest()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("a claim changed the organization index:\nbefore %q\nafter  %q", before, after)
	}
	if _, _, err := s.Revoke(ctx, prereg.RegistrationID("org_b", "a@x.io"), true, "t"); err != nil {
		t.Fatal(err)
	}
	if after, _ = s.OrgIndexForTest(); slices.Equal(before, after) {
		t.Fatal("a force-revoke left the organization index as it was")
	}
}

func TestGrantNeverGoesToAnotherUser(t *testing.T) {
	eachSets(t, func(t *testing.T, opts boltstore.Options) {
		s := open(t, opts)
		put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
		ctx := context.Background()
		res, _ := s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, true)
		if res.Outcome != prereg.OutcomeGranted {
			t.Fatalf("first: %s", res.Outcome)
		}
		res, _ = s.Login(ctx, prereg.Login{UserID: "u2", Email: "a@x.io"}, true)
		if res.Outcome != prereg.OutcomeNoMatch || len(res.Grants) != 0 {
			t.Fatalf("second account: %+v", res)
		}
		res, _ = s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, false)
		if res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, []string{"r"}) {
			t.Fatalf("again: %+v", res)
		}
	})
}

func TestAlreadyGrantedWinsOverUnverified(t *testing.T) {
	eachSets(t, func(t *testing.T, opts boltstore.Options) {
		s := open(t, opts)
		ctx := context.Background()
		put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
		if res, _ := s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, true); res.Outcome != prereg.OutcomeGranted {
			t.Fatal(res.Outcome)
		}
		put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_z", Roles: []string{"z"}})
		res, _ := s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, false)
		if res.Outcome != prereg.OutcomeAlreadyGranted {
			t.Fatalf("outcome %s, want already_granted", res.Outcome)
		}
		// The new organization registration is still pending.
		items, _, _ := s.List(ctx, prereg.Filter{Status: prereg.StatusPending})
		if len(items) != 1 || items[0].OrganizationID != "org_z" {
			t.Fatalf("pending: %+v", items)
		}
	})
}

func TestWriteRules(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	in := prereg.Input{Email: "a@x.io", Roles: []string{"r"}}
	if _, ch, _ := s.Put(ctx, in, "api", "t"); ch != prereg.Created {
		t.Fatalf("first write %s", ch)
	}
	if _, ch, _ := s.Put(ctx, in, "api", "t"); ch != prereg.Unchanged {
		t.Fatalf("same write %s", ch)
	}
	in.Roles = []string{"r", "s"}
	if _, ch, _ := s.Put(ctx, in, "api", "t"); ch != prereg.Updated {
		t.Fatalf("changed write %s", ch)
	}
	id := prereg.RegistrationID("", "a@x.io")
	if r, _, err := s.Revoke(ctx, id, false, "t"); err != nil || r.Status != prereg.StatusRevoked {
		t.Fatalf("revoke: %v %+v", err, r)
	}
	if r, ch, _ := s.Put(ctx, in, "api", "t"); ch != prereg.Updated || r.Status != prereg.StatusPending {
		t.Fatalf("reopen: %s %s", ch, r.Status)
	}
	if res, _ := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true); res.Outcome != prereg.OutcomeGranted {
		t.Fatal(res.Outcome)
	}
	if _, ch, _ := s.Put(ctx, in, "api", "t"); ch != prereg.Unchanged {
		t.Fatalf("identical write to granted: %s", ch)
	}
	in.Roles = []string{"other"}
	if _, ch, err := s.Put(ctx, in, "api", "t"); ch != prereg.Rejected || prereg.ErrorCode(err) != prereg.Conflict {
		t.Fatalf("different write to granted: %s %v", ch, err)
	}
	if _, _, err := s.Revoke(ctx, id, false, "t"); prereg.ErrorCode(err) != prereg.Conflict {
		t.Fatalf("revoke granted without force: %v", err)
	}
	r, _, err := s.Revoke(ctx, id, true, "t")
	if err != nil || r.Status != prereg.StatusRevoked || r.GrantedTo != "u" {
		t.Fatalf("force revoke: %v %+v", err, r)
	}
	if res, _ := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true); res.Outcome != prereg.OutcomeNoMatch {
		t.Fatalf("after force revoke: %s", res.Outcome)
	}
}

func TestPagingAndIndexesStayConsistent(t *testing.T) {
	c := &clock{}
	c.set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, boltstore.Options{Now: c.now})
	ctx := context.Background()
	exp := c.now().Add(time.Hour)
	const n = 2500
	var items []prereg.Input
	for i := range n {
		in := prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), Roles: []string{"r"}}
		if i%2 == 1 {
			in.OrganizationID = "org_odd"
		}
		if i%5 == 0 {
			in.ExpiresAt = &exp
		}
		items = append(items, in)
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false); err != nil {
		t.Fatal(err)
	}
	// Grant some, revoke some: the indexes must follow.
	for i := 0; i < 100; i++ {
		if _, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i)}, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := 100; i < 150; i++ {
		org := ""
		if i%2 == 1 {
			org = "org_odd"
		}
		if _, _, err := s.Revoke(ctx, prereg.RegistrationID(org, fmt.Sprintf("user%d@example.com", i)), false, "t"); err != nil {
			t.Fatal(err)
		}
	}
	c.add(2 * time.Hour) // every fifth pending one expires
	count := func(f prereg.Filter) int {
		t.Helper()
		seen := map[string]bool{}
		f.Limit = 37 // several pages even for the smaller listings
		for {
			page, next, err := s.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				if seen[r.ID] {
					t.Fatalf("%s seen twice", r.ID)
				}
				seen[r.ID] = true
			}
			if next == "" {
				return len(seen)
			}
			f.Cursor = next
		}
	}
	// pending: 2500 - 100 granted - 50 revoked, minus the expired among them.
	expired, oddPending := 0, 0
	for i := 150; i < n; i++ {
		if i%5 == 0 {
			expired++
		} else if i%2 == 1 {
			oddPending++
		}
	}
	tests := []struct {
		name string
		f    prereg.Filter
		want int
	}{
		{"all", prereg.Filter{}, n},
		{"granted", prereg.Filter{Status: prereg.StatusGranted}, 100},
		{"revoked", prereg.Filter{Status: prereg.StatusRevoked}, 50},
		{"expired", prereg.Filter{Status: prereg.StatusExpired}, expired},
		{"pending", prereg.Filter{Status: prereg.StatusPending}, n - 150 - expired},
		{"org", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true}, n / 2},
		{"tenant-wide granted", prereg.Filter{OrganizationSet: true, Status: prereg.StatusGranted}, 50},
		{"org granted", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusGranted}, 50},
		{"org pending", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusPending}, oddPending},
		{"org revoked", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusRevoked}, 25},
		{"email", prereg.Filter{Email: " USER7@example.com "}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(tt.f); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := prereg.Counts{Pending: int64(n - 150 - expired), Granted: 100, Revoked: 50, Expired: int64(expired), Total: n}
	if st.Overall != want {
		t.Fatalf("stats %+v, want %+v", st.Overall, want)
	}
	if st.ByOrganization["org_odd"].Total != n/2 {
		t.Fatalf("org stats %+v", st.ByOrganization["org_odd"])
	}
	if _, _, err := s.List(ctx, prereg.Filter{Status: prereg.StatusGranted, Cursor: "garbage!"}); prereg.ErrorCode(err) != prereg.Invalid {
		t.Fatalf("bad cursor: %v", err)
	}
	// A cursor resumes only the walk it came from: a status listing walks
	// each organization's range, and its cursor names the status.
	_, next, err := s.List(ctx, prereg.Filter{Status: prereg.StatusPending, Limit: 10})
	if err != nil || next == "" {
		t.Fatalf("first pending page: %v %q", err, next)
	}
	for _, f := range []prereg.Filter{{Status: prereg.StatusGranted}, {Status: prereg.StatusRevoked}, {OrganizationSet: true}, {}} {
		f.Cursor = next
		if _, _, err := s.List(ctx, f); prereg.ErrorCode(err) != prereg.Invalid {
			t.Errorf("pending cursor used for %+v: %v", f, err)
		}
	}
	// Granted listings walk the user index: their cursors are its
	// positions, and resume no other walk.
	_, next, err = s.List(ctx, prereg.Filter{Status: prereg.StatusGranted, Limit: 10})
	if err != nil || next == "" {
		t.Fatalf("first granted page: %v %q", err, next)
	}
	for _, f := range []prereg.Filter{{Status: prereg.StatusPending}, {OrganizationID: "org_odd", OrganizationSet: true}, {}} {
		f.Cursor = next
		if _, _, err := s.List(ctx, f); prereg.ErrorCode(err) != prereg.Invalid {
			t.Errorf("granted cursor used for %+v: %v", f, err)
		}
	}
}

// One organization's granted records are listed through its part of the
// organization index or through the user index, whichever the counters
// say is shorter; a cursor keeps the walk it came from even when the
// counters change their verdict in the middle of the paging.
func TestGrantedListingsOfOneOrganization(t *testing.T) {
	s := open(t, boltstore.Options{NoSync: true})
	ctx := context.Background()
	add := func(org, prefix string, n, granted int) map[string]bool {
		t.Helper()
		var items []prereg.Input
		for i := range n {
			items = append(items, prereg.Input{Email: fmt.Sprintf("%s%d@example.com", prefix, i), OrganizationID: org, Roles: []string{"r"}})
		}
		if _, err := s.ApplyBatch(ctx, items, "import:imp_1", "t", false); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for i := range granted {
			l := prereg.Login{UserID: fmt.Sprintf("auth0|%s%d", prefix, i), Email: items[i].Email, OrganizationID: org}
			if res, err := s.Login(ctx, l, true); err != nil || res.Outcome != prereg.OutcomeGranted {
				t.Fatalf("grant %s: %v %v", l.Email, res.Outcome, err)
			}
			ids[prereg.RegistrationID(org, items[i].Email)] = true
		}
		return ids
	}
	small := add("org_small", "s", 30, 20) // its part: 30 records, 30 grants in all
	big := add("org_big", "b", 300, 10)    // its part: 300 records, 30 grants in all
	// page lists the organization's granted records three at a time; mid
	// runs once, after the first page.
	page := func(org string, mid func()) map[string]bool {
		t.Helper()
		f := prereg.Filter{Status: prereg.StatusGranted, OrganizationID: org, OrganizationSet: true, Limit: 3}
		got := map[string]bool{}
		for {
			items, next, err := s.List(ctx, f)
			if err != nil {
				t.Fatalf("%s: %v", org, err)
			}
			for _, r := range items {
				if got[r.ID] || r.Status != prereg.StatusGranted || r.OrganizationID != org {
					t.Fatalf("%s: %s (%s, %q) listed twice or wrongly", org, r.ID, r.Status, r.OrganizationID)
				}
				got[r.ID] = true
			}
			if next == "" {
				return got
			}
			if mid != nil {
				mid()
				mid = nil
			}
			f.Cursor = next
		}
	}
	for _, tt := range []struct {
		org  string
		want map[string]bool
		mid  func()
	}{
		{"org_small", small, nil},
		{"org_big", big, nil},
		// The organization's part grows past every grant: a fresh listing
		// would walk the user index, this one stays in the part.
		{"org_small", small, func() { add("org_small", "t", 100, 0) }},
		// Grants elsewhere outnumber the part: the other way round.
		{"org_big", big, func() { add("org_other", "o", 400, 400) }},
	} {
		if got := page(tt.org, tt.mid); !maps.Equal(got, tt.want) {
			t.Errorf("%s: listed %d of its %d grants: %v", tt.org, len(got), len(tt.want), got)
		}
	}
}

func TestTokens(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	tok, secret, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Authenticate(ctx, prereg.HashSecret(secret))
	if err != nil || !ok || got.ID != tok.ID || got.OrganizationID != "org_a" || !got.ReadOnly {
		t.Fatalf("authenticate: %v %v %+v", err, ok, got)
	}
	if _, ok, _ := s.Authenticate(ctx, prereg.HashSecret(secret+"x")); ok {
		t.Fatal("wrong secret accepted")
	}
	if _, err := s.RevokeToken(ctx, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Authenticate(ctx, prereg.HashSecret(secret)); ok {
		t.Fatal("revoked token accepted")
	}
}

func TestBootstrapOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hook, admin, err := s.Bootstrap(context.Background(), prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
	if err != nil || hook == "" || admin == "" {
		t.Fatalf("first bootstrap: %v %q %q", err, hook, admin)
	}
	s.Close()
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hook2, admin2, _ := s.Bootstrap(context.Background(), prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
	if hook2 != "" || admin2 != "" {
		t.Fatal("secrets generated twice")
	}
	if _, ok, _ := s.Authenticate(context.Background(), prereg.HashSecret(admin)); !ok {
		t.Fatal("bootstrap admin token not accepted after restart")
	}
}

func TestLockedStoreFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = boltstore.Open(path, boltstore.Options{LockTimeout: 100 * time.Millisecond})
	if prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("second open: %v", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
