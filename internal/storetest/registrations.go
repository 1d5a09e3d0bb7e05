package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testRegistrations covers CONTRACT §1's write rules.
func testRegistrations(t *testing.T, open Open) {
	t.Run("WriteRules", func(t *testing.T) { testWriteRules(t, open(t, Options{})) })
	t.Run("FieldsLeftOutAreCleared", func(t *testing.T) { testFieldsCleared(t, open) })
	t.Run("ExpiredReopens", func(t *testing.T) { testExpiredReopens(t, open) })
	t.Run("GetUnknown", func(t *testing.T) {
		s := open(t, Options{})
		if _, err := s.Get(context.Background(), prereg.RegistrationID("", "nobody@x.io")); prereg.ErrorCode(err) != prereg.NotFound {
			t.Fatalf("get of an unknown registration: %v", err)
		}
		if _, _, err := s.Revoke(context.Background(), prereg.RegistrationID("", "nobody@x.io"), true, "t"); prereg.ErrorCode(err) != prereg.NotFound {
			t.Fatalf("revoke of an unknown registration: %v", err)
		}
	})
}

// testWriteRules: created, unchanged, updated; a revoked one reopens; a
// granted one takes only an identical write until force-revoked.
func testWriteRules(t *testing.T, s Store) {
	runSteps(t,
		step{"CreatedUnchangedUpdated", func(t *testing.T) { writeChanges(t, s) }},
		step{"RevokedReopens", func(t *testing.T) { revokedReopens(t, s) }},
		step{"GrantedTakesOnlyIdentical", func(t *testing.T) { grantedTakesOnlyIdentical(t, s) }},
		step{"ForceRevoke", func(t *testing.T) { forceRevokeGranted(t, s) }},
	)
}

// writeRulesID is the registration testWriteRules writes.
var writeRulesID = prereg.RegistrationID("", "a@x.io")

func writeChanges(t *testing.T, s Store) {
	ctx := context.Background()
	in := prereg.Input{Email: "a@x.io", Roles: []string{"r"}}
	for _, w := range []struct {
		roles []string
		want  prereg.Change
		what  string
	}{
		{[]string{"r"}, prereg.Created, "first write"},
		{[]string{"r"}, prereg.Unchanged, "same write"},
		{[]string{"r", "s"}, prereg.Updated, "changed write"},
	} {
		in.Roles = w.roles
		_, ch, _ := s.Put(ctx, in, "api", "t")
		expect(t, ch == w.want, "%s %s", w.what, ch)
	}
}

func revokedReopens(t *testing.T, s Store) {
	ctx := context.Background()
	r, _, err := s.Revoke(ctx, writeRulesID, false, "t")
	expect(t, err == nil && r.Status == prereg.StatusRevoked, "revoke: %v %+v", err, r)
	r, ch, _ := s.Put(ctx, prereg.Input{Email: "a@x.io", Roles: []string{"r", "s"}}, "api", "t")
	expect(t, ch == prereg.Updated && r.Status == prereg.StatusPending, "reopen: %s %s", ch, r.Status)
}

func grantedTakesOnlyIdentical(t *testing.T, s Store) {
	ctx := context.Background()
	res, _ := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true)
	expect(t, res.Outcome == prereg.OutcomeGranted, "%s", res.Outcome)
	in := prereg.Input{Email: "a@x.io", Roles: []string{"r", "s"}}
	_, ch, _ := s.Put(ctx, in, "api", "t")
	expect(t, ch == prereg.Unchanged, "identical write to granted: %s", ch)
	in.Roles = []string{"other"}
	r, ch, err := s.Put(ctx, in, "api", "t")
	expect(t, ch == prereg.Rejected && prereg.ErrorCode(err) == prereg.Conflict, "different write to granted: %s %v", ch, err)
	expect(t, r.Status == prereg.StatusGranted && slices.Equal(r.Roles, []string{"r", "s"}), "a refused write answered %+v, want the stored grant", r)
}

func forceRevokeGranted(t *testing.T, s Store) {
	ctx := context.Background()
	_, _, err := s.Revoke(ctx, writeRulesID, false, "t")
	expect(t, prereg.ErrorCode(err) == prereg.Conflict, "revoke granted without force: %v", err)
	r, _, err := s.Revoke(ctx, writeRulesID, true, "t")
	expect(t, err == nil && r.Status == prereg.StatusRevoked && r.GrantedTo == "u", "force revoke: %v %+v", err, r)
	res, _ := s.Login(ctx, prereg.Login{UserID: "u", Email: "a@x.io"}, true)
	expect(t, res.Outcome == prereg.OutcomeNoMatch, "after force revoke: %s", res.Outcome)
	r, _, err = s.Revoke(ctx, writeRulesID, false, "t")
	expect(t, err == nil && r.Status == prereg.StatusRevoked, "revoking a revoked one again: %v %+v", err, r)
}

