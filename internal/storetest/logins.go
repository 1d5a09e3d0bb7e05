package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testLogins covers CONTRACT §2's matching and outcomes.
func testLogins(t *testing.T, open Open) {
	t.Run("Outcomes", func(t *testing.T) { testLoginOutcomes(t, open) })
	t.Run("VerificationMarks", func(t *testing.T) { testVerificationMarks(t, open) })
	eachMode(t, func(t *testing.T, serve bool) {
		for _, tt := range []struct {
			name string
			test func(*testing.T, Store)
		}{
			{"NeverToAnotherUser", testGrantNeverGoesToAnotherUser},
			{"AlreadyGrantedWinsOverUnverified", testAlreadyGrantedWinsOverUnverified},
			{"UnverifiedLeavesPending", testUnverifiedLeavesPending},
			{"ReconcileGrant", testReconcileGrant},
		} {
			t.Run(tt.name, func(t *testing.T) { tt.test(t, open(t, Options{Serve: serve})) })
		}
		t.Run("GrantsFollowEveryWrite", func(t *testing.T) {
			testGrantsFollowEveryWrite(t, open(t, Options{Serve: serve, SyncEnabled: true}))
		})
	})
}

func testLoginOutcomes(t *testing.T, open Open) {
	base := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	c := newClock(base)
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
		{"tenant-wide and this organization's roles", []prereg.Input{{Email: "a@x.io", Roles: []string{"t", "x"}}, {Email: "a@x.io", OrganizationID: "org_b", Roles: []string{"x", "b"}}}, prereg.Login{UserID: "u", Email: "a@x.io", OrganizationID: "org_b"}, true, prereg.OutcomeGranted, []string{"t", "x", "b"}},
	}
	eachMode(t, func(t *testing.T, serve bool) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c.set(base.Add(-2 * time.Hour)) // registrations written before expiry
				s := open(t, Options{Now: c.now, Serve: serve})
				for _, in := range tt.regs {
					Put(t, s, in)
				}
				c.set(base)
				res, err := s.Login(context.Background(), tt.login, tt.verified)
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tt.outcome || !slices.Equal(res.Roles, tt.roles) || res.EmailVerified != tt.verified {
					t.Fatalf("got %s %v (verified %v), want %s %v", res.Outcome, res.Roles, res.EmailVerified, tt.outcome, tt.roles)
				}
				if res.Grants == nil {
					t.Fatal("grants is nil, want an array")
				}
			})
		}
	})
}

func testGrantNeverGoesToAnotherUser(t *testing.T, s Store) {
	Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
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
	r, err := s.Get(ctx, prereg.RegistrationID("", "a@x.io"))
	if err != nil || r.Status != prereg.StatusGranted || r.GrantedTo != "u1" || r.GrantedAt == nil {
		t.Fatalf("the grant reads %+v (%v)", r, err)
	}
}

func testAlreadyGrantedWinsOverUnverified(t *testing.T, s Store) {
	ctx := context.Background()
	Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	if res, _ := s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, true); res.Outcome != prereg.OutcomeGranted {
		t.Fatal(res.Outcome)
	}
	Put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_z", Roles: []string{"z"}})
	res, _ := s.Login(ctx, prereg.Login{UserID: "u1", Email: "a@x.io"}, false)
	if res.Outcome != prereg.OutcomeAlreadyGranted {
		t.Fatalf("outcome %s, want already_granted", res.Outcome)
	}
	// The new organization registration is still pending.
	items, _, _ := s.List(ctx, prereg.Filter{Status: prereg.StatusPending})
	if len(items) != 1 || items[0].OrganizationID != "org_z" {
		t.Fatalf("pending: %+v", items)
	}
}

// email_unverified claims nothing: the registrations stay pending, and a
// verified login claims them later.
func testUnverifiedLeavesPending(t *testing.T, s Store) {
	ctx := context.Background()
	r := Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	for range 3 {
		res, err := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, false)
		if err != nil || res.Outcome != prereg.OutcomeEmailUnverified || len(res.Roles) != 0 || len(res.Grants) != 0 {
			t.Fatalf("unverified login: %+v %v", res.HookResult, err)
		}
	}
	if got, err := s.Get(ctx, r.ID); err != nil || got.Status != prereg.StatusPending || got.GrantedTo != "" {
		t.Fatalf("after unverified logins: %+v %v", got, err)
	}
	if res := loginAs(t, s, "u2", "a@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("verified login after: %s", res.Outcome)
	}
}

