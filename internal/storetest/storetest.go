// Package storetest is the behavioural test suite every prereg store must
// pass, as database/sql drivers share conformance tests: it speaks only
// the methods the HTTP layer, the importer and the Auth0 sync use, with
// types of package prereg, so the bbolt store and a later etcd store are
// held to the very same rules (CONTRACT §1-3).
//
// A store's own test calls Run (and Linearizable) with a function that
// opens a fresh store for one test and cleans it up when the test ends:
//
//	storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store { ... })
package storetest

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Store is everything the layers above a store call on it: httpapi's
// Logins, Registrations, SyncQueue, Stats, Erasures, Audit, Backups,
// Imports, Tokens and Health, the console's Sessions, the importer's Store, and the sync queue and
// reconcile methods of auth0sync. The package's own tests check it still
// covers those interfaces.
type Store interface {
	// Logins
	Login(ctx context.Context, l prereg.Login, verified bool) (prereg.LoginResult, error)
	MarkVerificationSent(ctx context.Context, userID string, period time.Duration) (bool, error)
	ForgetVerificationSent(ctx context.Context, userID string) error
	// Registrations
	Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error)
	Get(ctx context.Context, id string) (prereg.Registration, error)
	List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error)
	Each(ctx context.Context, f prereg.Filter, fn func(prereg.Registration) error) error
	Revoke(ctx context.Context, id string, force bool, actor string) (prereg.Registration, []prereg.SyncJob, error)
	// SyncQueue, and the queue the Auth0 sync worker drains
	RetrySync(ctx context.Context, registrationID, actor string) (prereg.SyncJob, error)
	DueJobs(ctx context.Context, now time.Time, limit int) ([]prereg.SyncJob, error)
	FinishJob(ctx context.Context, jobID string, out prereg.SyncOutcome) error
	RetryJob(ctx context.Context, jobID string, notBefore time.Time, attempts int, errMsg string) error
	PendingJobs(ctx context.Context) (int, error)
	// Reconcile
	EachPending(ctx context.Context, fn func(prereg.Registration) error) error
	GrantTo(ctx context.Context, registrationID, userID string) (prereg.Registration, []prereg.SyncJob, error)
	// Stats
	Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error)
	// Erasures
	Erase(ctx context.Context, email, limitOrg, actor string) (prereg.Erasure, error)
	// Audit
	AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error)
	Audit(ctx context.Context, actor string, action prereg.AuditAction, org, regID, summary string) error
	// Backups
	Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error)
	Size() int64
	// Imports, and the importer's Store
	Import(ctx context.Context, id string) (prereg.ImportReport, error)
	Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error)
	PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch
	SaveImport(ctx context.Context, r prereg.ImportReport) error
	// Tokens
	CreateToken(ctx context.Context, req prereg.TokenRequest, actor string) (prereg.Token, string, error)
	Tokens(ctx context.Context) ([]prereg.Token, error)
	RevokeToken(ctx context.Context, id, actor string) (prereg.Token, error)
	Authenticate(ctx context.Context, h [32]byte) (prereg.Token, bool, error)
	// Health
	Ping(ctx context.Context) error
	// Dumps: prereg copy, and backup and restore across store kinds
	Dump(ctx context.Context, fn func(prereg.DumpItem) error) error
	Load(ctx context.Context, items []prereg.DumpItem) error
	DumpCounts(ctx context.Context) (prereg.DumpCounts, error)
	Clear(ctx context.Context) error
	// Sessions of the console
	CreateSession(ctx context.Context, s prereg.Session) (prereg.Session, error)
	Session(ctx context.Context, h [32]byte) (prereg.Session, error)
	DeleteSession(ctx context.Context, h [32]byte) error
	// Close ends the store; the open function's cleanup may close it again.
	Close() error
}

// Checker is implemented by a store that can check its own invariants
// (indexes, caches) in the middle of a test; the suite calls it between
// rounds of concurrent work. The open function checks them at the end.
type Checker interface {
	CheckInvariants() error
}