// A write replaces roles, connection and expiry: a field left out is
// cleared, not kept from the record before.
func testFieldsCleared(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now})
	ctx := context.Background()
	exp := c.now().Add(48 * time.Hour)
	first := Put(t, s, prereg.Input{Email: "Ana@x.io", OrganizationID: "org_a", Roles: []string{"r1", "r2"}, Connection: "google-oauth2", ExpiresAt: &exp})
	expect(t, first.Connection == "google-oauth2" && first.ExpiresAt != nil && first.ExpiresAt.Equal(exp) && first.Source == "api" && first.Email == "Ana@x.io",
		"first write stored %+v", first)
	c.add(time.Minute)
	r, ch, err := s.Put(ctx, prereg.Input{Email: "ana@X.io", OrganizationID: "org_a", Roles: []string{"r3"}}, "import:imp_1", "t")
	expect(t, err == nil && ch == prereg.Updated, "second write: %s %v", ch, err)
	got, err := s.Get(ctx, first.ID)
	noErr(t, err)
	for _, g := range []prereg.Registration{r, got} {
		report(t, g.ID == first.ID && g.Connection == "" && g.ExpiresAt == nil && slices.Equal(g.Roles, []string{"r3"}),
			"after a write without connection and expiry: %+v", g)
		report(t, g.CreatedAt.Equal(first.CreatedAt) && g.UpdatedAt.Equal(c.now()) && g.Source == "import:imp_1",
			"history after the update: created %v updated %v source %q", g.CreatedAt, g.UpdatedAt, g.Source)
	}
}

// An expired registration written again reopens as pending (updated),
// and a login can claim it then.
func testExpiredReopens(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now})
	ctx := context.Background()
	exp := c.now().Add(time.Hour)
	r := Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}, ExpiresAt: &exp})
	c.add(2 * time.Hour)
	if got, err := s.Get(ctx, r.ID); err != nil || got.Status != prereg.StatusExpired {
		t.Fatalf("after expiry: %v %s", err, got.Status)
	}
	if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeNoMatch {
		t.Fatalf("login of an expired registration: %s", res.Outcome)
	}
	later := c.now().Add(time.Hour)
	got, ch, err := s.Put(ctx, prereg.Input{Email: "a@x.io", Roles: []string{"r"}, ExpiresAt: &later}, "api", "t")
	if err != nil || ch != prereg.Updated || got.Status != prereg.StatusPending {
		t.Fatalf("rewrite of an expired registration: %s %s %v", ch, got.Status, err)
	}
	if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("login after the reopen: %s", res.Outcome)
	}
}

// testExpiry: the expiry range and precision of CONTRACT §1 v2; a grant
// never expires.
func testExpiry(t *testing.T, open Open) {
	t.Run("BoundsRoundTrip", func(t *testing.T) { testExpiryBounds(t, open) })
	t.Run("WithinTheSecond", func(t *testing.T) { testExpiryWithinTheSecond(t, open) })
	t.Run("OnlyWhilePending", func(t *testing.T) { testExpiryOnlyWhilePending(t, open) })
}