// GrantTo (reconcile) claims a pending registration for a user, whose
// next login answers already_granted; it refuses one granted already.
func testReconcileGrant(t *testing.T, s Store) {
	ctx := context.Background()
	Put(t, s, prereg.Input{Email: "e@x.io", Roles: []string{"re"}})
	Put(t, s, prereg.Input{Email: "f@x.io", Roles: []string{"rf"}})
	var pending []string
	if err := s.EachPending(ctx, func(r prereg.Registration) error { pending = append(pending, r.Email); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(pending)
	if !slices.Equal(pending, []string{"e@x.io", "f@x.io"}) {
		t.Fatalf("pending before: %v", pending)
	}
	id := prereg.RegistrationID("", "e@x.io")
	r, _, err := s.GrantTo(ctx, id, "u-e")
	if err != nil || r.Status != prereg.StatusGranted || r.GrantedTo != "u-e" {
		t.Fatalf("grant: %+v %v", r, err)
	}
	if res := loginAs(t, s, "u-e", "e@x.io", ""); res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, []string{"re"}) {
		t.Fatalf("login after reconcile: %s %v", res.Outcome, res.Roles)
	}
	if _, _, err := s.GrantTo(ctx, id, "u-other"); err == nil {
		t.Fatal("a granted registration was granted again")
	}
	pending = nil
	if err := s.EachPending(ctx, func(r prereg.Registration) error { pending = append(pending, r.Email); return nil }); err != nil || !slices.Equal(pending, []string{"f@x.io"}) {
		t.Fatalf("pending after: %v %v", pending, err)
	}
}

// testRaces covers CONTRACT §2's races: one owner per registration, the
// same roles for a user racing with itself, and a revoke that wins over
// every login that starts after it.
func testRaces(t *testing.T, open Open) {
	eachMode(t, func(t *testing.T, serve bool) {
		t.Run("ManyUsersOneWinner", func(t *testing.T) { testClaimRaceManyUsers(t, open(t, Options{Serve: serve})) })
		t.Run("SameUserSameRoles", func(t *testing.T) { testClaimRaceSameUser(t, open(t, Options{Serve: serve})) })
		t.Run("RevokeWinsOverLaterLogins", func(t *testing.T) {
			for round := range 20 {
				testRevokeRace(t, open(t, Options{Serve: serve}), round)
			}
		})
	})
}

func testClaimRaceManyUsers(t *testing.T, s Store) {
	Put(t, s, prereg.Input{Email: "ana@example.com", Roles: []string{"admin"}})
	const n = 32
	var wg sync.WaitGroup
	outcomes := make([]prereg.Outcome, n)
	for i := range n {
		wg.Go(func() {
			res, err := s.Login(context.Background(), prereg.Login{UserID: fmt.Sprintf("auth0|%d", i), Email: "ANA@example.com", EmailVerified: true}, true)
			if err != nil {
				t.Error(err)
			}
			outcomes[i] = res.Outcome
		})
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
}

// One new user logs in from many goroutines at once, round after round,
// for registrations just written: one call claims them and every other
// answers already_granted with the same roles, never no_match.
func testClaimRaceSameUser(t *testing.T, s Store) {
	const rounds, n = 30, 24
	for round := range rounds {
		email := fmt.Sprintf("ana%d@example.com", round)
		Put(t, s, prereg.Input{Email: email, Roles: []string{"admin", "rol_abc"}})
		Put(t, s, prereg.Input{Email: email, OrganizationID: "org_a1", Roles: []string{"org-reader"}})
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
}

// A granted user logs in from several goroutines while a force-revoke
// runs: once Revoke has returned, no login that starts afterwards may
// answer with the revoked grant.
func testRevokeRace(t *testing.T, s Store, round int) {
	email := fmt.Sprintf("r%d@x.io", round)
	r := Put(t, s, prereg.Input{Email: email, Roles: []string{"r"}})
	if res := loginAs(t, s, "u", email, ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("claim: %s", res.Outcome)
	}
	var revoked atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				after := revoked.Load()
				res, err := s.Login(context.Background(), prereg.Login{UserID: "u", Email: email, EmailVerified: true}, true)
				if err != nil {
					t.Error(err)
					return
				}
				if after && len(res.Grants) != 0 {
					t.Errorf("round %d: a login after the revoke answered %+v", round, res.Grants)
					return
				}
			}
		})
	}
	if _, _, err := s.Revoke(context.Background(), r.ID, true, "test"); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	wg.Wait()
}

