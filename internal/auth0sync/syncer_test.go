package auth0sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testio"
)

var _ auth0sync.Queue = (*boltstore.Store)(nil)
var _ auth0sync.ReconcileStore = (*boltstore.Store)(nil)

// env is a real store file plus the fake and a real client pointed at it.
type env struct {
	path  string
	store *boltstore.Store
	fake  *auth0fake.Server
	c     *auth0sync.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "prereg.db"), fake: auth0fake.New(t)}
	e.open(t)
	e.c = newClient(t, e.fake)
	return e
}

func (e *env) open(t *testing.T) {
	t.Helper()
	st, err := boltstore.Open(e.path, boltstore.Options{SyncEnabled: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e.store = st
	t.Cleanup(func() {
		if errs := st.Check(); len(errs) > 0 {
			t.Errorf("store check: %v", errs)
		}
		_ = st.Close()
	})
}

// grant registers email with roles and logs userID in, returning the
// registration and the sync jobs the claim enqueued.
func (e *env) grant(t *testing.T, userID, email, org string, roles ...string) (prereg.Registration, []prereg.SyncJob) {
	t.Helper()
	ctx := context.Background()
	e.fake.AddUser(auth0fake.User{ID: userID, Email: email, EmailVerified: true})
	if org != "" {
		e.fake.AddOrganization(org)
	}
	in := prereg.Input{Email: email, OrganizationID: org, Roles: roles}.Normalize()
	reg, _, err := e.store.Put(ctx, in, "api", "test")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	res, err := e.store.Login(ctx, prereg.Login{UserID: userID, Email: email, EmailVerified: true, OrganizationID: org}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("login: %v %v", res.Outcome, err)
	}
	if len(res.Jobs) != 1 {
		t.Fatalf("login enqueued %d jobs, want 1", len(res.Jobs))
	}
	return reg, res.Jobs
}

func (e *env) reg(t *testing.T, id string) prereg.Registration {
	t.Helper()
	r, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) queued(t *testing.T) int {
	t.Helper()
	jobs, err := e.store.DueJobs(context.Background(), time.Now().Add(24*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(jobs)
}

// patient is the RunNow budget of tests that expect the jobs finished: the
// budget only caps the wait, and a loaded machine can take seconds.
const patient = time.Minute

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testio.WaitFor(t, 5*time.Second, what, cond)
}

// returnsWhileHeld runs run, failing the test if it does not return while
// the Auth0 calls it started are held: it must not wait for them.
func returnsWhileHeld[T any](t *testing.T, what string, run func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- run() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for a held Auth0 call", what)
	}
	var zero T
	return zero
}

func runSyncer(t *testing.T, s *auth0sync.Syncer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func TestRunNowStates(t *testing.T) {
	tests := []struct {
		name      string
		roles     []string
		org       string
		wantState prereg.SyncState
		wantErr   string
	}{
		{"tenant grant done", []string{"admin"}, "", prereg.SyncDone, ""},
		{"organization grant done", []string{"admin"}, orgA, prereg.SyncDone, ""},
		{"unknown role failed", []string{"admin", "no-such-role"}, "", prereg.SyncFailed, `"no-such-role"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			admin := e.fake.AddRole("", "admin")
			s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
			reg, jobs := e.grant(t, userA, "ana@example.com", tt.org, tt.roles...)
			got := s.RunNow(context.Background(), jobs, patient)
			if got[jobs[0].ID] != tt.wantState {
				t.Fatalf("RunNow = %v, want %s", got, tt.wantState)
			}
			r := e.reg(t, reg.ID)
			if r.Sync != tt.wantState || !strings.Contains(r.SyncError, tt.wantErr) {
				t.Errorf("registration sync = %q %q, want %q containing %q", r.Sync, r.SyncError, tt.wantState, tt.wantErr)
			}
			if n := e.queued(t); n != 0 {
				t.Errorf("%d jobs left in the queue", n)
			}
			assigned := e.fake.UserRoles(userA)
			if tt.org != "" {
				assigned = e.fake.MemberRoles(tt.org, userA)
			}
			if !slices.Equal(assigned, []string{admin}) {
				t.Errorf("assigned %v, want [%s]", assigned, admin)
			}
		})
	}
}

func TestRunNowRespectsBudget(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRole("", "admin")
	// Every Auth0 call is held until the budgets are checked, so the job
	// is still running when RunNow returns however slow the machine is.
	release := make(chan struct{})
	e.fake.FailNext(-1, auth0fake.Fault{Hold: release})
	// The held call must end by the release, not by the client's timeout.
	c, err := auth0sync.New(auth0sync.Config{Domain: e.fake.URL(), ClientID: e.fake.ClientID, ClientSecret: e.fake.ClientSecret, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: c})
	reg, jobs := e.grant(t, userA, "ana@example.com", "", "admin")
	for _, budget := range []time.Duration{0, 50 * time.Millisecond} {
		got := returnsWhileHeld(t, fmt.Sprintf("RunNow(budget %v)", budget), func() map[string]prereg.SyncState {
			return s.RunNow(context.Background(), jobs, budget)
		})
		if len(got) != 0 {
			t.Errorf("RunNow reported %v for a job still running", got)
		}
	}
	if r := e.reg(t, reg.ID); r.Sync != prereg.SyncPending {
		t.Errorf("sync = %q right after the budget, want pending", r.Sync)
	}
	close(release)
	// The attempt RunNow left running finishes.
	eventually(t, "background completion", func() bool { return e.reg(t, reg.ID).Sync == prereg.SyncDone })
	// It ran once, although RunNow was called twice.
	if n := e.fake.Count("POST", "/api/v2/users/"); n != 1 {
		t.Errorf("%d role assignments, want 1", n)
	}
}

func TestRunNowHangingAuth0(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRole("", "admin")
	e.fake.FailNext(-1, auth0fake.Fault{Hang: true})
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, JobTimeout: 200 * time.Millisecond})
	reg, jobs := e.grant(t, userA, "ana@example.com", "", "admin")
	// The attempt ends pending either way (budget or job timeout first), so
	// RunNow reports nothing; that it returns at the budget is
	// TestRunNowRespectsBudget's.
	if got := s.RunNow(context.Background(), jobs, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("RunNow = %v", got)
	}
	// The attempt times out and the job is kept for a retry.
	eventually(t, "retry scheduled", func() bool {
		jobs, _ := e.store.DueJobs(context.Background(), time.Now().Add(time.Hour), 10)
		return len(jobs) == 1 && jobs[0].Attempts == 1 && jobs[0].LastError != ""
	})
	if r := e.reg(t, reg.ID); r.Sync != prereg.SyncPending {
		t.Errorf("sync = %q, want pending", r.Sync)
	}
}

func TestRateLimitHonoursReset(t *testing.T) {
	e := newEnv(t)
	admin := e.fake.AddRole("", "admin")
	reg, _ := e.grant(t, userA, "ana@example.com", "", "admin")
	// X-RateLimit-Reset has whole seconds: reset at the next full second
	// at least 1 s away.
	reset := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	e.fake.FailNext(2, auth0fake.Fault{Status: 429, RateLimitReset: reset, Path: "/api/v2/users/"})
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond, MaxAttempts: 1})
	runSyncer(t, s)
	eventually(t, "sync done", func() bool { return e.reg(t, reg.ID).Sync == prereg.SyncDone })
	var attempts []time.Time
	for _, r := range e.fake.Requests() {
		if r.Method == "POST" && strings.HasPrefix(r.Path, "/api/v2/users/") {
			attempts = append(attempts, r.At)
		}
	}
	// Two 429s then success; MaxAttempts 1 did not fail the job because
	// rate limits do not count.
	if len(attempts) != 3 {
		t.Fatalf("%d attempts, want 3", len(attempts))
	}
	for i, at := range attempts[1:] {
		if at.Before(reset) {
			t.Errorf("attempt %d at %v, before the reset %v", i+2, at.Format(time.StampMilli), reset.Format(time.StampMilli))
		}
	}
	if !slices.Equal(e.fake.UserRoles(userA), []string{admin}) {
		t.Errorf("roles not assigned")
	}
}

func TestRetriesThenFails(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRole("", "admin")
	reg, _ := e.grant(t, userA, "ana@example.com", "", "admin")
	e.fake.FailNext(-1, auth0fake.Fault{Status: 503, Path: "/api/v2/users/"})
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, PollInterval: 10 * time.Millisecond, MaxAttempts: 3})
	runSyncer(t, s)
	eventually(t, "sync failed", func() bool { return e.reg(t, reg.ID).Sync == prereg.SyncFailed })
	if n := e.fake.Count("POST", "/api/v2/users/"); n != 3 {
		t.Errorf("%d attempts, want MaxAttempts = 3", n)
	}
	if r := e.reg(t, reg.ID); !strings.Contains(r.SyncError, "503") {
		t.Errorf("sync error = %q", r.SyncError)
	}
}

// A restart mid-queue loses nothing: jobs whose attempt was cut short are
// still in the store file and run after it is opened again.
func TestRestartLosesNoJob(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRole("", "admin")
	const n = 6
	var regs []prereg.Registration
	for i := range n {
		r, _ := e.grant(t, fmt.Sprintf("auth0|u%d", i), fmt.Sprintf("u%d@example.com", i), "", "admin")
		regs = append(regs, r)
	}
	e.fake.FailNext(-1, auth0fake.Fault{Hang: true, Method: "POST", Path: "/api/v2/users/"})
	// The two hung attempts last until the job timeout, so no job is tried
	// again before the stop however late the test gets to it.
	s1 := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, Concurrency: 2, JobTimeout: time.Second, BaseBackoff: 5 * time.Millisecond})
	stop := runSyncer(t, s1)
	eventually(t, "attempts in flight", func() bool { return e.fake.Count("POST", "/api/v2/users/") >= 2 })
	stop()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.fake.Count("POST", "/api/v2/users/"); got >= n {
		t.Fatalf("all %d jobs ran before the restart; the test proves nothing", got)
	}

	e.fake.ClearFaults()
	e.open(t)
	if q := e.queued(t); q != n {
		t.Fatalf("%d jobs in the queue after the restart, want %d", q, n)
	}
	s2 := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, PollInterval: 10 * time.Millisecond})
	runSyncer(t, s2)
	for _, r := range regs {
		eventually(t, "sync of "+r.ID, func() bool { return e.reg(t, r.ID).Sync == prereg.SyncDone })
	}
	for i := range n {
		if len(e.fake.UserRoles(fmt.Sprintf("auth0|u%d", i))) != 1 {
			t.Errorf("user %d has no role", i)
		}
	}
}

func TestNoJobRunsTwiceAtOnce(t *testing.T) {
	e := newEnv(t)
	e.fake.AddRole("", "admin")
	e.fake.SetDelay(30 * time.Millisecond)
	var all []prereg.SyncJob
	for i := range 8 {
		_, jobs := e.grant(t, fmt.Sprintf("auth0|u%d", i), fmt.Sprintf("u%d@example.com", i), "", "admin")
		all = append(all, jobs...)
	}
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, PollInterval: 5 * time.Millisecond, Concurrency: 8})
	stop := runSyncer(t, s)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { s.RunNow(context.Background(), all, time.Second) })
	}
	wg.Wait()
	eventually(t, "queue drained", func() bool { return e.queued(t) == 0 })
	// Stopping waits for every attempt started, by the loop or RunNow: no
	// call can come after the count.
	stop()
	// The role lookup is cached after the first; each job assigns once.
	if n := e.fake.Count("POST", "/api/v2/users/"); n != len(all) {
		t.Errorf("%d role assignments for %d jobs", n, len(all))
	}
}

func TestVerifyEmailJob(t *testing.T) {
	e := newEnv(t)
	e.fake.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com"})
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
	job := prereg.SyncJob{ID: "job_verify", Kind: prereg.JobVerifyEmail, UserID: userA}
	got := s.RunNow(context.Background(), []prereg.SyncJob{job}, patient)
	if got[job.ID] != prereg.SyncDone {
		t.Fatalf("RunNow = %v", got)
	}
	if !slices.Equal(e.fake.VerificationEmails(), []string{userA}) {
		t.Errorf("verification emails = %v", e.fake.VerificationEmails())
	}
}

// A force-revoke removes the role IDs the grant's sync assigned, even when
// the role was renamed since: its old name no longer resolves.
func TestRevokeRemovesRenamedRole(t *testing.T) {
	for _, org := range []string{"", orgA} {
		t.Run("org="+org, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			editor := e.fake.AddRole("", "editor")
			e.fake.AddRole("", "viewer")
			reg, jobs := e.grant(t, userA, "ana@example.com", org, "editor")
			s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
			if got := s.RunNow(ctx, jobs, patient); got[jobs[0].ID] != prereg.SyncDone {
				t.Fatalf("grant sync = %v", got)
			}
			assigned := func() []string {
				if org != "" {
					return e.fake.MemberRoles(org, userA)
				}
				return e.fake.UserRoles(userA)
			}
			if got := assigned(); !slices.Equal(got, []string{editor}) {
				t.Fatalf("assigned %v", got)
			}
			e.fake.RenameRole(editor, "content-editor")
			// A later process: nothing cached from the grant's sync.
			later := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: newClient(t, e.fake)})
			_, rjobs, err := e.store.Revoke(ctx, reg.ID, true, "test")
			if err != nil || len(rjobs) != 1 {
				t.Fatalf("revoke: %v %v", rjobs, err)
			}
			if got := later.RunNow(ctx, rjobs, patient); got[rjobs[0].ID] != prereg.SyncDone {
				t.Fatalf("revoke sync = %v", got)
			}
			if got := assigned(); len(got) != 0 {
				t.Errorf("roles left after the revoke: %v", got)
			}
		})
	}
}

// The revoke job carries the synced role IDs; a grant whose sync had not
// finished has none kept, and its names are resolved again.
func TestRevokeJobRoles(t *testing.T) {
	tests := []struct {
		name   string
		synced bool
		want   func(editor string) []string
	}{
		{"synced", true, func(editor string) []string { return []string{editor} }},
		{"sync not finished", false, func(string) []string { return []string{"editor"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			editor := e.fake.AddRole("", "editor")
			reg, jobs := e.grant(t, userA, "ana@example.com", "", "editor")
			if tt.synced {
				s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
				s.RunNow(ctx, jobs, patient)
			}
			_, rjobs, err := e.store.Revoke(ctx, reg.ID, true, "test")
			if err != nil || len(rjobs) != 1 {
				t.Fatalf("revoke: %v %v", rjobs, err)
			}
			if want := tt.want(editor); !slices.Equal(rjobs[0].Roles, want) {
				t.Errorf("revoke job roles = %v, want %v", rjobs[0].Roles, want)
			}
		})
	}
}

// A force-revoke also takes the grant out of the user's app_metadata.prereg,
// in either form the Action writes, leaving the rest of app_metadata alone.
func TestRevokeRemovesGrantFromAppMetadata(t *testing.T) {
	entry := func(reg prereg.Registration) map[string]any {
		roles := []any{}
		for _, r := range reg.Roles {
			roles = append(roles, r)
		}
		return map[string]any{"registration_id": reg.ID, "organization_id": reg.OrganizationID, "roles": roles}
	}
	tests := []struct {
		name string
		// form builds app_metadata.prereg from the grants' entries.
		form func(grants ...map[string]any) any
	}{
		{"array of grants", func(grants ...map[string]any) any {
			out := []any{}
			for _, g := range grants {
				out = append(out, g)
			}
			return out
		}},
		{"object with grants", func(grants ...map[string]any) any {
			out := map[string]any{"grants": []any{}, "roles": []any{}, "updated_at": "2026-11-29T02:13:31.000Z"}
			for _, g := range grants {
				out["grants"] = append(out["grants"].([]any), g)
				if g["organization_id"] == "" {
					out["roles"] = append(out["roles"].([]any), g["roles"].([]any)...)
				}
			}
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			e.fake.AddRole("", "editor")
			e.fake.AddRole("", "viewer")
			tenant, jobs := e.grant(t, userA, "ana@example.com", "", "editor")
			org, more := e.grant(t, userA, "ana@example.com", orgA, "viewer")
			s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
			s.RunNow(ctx, append(jobs, more...), patient)
			e.fake.SetAppMetadata(userA, map[string]any{"plan": "gold", "prereg": tt.form(entry(tenant), entry(org))})

			revoke := func(id string) {
				t.Helper()
				_, rjobs, err := e.store.Revoke(ctx, id, true, "test")
				if err != nil || len(rjobs) != 1 {
					t.Fatalf("revoke: %v %v", rjobs, err)
				}
				if got := s.RunNow(ctx, rjobs, patient); got[rjobs[0].ID] != prereg.SyncDone {
					t.Fatalf("revoke sync = %v", got)
				}
			}
			revoke(tenant.ID)
			md := e.fake.AppMetadata(userA)
			if got, want := md["prereg"], tt.form(entry(org)); !sameJSON(got, want, "updated_at") {
				t.Errorf("prereg after the first revoke = %v, want %v", got, want)
			}
			revoke(org.ID)
			md = e.fake.AppMetadata(userA)
			if _, ok := md["prereg"]; ok || md["plan"] != "gold" {
				t.Errorf("app_metadata after the last revoke = %v, want only plan", md)
			}
			if n := e.fake.Count("PATCH", "/api/v2/users/"); n != 2 {
				t.Errorf("%d app_metadata updates, want 2", n)
			}
		})
	}
}

// sameJSON compares two decoded JSON values, ignoring the top-level key
// skip of objects.
func sameJSON(a, b any, skip string) bool {
	norm := func(v any) string {
		if m, ok := v.(map[string]any); ok {
			c := map[string]any{}
			for k, x := range m {
				if k != skip {
					c[k] = x
				}
			}
			v = c
		}
		raw, _ := json.Marshal(v)
		return string(raw)
	}
	return norm(a) == norm(b)
}

// A grant made while sync was off assigned no role: its revoke, once sync
// is on, removes none (the user may hold the role from elsewhere) but still
// takes the grant out of app_metadata.
func TestRevokeOfGrantMadeWithoutSync(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prereg.db")
	fake := auth0fake.New(t)
	editor := fake.AddRole("", "editor")
	fake.AddUser(auth0fake.User{ID: userA, Email: "ana@example.com", EmailVerified: true})
	st, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _, err := st.Put(ctx, prereg.Input{Email: "ana@example.com", Roles: []string{"editor"}}.Normalize(), "api", "test")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := st.Login(ctx, prereg.Login{UserID: userA, Email: "ana@example.com", EmailVerified: true}, true); err != nil || len(res.Jobs) != 0 {
		t.Fatalf("login: %+v %v", res, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e := &env{path: path, fake: fake, c: newClient(t, fake)}
	e.open(t)
	fake.SetAppMetadata(userA, map[string]any{"prereg": []any{map[string]any{"registration_id": reg.ID, "organization_id": "", "roles": []any{"editor"}}}})
	// An admin gave the same role by hand.
	s := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c})
	if _, err := e.c.SyncGrant(ctx, prereg.SyncJob{UserID: userA, Roles: []string{editor}}); err != nil {
		t.Fatal(err)
	}
	_, rjobs, err := e.store.Revoke(ctx, reg.ID, true, "test")
	if err != nil || len(rjobs) != 1 {
		t.Fatalf("revoke: %v %v", rjobs, err)
	}
	if got := s.RunNow(ctx, rjobs, patient); got[rjobs[0].ID] != prereg.SyncDone {
		t.Fatalf("revoke sync = %v", got)
	}
	if _, ok := fake.AppMetadata(userA)["prereg"]; ok {
		t.Errorf("app_metadata still holds the grant: %v", fake.AppMetadata(userA))
	}
	if got := fake.UserRoles(userA); !slices.Equal(got, []string{editor}) {
		t.Errorf("user roles = %v, want the role given by hand kept", got)
	}
}

// prereg revoke --force on the file (a store opened without sync) queues
// the revoke of a synced grant too; the service runs it when it starts.
func TestRevokeOnFileQueuesJob(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	editor := e.fake.AddRole("", "editor")
	reg, jobs := e.grant(t, userA, "ana@example.com", "", "editor")
	auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c}).RunNow(ctx, jobs, patient)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	cli, err := boltstore.Open(e.path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, rjobs, err := cli.Revoke(ctx, reg.ID, true, "cli")
	if cerr := cli.Close(); err == nil {
		err = cerr
	}
	if err != nil || len(rjobs) != 1 || !slices.Equal(rjobs[0].Roles, []string{editor}) {
		t.Fatalf("revoke on the file: %+v %v", rjobs, err)
	}
	e.open(t)
	runSyncer(t, auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: e.store, Client: e.c, PollInterval: 10 * time.Millisecond}))
	eventually(t, "the role removed", func() bool { return len(e.fake.UserRoles(userA)) == 0 })
}
