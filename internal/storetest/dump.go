package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Bootstrapper is implemented by a store that generates the first
// start's secrets; with it, testDump also carries a generated hook secret
// and the bootstrap token.
type Bootstrapper interface {
	Bootstrap(ctx context.Context, o prereg.BootstrapOptions) (hookSecret, adminToken string, err error)
	GeneratedHookSecret(ctx context.Context) ([]byte, error)
}

// testDump: a store dumped and loaded into a fresh one (in small batches,
// as prereg copy does in large ones) reads back the same through every
// method, authenticates the same tokens, answers the same logins, counts
// the same, and goes on issuing IDs that do not collide; Clear empties it.
func testDump(t *testing.T, open Open) {
	eachMode(t, func(t *testing.T, serve bool) {
		c := newClock(time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
		o := Options{Now: c.now, SyncEnabled: true, Serve: serve}
		f := &dumpFlow{src: open(t, o), dst: open(t, o), c: c}
		runSteps(t,
			step{"Fill", f.fill},
			step{"Copy", f.copy},
			step{"ReadsBackTheSame", f.same},
			step{"BehavesTheSame", f.behaves},
			step{"Clear", f.clear},
		)
	})
}

// dumpFlow is what the steps of testDump hand on.
type dumpFlow struct {
	src, dst          Store
	c                 *clock
	admin, kept, gone string // token secrets: bootstrap, live, revoked
	granted, synced   prereg.Registration
	pending           prereg.Registration
	items             []prereg.DumpItem
	bootstrapped      bool
}

// fill writes every kind of item through the store's API: registrations
// pending, expiring, expired, granted (synced, with role IDs), revoked and
// force-revoked, tokens live and revoked, sync jobs, an import and its
// report, audit entries, and the generated secrets.
func (f *dumpFlow) fill(t *testing.T) {
	ctx := context.Background()
	s := f.src
	if b, ok := s.(Bootstrapper); ok {
		_, admin, err := b.Bootstrap(ctx, prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
		expect(t, err == nil && admin != "", "bootstrap: %v", err)
		f.admin, f.bootstrapped = admin, true
	}
	var err error
	_, f.kept, err = s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	noErr(t, err)
	gone, goneSecret, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "old"}, "test")
	noErr(t, err)
	_, err = s.RevokeToken(ctx, gone.ID, "test")
	noErr(t, err)
	f.gone = goneSecret

	soon, later := f.c.now().Add(time.Hour), f.c.now().Add(90*24*time.Hour)
	f.pending = Put(t, s, prereg.Input{Email: "pending@x.io", Roles: []string{"r"}, Connection: "db"})
	Put(t, s, prereg.Input{Email: "expiring@x.io", OrganizationID: "org_a", Roles: []string{"r"}, ExpiresAt: &later})
	Put(t, s, prereg.Input{Email: "expired@x.io", Roles: []string{"r"}, ExpiresAt: &soon})
	f.synced = Put(t, s, prereg.Input{Email: "synced@x.io", OrganizationID: "org_a", Roles: []string{"a", "b"}})
	f.granted = Put(t, s, prereg.Input{Email: "granted@x.io", Roles: []string{"g"}})
	revoked := Put(t, s, prereg.Input{Email: "revoked@x.io", Roles: []string{"r"}})
	forced := Put(t, s, prereg.Input{Email: "forced@x.io", Roles: []string{"r"}})
	_, _, err = s.Revoke(ctx, revoked.ID, false, "test")
	noErr(t, err)

	for _, l := range []prereg.Login{
		{UserID: "u_synced", Email: "synced@x.io", OrganizationID: "org_a"},
		{UserID: "u_granted", Email: "granted@x.io"},
		{UserID: "u_forced", Email: "forced@x.io"},
	} {
		res, err := s.Login(ctx, l, true)
		expect(t, err == nil && res.Outcome == prereg.OutcomeGranted && len(res.Jobs) == 1, "login %s: %+v %v", l.Email, res, err)
		if l.UserID == "u_synced" {
			noErr(t, s.FinishJob(ctx, res.Jobs[0].ID, prereg.SyncOutcome{State: prereg.SyncDone, RoleIDs: []string{"rol_a", "rol_b"}}))
		}
	}
	_, _, err = s.Revoke(ctx, forced.ID, true, "test")
	noErr(t, err)

	applyBatch(t, s, []prereg.Input{{Email: "i1@x.io", Roles: []string{"r"}}, {Email: "i2@x.io", OrganizationID: "org_b", Roles: []string{"r"}}}, "import:imp_dump", false)
	noErr(t, s.SaveImport(ctx, prereg.ImportReport{
		ImportSummary: prereg.ImportSummary{ImportID: "imp_dump", Rows: 3, Created: 2, Rejected: 1, Organizations: []string{"org_b"}, Actor: "test", SHA256: "5ae1a4b8c7f0e2d39a6b1c4f8e7d2a0b3c5e9f1a7d4b6c8e0f2a4c6e8b0d2f41", StartedAt: f.c.now(), FinishedAt: f.c.now()},
		Errors:        []prereg.RowError{{Line: 4, Column: "email", Value: "x", Message: "not an address"}},
	}))
	noErr(t, s.Audit(ctx, "test", prereg.AuditBackup, "", "", "backup taken"))
	f.c.add(2 * time.Hour) // expired@ is now expired
	check(t, s, "source after filling")
}