// An expiry at either end of the accepted range is stored, read back,
// listed, counted and compared on the hook exactly as accepted, also after
// the store is reopened.
func testExpiryBounds(t *testing.T, open Open) {
	tests := []struct {
		email, in, want string
		status          prereg.Status
	}{
		{"first@example.com", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", prereg.StatusExpired},
		{"last@example.com", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", prereg.StatusPending},
		{"never@example.com", "9999-12-31", "9999-12-31T23:59:59Z", prereg.StatusPending},
		{"nanos@example.com", "9999-12-31T23:59:58.999999999Z", "9999-12-31T23:59:58.999999999Z", prereg.StatusPending},
	}
	opts := Options{Now: func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }, Dir: t.TempDir()}
	s := open(t, opts)
	for _, tt := range tests {
		exp, err := prereg.ParseExpiry(tt.in)
		noErr(t, err)
		Put(t, s, prereg.Input{Email: tt.email, Roles: []string{"r"}, ExpiresAt: exp})
	}
	noErr(t, s.Close())
	s = open(t, opts) // read back from the stored data, not from memory
	ctx := context.Background()
	listed := map[string]prereg.Registration{}
	items, _, err := s.List(ctx, prereg.Filter{})
	noErr(t, err)
	for _, r := range items {
		listed[r.Email] = r
	}
	var want prereg.Counts
	for _, tt := range tests {
		r, err := s.Get(ctx, prereg.RegistrationID("", tt.email))
		if err != nil || prereg.FormatExpiry(r.ExpiresAt) != tt.want || r.Status != tt.status {
			t.Errorf("get %s: %v %s %s, want %s %s", tt.email, err, prereg.FormatExpiry(r.ExpiresAt), r.Status, tt.want, tt.status)
		}
		if l := listed[tt.email]; prereg.FormatExpiry(l.ExpiresAt) != tt.want || l.Status != tt.status {
			t.Errorf("list %s: %s %s, want %s %s", tt.email, prereg.FormatExpiry(l.ExpiresAt), l.Status, tt.want, tt.status)
		}
		res, err := s.Login(ctx, prereg.Login{UserID: "auth0|" + tt.email, Email: tt.email}, true)
		if wantOut := map[prereg.Status]prereg.Outcome{prereg.StatusPending: prereg.OutcomeGranted, prereg.StatusExpired: prereg.OutcomeNoMatch}[tt.status]; err != nil || res.Outcome != wantOut {
			t.Errorf("login %s: %v %s, want %s", tt.email, err, res.Outcome, wantOut)
		}
		want.Total++
		if tt.status == prereg.StatusExpired {
			want.Expired++
		} else {
			want.Granted++
		}
	}
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if err != nil || st.Overall != want {
		t.Errorf("stats: %v %+v, want %+v", err, st.Overall, want)
	}
}

// The list, the hook and the stats agree on a registration expiring
// within the current second: its nanoseconds count.
func testExpiryWithinTheSecond(t *testing.T, open Open) {
	base := time.Date(2027, 1, 31, 18, 0, 0, 0, time.UTC)
	c := newClock(base)
	s := open(t, Options{Now: c.now})
	ctx := context.Background()
	exp := base.Add(500 * time.Millisecond)
	Put(t, s, prereg.Input{Email: "half@example.com", Roles: []string{"r"}, ExpiresAt: &exp})
	for _, tt := range []struct {
		at     time.Duration
		status prereg.Status
	}{
		{0, prereg.StatusPending},
		{499 * time.Millisecond, prereg.StatusPending},
		{500 * time.Millisecond, prereg.StatusExpired},
		{999 * time.Millisecond, prereg.StatusExpired},
		{time.Second, prereg.StatusExpired},
	} {
		c.set(base.Add(tt.at))
		r, err := s.Get(ctx, prereg.RegistrationID("", "half@example.com"))
		if err != nil || r.Status != tt.status {
			t.Fatalf("+%v: get %v %s, want %s", tt.at, err, r.Status, tt.status)
		}
		st, err := s.Stats(ctx, prereg.StatsFilter{})
		if err != nil || (st.Overall.Expired == 1) != (tt.status == prereg.StatusExpired) || st.Overall.Pending+st.Overall.Expired != 1 {
			t.Errorf("+%v: stats %v %+v, want the registration %s", tt.at, err, st.Overall, tt.status)
		}
		items, _, err := s.List(ctx, prereg.Filter{Status: tt.status})
		if err != nil || len(items) != 1 {
			t.Errorf("+%v: listing %s found %d (%v)", tt.at, tt.status, len(items), err)
		}
	}
}

// Expiry applies only while a registration is pending: a grant whose
// expiry passes stays granted, listed and counted as such, and its user
// keeps its roles.
func testExpiryOnlyWhilePending(t *testing.T, open Open) {
	eachMode(t, func(t *testing.T, serve bool) {
		ctx := context.Background()
		c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		s := open(t, Options{Now: c.now, Serve: serve})
		exp := c.now().Add(time.Hour)
		r := Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}, ExpiresAt: &exp})
		if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeGranted {
			t.Fatalf("claim: %s", res.Outcome)
		}
		c.add(2 * time.Hour)
		if got, err := s.Get(ctx, r.ID); err != nil || got.Status != prereg.StatusGranted {
			t.Fatalf("a grant past its expiry reads %s (%v)", got.Status, err)
		}
		if res := loginAs(t, s, "u", "a@x.io", ""); res.Outcome != prereg.OutcomeAlreadyGranted || !slices.Equal(res.Roles, []string{"r"}) {
			t.Fatalf("login past the expiry: %s %v", res.Outcome, res.Roles)
		}
		if st, err := s.Stats(ctx, prereg.StatsFilter{}); err != nil || st.Overall.Granted != 1 || st.Overall.Expired != 0 {
			t.Fatalf("stats: %+v %v", st.Overall, err)
		}
		if items, _, err := s.List(ctx, prereg.Filter{Status: prereg.StatusExpired}); err != nil || len(items) != 0 {
			t.Fatalf("expired listing holds %d (%v)", len(items), err)
		}
	})
}
