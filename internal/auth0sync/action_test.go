package auth0sync_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/auth0sync"
)

const actionCode = "exports.onExecutePostLogin = async (event, api) => {};\n"

func installOpts(secret string) auth0sync.InstallOptions {
	return auth0sync.InstallOptions{
		Code:         actionCode,
		Secrets:      map[string]string{"PREREG_URL": "https://prereg.example.com", "PREREG_SECRET": secret},
		PollInterval: time.Millisecond,
	}
}

func TestInstallActionIdempotent(t *testing.T) {
	f := auth0fake.New(t)
	f.AddBinding("post-login", "act-other", "other team's action")
	c := newClient(t, f)

	first := install(t, c, installOpts("s1"))
	t.Run("first install creates, deploys and binds", func(t *testing.T) {
		if !first.Changed || !first.Created || !first.Deployed || !first.Bound {
			t.Errorf("first install = %+v, want created, deployed and bound", first)
		}
		checkInstalled(t, f, first.ActionID)
		wantBindings := []string{"act-other", first.ActionID}
		if got := bindingIDs(f); !slices.Equal(got, wantBindings) {
			t.Errorf("bindings = %v, want %v (other action kept, ours appended)", got, wantBindings)
		}
	})
	t.Run("same inputs write nothing", func(t *testing.T) {
		// Nothing changes, no new version, no write at all.
		f.ResetRequests()
		second := install(t, c, installOpts("s1"))
		if second.Changed || second.ActionID != first.ActionID {
			t.Errorf("second install = %+v, want unchanged", second)
		}
		if w := writes(f); len(w) != 0 {
			t.Errorf("second install wrote: %v", w)
		}
		if a := f.Actions(); len(a[len(a)-1].Versions) != 1 {
			t.Errorf("a new version was deployed")
		}
	})
	t.Run("a changed secret value is noticed", func(t *testing.T) {
		// Secret values are invisible through the API.
		third := install(t, c, installOpts("s2"))
		if !third.Updated || !third.Deployed || third.Bound {
			t.Errorf("third install = %+v, want updated and deployed, binding untouched", third)
		}
		if a := fakeAction(f, first.ActionID); a.Secrets["PREREG_SECRET"] != "s2" || len(a.Versions) != 2 {
			t.Errorf("after secret change: secrets %v, %d versions", a.Secrets, len(a.Versions))
		}
		if n := len(f.Bindings("post-login")); n != 2 {
			t.Errorf("%d bindings, want 2", n)
		}
	})
}

// install runs InstallAction, failing the test on an error.
func install(t *testing.T, c *auth0sync.Client, opts auth0sync.InstallOptions) auth0sync.InstallResult {
	t.Helper()
	res, err := c.InstallAction(context.Background(), opts)
	if err != nil {
		t.Fatalf("install: %v", err)
	}
	return res
}

// checkInstalled checks the fake's "prereg" Action after a first install
// with installOpts("s1"): its ID, runtime, trigger, secrets, code and
// single deployed version.
func checkInstalled(t *testing.T, f *auth0fake.Server, id string) {
	t.Helper()
	var ours auth0fake.Action
	for _, a := range f.Actions() {
		if a.Name == "prereg" {
			ours = a
		}
	}
	if ours.ID != id || ours.Runtime != "node22" || ours.Trigger != "post-login" || ours.TriggerVersion != "v3" {
		t.Errorf("action = %+v", ours)
	}
	if ours.Secrets["PREREG_SECRET"] != "s1" || ours.Secrets["PREREG_URL"] != "https://prereg.example.com" {
		t.Errorf("secrets not sent: %v", ours.Secrets)
	}
	if !strings.HasPrefix(ours.Code, actionCode) || strings.Contains(ours.Code, "s1") {
		t.Errorf("code = %q", ours.Code)
	}
	if len(ours.Versions) != 1 || !ours.Versions[0].Deployed {
		t.Errorf("versions = %+v, want one deployed", ours.Versions)
	}
}