// copy dumps the source and loads it into the destination three items at
// a time, so batches cut across kinds.
func (f *dumpFlow) copy(t *testing.T) {
	ctx := context.Background()
	noErr(t, f.src.Dump(ctx, func(it prereg.DumpItem) error {
		f.items = append(f.items, it)
		return nil
	}))
	kinds := map[prereg.DumpKind]bool{}
	for _, it := range f.items {
		kinds[it.Kind] = true
	}
	for _, k := range prereg.DumpKinds {
		report(t, kinds[k] || k == prereg.DumpSecret && !f.bootstrapped, "the dump holds no %s", k)
	}
	for batch := range slices.Chunk(f.items, 3) {
		noErr(t, f.dst.Load(ctx, batch))
	}
	check(t, f.dst, "destination after loading")
	want, err := f.src.DumpCounts(ctx)
	noErr(t, err)
	got, err := f.dst.DumpCounts(ctx)
	noErr(t, err)
	expect(t, reflect.DeepEqual(got, want), "counts: loaded %v, dumped %v", got, want)
	n := 0
	for _, c := range want {
		n += c
	}
	expect(t, n == len(f.items), "counts add up to %d, the dump held %d items", n, len(f.items))
}

// same compares what every read method answers on both stores.
func (f *dumpFlow) same(t *testing.T) {
	ctx := context.Background()
	reads := map[string]func(s Store) (any, error){
		"dump": func(s Store) (any, error) {
			var items []prereg.DumpItem
			err := s.Dump(ctx, func(it prereg.DumpItem) error { items = append(items, it); return nil })
			return items, err
		},
		"registrations": func(s Store) (any, error) { r, _, err := s.List(ctx, prereg.Filter{Limit: 100}); return r, err },
		"expired": func(s Store) (any, error) {
			r, _, err := s.List(ctx, prereg.Filter{Status: prereg.StatusExpired, Limit: 100})
			return r, err
		},
		"synced grants": func(s Store) (any, error) {
			r, _, err := s.List(ctx, prereg.Filter{Sync: prereg.SyncDone, Limit: 100})
			return r, err
		},
		"one":    func(s Store) (any, error) { return s.Get(ctx, f.synced.ID) },
		"tokens": func(s Store) (any, error) { return s.Tokens(ctx) },
		"audit": func(s Store) (any, error) {
			r, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Limit: 100})
			return r, err
		},
		"imports": func(s Store) (any, error) {
			r, _, err := s.Imports(ctx, prereg.ImportFilter{Limit: 100})
			return r, err
		},
		"import":  func(s Store) (any, error) { return s.Import(ctx, "imp_dump") },
		"jobs":    func(s Store) (any, error) { return s.DueJobs(ctx, f.c.now(), 100) },
		"pending": func(s Store) (any, error) { return s.PendingJobs(ctx) },
		"stats":   func(s Store) (any, error) { return s.Stats(ctx, prereg.StatsFilter{}) },
		"org stats": func(s Store) (any, error) {
			return s.Stats(ctx, prereg.StatsFilter{OrganizationID: "org_a", OrganizationSet: true})
		},
		"hook secret": func(s Store) (any, error) {
			if b, ok := s.(Bootstrapper); ok {
				return b.GeneratedHookSecret(ctx)
			}
			return nil, nil
		},
	}
	for name, read := range reads {
		want, err := read(f.src)
		noErr(t, err)
		got, err := read(f.dst)
		noErr(t, err)
		report(t, reflect.DeepEqual(got, want), "%s: loaded store reads\n%+v\nthe source\n%+v", name, got, want)
	}
}

