package auth0sync_test

import (
	"context"
	"testing"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/prereg"
)

func TestReconcile(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	addReconcileUsers(e.fake)
	cases := reconcileCases()
	byID := map[string]string{}
	for name, c := range cases {
		r, _, err := e.store.Put(ctx, c.in.Normalize(), "api", "test")
		if err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
		byID[r.ID] = name
	}

	t.Run("dry run writes nothing", func(t *testing.T) {
		rep, err := auth0sync.Reconcile(ctx, e.store, e.c, true)
		if err != nil {
			t.Fatal(err)
		}
		checkReconcile(t, rep, cases, byID, true)
		if len(rep.Jobs) != 0 || e.queued(t) != 0 {
			t.Errorf("dry run enqueued jobs")
		}
		for id := range byID {
			if r := e.reg(t, id); r.Status != prereg.StatusPending {
				t.Errorf("dry run changed %s to %s", byID[id], r.Status)
			}
		}
	})
	t.Run("real run grants", func(t *testing.T) {
		rep, err := auth0sync.Reconcile(ctx, e.store, e.c, false)
		if err != nil {
			t.Fatal(err)
		}
		checkReconcile(t, rep, cases, byID, false)
		if len(rep.Jobs) != rep.Granted || e.queued(t) != rep.Granted {
			t.Errorf("%d jobs returned, %d queued, want %d", len(rep.Jobs), e.queued(t), rep.Granted)
		}
		for id, name := range byID {
			r := e.reg(t, id)
			if w := cases[name].want; w.user != "" && (r.Status != prereg.StatusGranted || r.GrantedTo != w.user) {
				t.Errorf("%s: %s to %q", name, r.Status, r.GrantedTo)
			}
		}
	})
	t.Run("second run only rechecks the rest", func(t *testing.T) {
		rep, err := auth0sync.Reconcile(ctx, e.store, e.c, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Granted != 0 || rep.Checked != 4 {
			t.Errorf("second run: checked %d granted %d, want 4 and 0", rep.Checked, rep.Granted)
		}
	})
}

// addReconcileUsers adds the Auth0 users TestReconcile's registrations
// are matched with.
func addReconcileUsers(f *auth0fake.Server) {
	// Database connection: stored lower-cased.
	f.AddUser(auth0fake.User{ID: "auth0|ana", Email: "ana@example.com", EmailVerified: true})
	// Social connection: case kept, found only by the as-given lookup.
	f.AddUser(auth0fake.User{ID: "google-oauth2|eve", Email: "Eve.X@Example.com", EmailVerified: true, Connection: "google-oauth2"})
	f.AddUser(auth0fake.User{ID: "auth0|carl", Email: "carl@example.com", EmailVerified: false})
	f.AddUser(auth0fake.User{ID: "auth0|dana1", Email: "dana@example.com", EmailVerified: true})
	f.AddUser(auth0fake.User{ID: "google-oauth2|dana2", Email: "dana@example.com", EmailVerified: true, Connection: "google-oauth2"})
	// One verified and one unverified account: the verified one wins.
	f.AddUser(auth0fake.User{ID: "auth0|fay", Email: "fay@example.com", EmailVerified: true})
	f.AddUser(auth0fake.User{ID: "github|fay", Email: "fay@example.com", EmailVerified: false, Connection: "github"})
}

type reconcileWant struct {
	result, reason, user string
}

type reconcileCase struct {
	in   prereg.Input
	want reconcileWant
}

// reconcileCases are TestReconcile's registrations, by name, with the
// item a real run reports for each.
func reconcileCases() map[string]reconcileCase {
	return map[string]reconcileCase{
		"ana":    {prereg.Input{Email: "Ana@Example.com", Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileGranted, "", "auth0|ana"}},
		"eve":    {prereg.Input{Email: "Eve.X@Example.com", OrganizationID: orgA, Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileGranted, "", "google-oauth2|eve"}},
		"bob":    {prereg.Input{Email: "bob@example.com", Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileSkipped, prereg.ReasonNoUser, ""}},
		"carl":   {prereg.Input{Email: "carl@example.com", Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileSkipped, prereg.ReasonNotVerified, ""}},
		"dana":   {prereg.Input{Email: "dana@example.com", Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileSkipped, prereg.ReasonSeveralUsers, ""}},
		"dana-g": {prereg.Input{Email: "dana@example.com", OrganizationID: orgA, Roles: []string{"admin"}, Connection: "google-oauth2"}, reconcileWant{prereg.ReconcileGranted, "", "google-oauth2|dana2"}},
		"fay":    {prereg.Input{Email: "fay@example.com", Roles: []string{"admin"}}, reconcileWant{prereg.ReconcileGranted, "", "auth0|fay"}},
		"ana-gh": {prereg.Input{Email: "ana@example.com", OrganizationID: "org_other1", Roles: []string{"admin"}, Connection: "github"}, reconcileWant{prereg.ReconcileSkipped, prereg.ReasonNoUser, ""}},
	}
}

// checkReconcile checks a report against the cases: one masked item per
// registration with its result, and the counts (granted reads
// would_grant in a dry run).
func checkReconcile(t *testing.T, rep prereg.ReconcileReport, cases map[string]reconcileCase, byID map[string]string, dry bool) {
	t.Helper()
	if rep.Checked != len(cases) || len(rep.Items) != len(cases) {
		t.Fatalf("checked %d, %d items; want %d", rep.Checked, len(rep.Items), len(cases))
	}
	granted := 0
	for _, it := range rep.Items {
		name := byID[it.RegistrationID]
		w := cases[name].want
		if dry && w.result == prereg.ReconcileGranted {
			w.result = prereg.ReconcileWouldGrant
		}
		if it.Result != w.result || it.Reason != w.reason || it.UserID != w.user {
			t.Errorf("%s: got %s/%s/%s, want %s/%s/%s", name, it.Result, it.Reason, it.UserID, w.result, w.reason, w.user)
		}
		if it.Email != prereg.MaskEmail(cases[name].in.Email) {
			t.Errorf("%s: email %q not masked", name, it.Email)
		}
		if w.user != "" {
			granted++
		}
	}
	if rep.Granted != granted || rep.Skipped != len(cases)-granted || rep.Errors != 0 {
		t.Errorf("counts granted %d skipped %d errors %d", rep.Granted, rep.Skipped, rep.Errors)
	}
}

func TestReconcileWaitsOutRateLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddUser(auth0fake.User{ID: "auth0|ana", Email: "ana@example.com", EmailVerified: true})
	if _, _, err := e.store.Put(ctx, prereg.Input{Email: "ana@example.com", Roles: []string{"admin"}}.Normalize(), "api", "test"); err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext(1, auth0fake.Fault{Status: 429, RetryAfter: "0", Path: "/api/v2/users-by-email"})
	rep, err := auth0sync.Reconcile(ctx, e.store, e.c, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Granted != 1 || rep.Errors != 0 {
		t.Errorf("report %+v", rep)
	}
}