// testGrantsFollowEveryWrite changes a user's grants in every way a store
// can (claim, sync, a new registration, force-revoke, erasure, reconcile,
// a batch) and checks each login answers with what the store holds then,
// twice (a store that caches answers must drop them on every write).
func testGrantsFollowEveryWrite(t *testing.T, s Store) {
	ctx := context.Background()
	Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r1"}})
	grants := func() []string {
		res := loginAs(t, s, "u", "a@x.io", "org_1")
		var ids []string
		for _, g := range res.Grants {
			ids = append(ids, g.RegistrationID+":"+string(g.Sync))
		}
		slices.Sort(ids)
		return ids
	}
	tenant, org := prereg.RegistrationID("", "a@x.io"), prereg.RegistrationID("org_1", "a@x.io")
	other := prereg.RegistrationID("", "b@x.io")
	steps := []struct {
		name  string
		write func()
		want  []string
	}{
		{"claimed", nil, []string{tenant + ":pending"}},
		{"synced by the queue", func() {
			jobs, err := s.DueJobs(ctx, time.Now().Add(time.Hour), 10)
			if err != nil || len(jobs) != 1 {
				t.Fatalf("jobs %v %v", jobs, err)
			}
			if err := s.FinishJob(ctx, jobs[0].ID, prereg.SyncOutcome{State: prereg.SyncDone}); err != nil {
				t.Fatal(err)
			}
		}, []string{tenant + ":done"}},
		{"a second grant", func() {
			Put(t, s, prereg.Input{Email: "a@x.io", OrganizationID: "org_1", Roles: []string{"r2"}})
		}, []string{tenant + ":done", org + ":pending"}},
		{"force-revoked", func() {
			if _, _, err := s.Revoke(ctx, tenant, true, "test"); err != nil {
				t.Fatal(err)
			}
		}, []string{org + ":pending"}},
		{"another address granted by reconcile", func() {
			Put(t, s, prereg.Input{Email: "b@x.io", Roles: []string{"rb"}})
			if _, _, err := s.GrantTo(ctx, other, "u"); err != nil {
				t.Fatal(err)
			}
		}, []string{other + ":pending", org + ":pending"}},
		{"erased", func() {
			if _, err := s.Erase(ctx, "a@x.io", "", "test"); err != nil {
				t.Fatal(err)
			}
		}, []string{other + ":pending"}},
		{"written again by a batch, claimed again", func() {
			applyBatch(t, s, []prereg.Input{{Email: "a@x.io", Roles: []string{"r3"}}}, "import:imp_1", false)
		}, []string{other + ":pending", tenant + ":pending"}},
	}
	for _, st := range steps {
		slices.Sort(st.want)
		if st.write != nil {
			st.write()
		}
		if got := grants(); !slices.Equal(got, st.want) {
			t.Fatalf("%s: grants %v, want %v", st.name, got, st.want)
		}
		if got := grants(); !slices.Equal(got, st.want) {
			t.Fatalf("%s, asked again: grants %v, want %v", st.name, got, st.want)
		}
	}
}

// testVerificationMarks: a verification email is allowed once per user
// per period; a mark forgotten after a failed send allows the next one.
func testVerificationMarks(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now})
	ctx := context.Background()
	for _, st := range []struct {
		name string
		do   func()
		user string
		want bool
	}{
		{"first", nil, "u1", true},
		{"within the period", func() { c.add(30 * time.Minute) }, "u1", false},
		{"another user", nil, "u2", true},
		{"after the period", func() { c.add(31 * time.Minute) }, "u1", true},
		{"forgotten", func() {
			if err := s.ForgetVerificationSent(ctx, "u1"); err != nil {
				t.Fatal(err)
			}
		}, "u1", true},
		{"again within the period", nil, "u1", false},
	} {
		if st.do != nil {
			st.do()
		}
		if send, err := s.MarkVerificationSent(ctx, st.user, time.Hour); err != nil || send != st.want {
			t.Fatalf("%s: send %v (%v), want %v", st.name, send, err, st.want)
		}
	}
}