// behaves checks that the loaded store acts on what it holds as the
// source would: tokens, logins, revokes, and fresh IDs.
func (f *dumpFlow) behaves(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{f.admin, f.bootstrapped}, {f.kept, true}, {f.gone, false}} {
		if tc.secret == "" {
			continue
		}
		want, wok, err := f.src.Authenticate(ctx, prereg.HashSecret(tc.secret))
		noErr(t, err)
		got, ok, err := f.dst.Authenticate(ctx, prereg.HashSecret(tc.secret))
		noErr(t, err)
		report(t, ok == tc.ok && wok == tc.ok && got.ID == want.ID, "token %s…: authenticates %v as %q, want %v as %q", tc.secret[:6], ok, got.ID, tc.ok, want.ID)
	}
	for _, l := range []prereg.Login{
		{UserID: "u_granted", Email: "granted@x.io"},                        // the grant again
		{UserID: "u_synced", Email: "synced@x.io", OrganizationID: "org_a"}, // an organization grant
		{UserID: "u_new", Email: "pending@x.io", Connection: "db"},          // a claim
		{UserID: "u_late", Email: "expired@x.io"},                           // expired: nothing
	} {
		want, err := f.src.Login(ctx, l, true)
		noErr(t, err)
		got, err := f.dst.Login(ctx, l, true)
		noErr(t, err)
		report(t, reflect.DeepEqual(got.HookResult, want.HookResult) && len(got.Jobs) == len(want.Jobs),
			"login %s: loaded store answers %+v (%d jobs), the source %+v (%d jobs)", l.Email, got.HookResult, len(got.Jobs), want.HookResult, len(want.Jobs))
	}
	// The role IDs the sync assigned came along: a force-revoke removes them.
	_, jobs, err := f.dst.Revoke(ctx, f.synced.ID, true, "test")
	noErr(t, err)
	expect(t, len(jobs) == 1 && slices.Equal(jobs[0].Roles, []string{"rol_a", "rol_b"}), "force-revoke of the synced grant: jobs %+v", jobs)

	items := map[string]bool{}
	for _, it := range f.items {
		switch {
		case it.Token != nil:
			items[it.Token.ID] = true
		case it.Job != nil:
			items[it.Job.ID] = true
		case it.Audit != nil:
			items[it.Audit.ID] = true
		}
	}
	tok, _, err := f.dst.CreateToken(ctx, prereg.TokenRequest{Name: "new"}, "test")
	noErr(t, err)
	report(t, !items[tok.ID], "a new token reuses the loaded ID %s", tok.ID)
	report(t, !items[jobs[0].ID], "a new job reuses the loaded ID %s", jobs[0].ID)
	trail, _, err := f.dst.AuditTrail(ctx, prereg.AuditFilter{Limit: 1})
	noErr(t, err)
	expect(t, len(trail) == 1 && !items[trail[0].ID] && trail[0].Action == prereg.AuditTokenCreated, "newest audit entry after the load: %+v", trail)
	check(t, f.dst, "destination after writes")
}

// clear empties the loaded store: nothing is listed, counted, answered
// or authenticated, not even from a serving store's caches.
func (f *dumpFlow) clear(t *testing.T) {
	ctx := context.Background()
	noErr(t, f.dst.Clear(ctx))
	counts, err := f.dst.DumpCounts(ctx)
	noErr(t, err)
	for k, n := range counts {
		report(t, n == 0, "%d %s items after Clear", n, k)
	}
	n := 0
	noErr(t, f.dst.Dump(ctx, func(prereg.DumpItem) error { n++; return nil }))
	report(t, n == 0, "Dump yields %d items after Clear", n)
	regs, _, err := f.dst.List(ctx, prereg.Filter{Limit: 10})
	report(t, err == nil && len(regs) == 0, "registrations after Clear: %d %v", len(regs), err)
	toks, err := f.dst.Tokens(ctx)
	report(t, err == nil && len(toks) == 0, "tokens after Clear: %+v %v", toks, err)
	_, ok, err := f.dst.Authenticate(ctx, prereg.HashSecret(f.kept))
	report(t, err == nil && !ok, "a token authenticates after Clear: %v %v", ok, err)
	res, err := f.dst.Login(ctx, prereg.Login{UserID: "u_granted", Email: "granted@x.io"}, true)
	report(t, err == nil && res.Outcome == prereg.OutcomeNoMatch && len(res.Grants) == 0, "login of a granted user after Clear: %+v %v", res.HookResult, err)
	if b, ok := f.dst.(Bootstrapper); ok {
		h, err := b.GeneratedHookSecret(ctx)
		report(t, err == nil && h == nil, "generated hook secret after Clear: %x %v", h, err)
	}
	check(t, f.dst, "destination after Clear")
	// A cleared store takes a load again.
	noErr(t, f.dst.Load(ctx, f.items))
	got, err := f.dst.DumpCounts(ctx)
	noErr(t, err)
	report(t, got[prereg.DumpRegistration] == len(regsOf(f.items)), "registrations after loading again: %d, want %d", got[prereg.DumpRegistration], len(regsOf(f.items)))
}

func regsOf(items []prereg.DumpItem) []prereg.DumpItem {
	return slices.DeleteFunc(slices.Clone(items), func(it prereg.DumpItem) bool { return it.Kind != prereg.DumpRegistration })
}