// fakeAction is the fake's Action with this ID (zero when there is none).
func fakeAction(f *auth0fake.Server, id string) auth0fake.Action {
	for _, a := range f.Actions() {
		if a.ID == id {
			return a
		}
	}
	return auth0fake.Action{}
}

// writes lists the calls other than reads and token requests.
func writes(f *auth0fake.Server) []string {
	var out []string
	for _, r := range f.Requests() {
		if r.Method != "GET" && r.Path != "/oauth/token" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// bindingIDs lists the action IDs bound to post-login, in order.
func bindingIDs(f *auth0fake.Server) []string {
	var ids []string
	for _, b := range f.Bindings("post-login") {
		ids = append(ids, b.ActionID)
	}
	return ids
}

func TestInstallActionFinishesInterruptedDeploy(t *testing.T) {
	f := auth0fake.New(t)
	f.BuildReads = 3
	c := newClient(t, f)
	ctx := context.Background()
	// The deploy fails once (as if the process died there); the next run
	// must deploy and bind without touching the code.
	f.FailNext(1, auth0fake.Fault{Status: 503, Method: "POST", Path: "/api/v2/actions/actions/"})
	if _, err := c.InstallAction(ctx, installOpts("s1")); err == nil {
		t.Fatal("install with a failing deploy succeeded")
	}
	if n := f.Count("POST", "/api/v2/actions/actions/"); n != 1 {
		t.Fatalf("%d deploy calls, want the one that failed", n)
	}
	res, err := c.InstallAction(ctx, installOpts("s1"))
	if err != nil {
		t.Fatalf("second install: %v", err)
	}
	if !res.Deployed || !res.Bound || res.Created {
		t.Errorf("result = %+v, want deployed and bound, not created again", res)
	}
	if n := len(f.Actions()); n != 1 {
		t.Errorf("%d actions, want 1", n)
	}
}

// The build timeout ends the wait with an error saying so, whether it runs
// out between two reads of the Action or during one.
func TestInstallActionBuildTimeout(t *testing.T) {
	tests := []struct {
		name  string
		fault *auth0fake.Fault
	}{
		{"between reads", nil},
		{"during a read", &auth0fake.Fault{Hang: true, Method: "GET", Path: "/api/v2/actions/actions/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auth0fake.New(t)
			f.BuildReads = 1 << 30 // never built
			if tt.fault != nil {
				f.FailNext(-1, *tt.fault)
			}
			c := newClient(t, f)
			opts := installOpts("s1")
			opts.BuildTimeout = 100 * time.Millisecond
			_, err := c.InstallAction(context.Background(), opts)
			// The configured timeout ended the wait, not the default minute.
			if err == nil || !strings.Contains(err.Error(), "did not build the Action within 100ms") {
				t.Fatalf("err = %v, want a build timeout of 100ms", err)
			}
			if n := len(f.Bindings("post-login")); n != 0 {
				t.Errorf("an unbuilt action was bound")
			}
		})
	}
}

// Auth0 silently drops claims under its own domains, so install-action and
// print-action refuse such a namespace rather than let the Action fall back.
func TestValidClaimNamespace(t *testing.T) {
	tests := []struct {
		ns string
		ok bool
	}{
		{"https://prereg/", true},
		{"https://example.com/", true},
		{"http://example.org/claims/", true},
		{"https://notauth0.com/", true},
		{"https://auth0.com.example.net/", true},
		{"https://auth0.com/", false},
		{"https://tenant.eu.auth0.com/", false},
		{"https://AUTH0.COM./", false},
		{"https://x.webtask.io/", false},
		{"https://webtask.run/", false},
		{"https://example.com", false},
		{"ftp://example.com/", false},
		{"urn:example:", false},
		{"example.com/", false},
		{"", false},
	}
	for _, tt := range tests {
		err := auth0sync.ValidClaimNamespace(tt.ns)
		if (err == nil) != tt.ok {
			t.Errorf("ValidClaimNamespace(%q) = %v, want ok %v", tt.ns, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "namespace") {
			t.Errorf("ValidClaimNamespace(%q) = %q, want an error naming the namespace", tt.ns, err)
		}
	}
}