// Options are what a test needs the opened store to be.
type Options struct {
	// Now is the store's clock (nil: time.Now).
	Now func() time.Time
	// SyncEnabled turns Auth0 sync on: grants and forced revokes enqueue
	// jobs.
	SyncEnabled bool
	// Serve opens the store as the service does (login sets, grant
	// cache), ready to answer from them before the open function returns.
	Serve bool
	// Dir, when set, is where the store keeps its data: opening again
	// with the same Dir (after Close) must find what was written.
	Dir string
}

// Open opens a fresh store for t with opts; it must fail t rather than
// return nil, and close the store when t ends.
type Open func(t *testing.T, opts Options) Store

// Run runs the whole suite against the stores open gives.
func Run(t *testing.T, open Open) {
	for _, area := range []struct {
		name string
		run  func(*testing.T, Open)
	}{
		{"Registrations", testRegistrations},
		{"Expiry", testExpiry},
		{"Logins", testLogins},
		{"Races", testRaces},
		{"Listing", testListing},
		{"Stats", testStats},
		{"Tokens", testTokens},
		{"Audit", testAudit},
		{"SyncQueue", testSyncQueue},
		{"Erasure", testErasure},
		{"Imports", testImports},
		{"Health", testHealth},
		{"Dump", testDump},
		{"Sessions", testSessions},
	} {
		t.Run(area.name, func(t *testing.T) { area.run(t, open) })
	}
}

// eachMode runs test for a store opened as serve opens it (Serve) and for
// one opened plainly (as a command opens the file): their login paths
// differ.
func eachMode(t *testing.T, test func(t *testing.T, serve bool)) {
	t.Helper()
	for _, serve := range []bool{false, true} {
		name := "plain"
		if serve {
			name = "serve"
		}
		t.Run(name, func(t *testing.T) { test(t, serve) })
	}
}

// clock is a settable test clock.
type clock struct{ t atomic.Int64 }

func newClock(at time.Time) *clock {
	c := &clock{}
	c.set(at)
	return c
}

func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()).UTC() }
func (c *clock) set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }

// Put writes in (normalised and validated first, as the API does), failing
// the test on an error; store tests outside the suite use it too.
func Put(t *testing.T, s Store, in prereg.Input) prereg.Registration {
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

// applyBatch writes items in one batch, as an import does.
func applyBatch(t *testing.T, s Store, items []prereg.Input, source string, dryRun bool) []prereg.WriteResult {
	t.Helper()
	res, err := s.PrepareBatch(items, nil, source).Apply(context.Background(), "test", dryRun)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// loginAs logs user in with a verified email.
func loginAs(t *testing.T, s Store, user, email, org string) prereg.HookResult {
	t.Helper()
	res, err := s.Login(context.Background(), prereg.Login{UserID: user, Email: email, OrganizationID: org, EmailVerified: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	return res.HookResult
}

// listAll pages through f, limit entries at a time, failing on an entry
// seen twice, and returns the IDs in the order listed.
func listAll(t *testing.T, s Store, f prereg.Filter, limit int) []string {
	t.Helper()
	f.Limit = limit
	seen := map[string]bool{}
	var ids []string
	for {
		page, next, err := s.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("a page of %d for limit %d", len(page), limit)
		}
		for _, r := range page {
			if seen[r.ID] {
				t.Fatalf("%s listed twice", r.ID)
			}
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
		if next == "" {
			return ids
		}
		f.Cursor = next
	}
}

// check runs the store's own invariant check, if it has one.
func check(t *testing.T, s Store, what string) {
	t.Helper()
	if c, ok := s.(Checker); ok {
		if err := c.CheckInvariants(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// step is one named stage of a scenario whose stages share state.
type step struct {
	name string
	run  func(t *testing.T)
}

// runSteps runs steps in order, each as a subtest. A step that stops
// (t.Fatal) stops the rest, which build on what it should have left; one
// that only reports errors lets them run, as one long test would.
func runSteps(t *testing.T, steps ...step) {
	t.Helper()
	for _, st := range steps {
		finished := false
		t.Run(st.name, func(t *testing.T) {
			st.run(t)
			finished = true
		})
		if !finished {
			t.FailNow()
		}
	}
}

// expect fails t at once with the message when ok is false.
func expect(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

// report reports the message when ok is false and lets t go on.
func report(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// noErr fails t at once when err is not nil.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
