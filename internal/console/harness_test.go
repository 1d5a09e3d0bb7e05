package console_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/prereg"
)

// chromium is the browser the tests drive: Debian's package, which
// .ci/run installs.
const chromium = "/usr/bin/chromium"

// adminToken is the configured (bootstrap) admin token of every test
// service.
const adminToken = "prt_test-configured-admin-token-0123456789abcdef"

// start is the stopped clock's time when a test begins.
var start = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// clock is a stopped test clock shared by the store and the console:
// session expiry is driven by moving it, never by sleeping.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// env is one prereg service (real gin router, real bbolt store in a
// temporary directory) served over HTTP on loopback.
type env struct {
	store   *boltstore.Store
	imports *limits.Slots // shared by the API's imports and the console's
	clock   *clock
	srv     *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, boltstore.Options{})
}

// newEnvWith is newEnv with the store opened with opts (its clock set);
// tune, when given, changes the console's and the API's configuration.
func newEnvWith(t *testing.T, opts boltstore.Options, tune ...tuning) *env {
	t.Helper()
	e := &env{clock: &clock{}}
	e.clock.ns.Store(start.UnixNano())
	dir := t.TempDir()
	opts.Now = e.clock.now
	st, err := boltstore.Open(filepath.Join(dir, "prereg.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	e.srv = httptest.NewServer(e.service(t, dir, tune...))
	t.Cleanup(e.srv.Close)
	return e
}

// tuning changes a test service's console and API configuration.
type tuning func(e *env, c *console.Config, a *httpapi.Config)

// service is one console and API over e's store, keeping its uploads and
// the importer's temporary files in dir.
func (e *env) service(t *testing.T, dir string, tune ...tuning) http.Handler {
	t.Helper()
	st := e.store
	imp := testImporter{store: st, dir: dir, now: e.clock.now}
	fails := limits.PerMinute(60)
	e.imports = limits.NewSlots(httpapi.DefaultMaxConcurrentImports, 1)
	cc := console.Config{
		AdminToken: adminToken, Importer: imp, Exporter: testExporter{}, TempDir: dir,
		FailureLimiter: fails, ImportSlots: e.imports, Now: e.clock.now,
	}
	ac := httpapi.Config{AdminToken: adminToken, Importer: imp, Exporter: testExporter{}, FailureLimiter: fails, ImportSlots: e.imports, Now: e.clock.now}
	for _, f := range tune {
		f(e, &cc, &ac)
	}
	con := console.New(cc, console.Stores{Registrations: st, SyncQueue: st, Stats: st, Audit: st, Imports: st, Tokens: st, Sessions: st, Backlog: st})
	t.Cleanup(con.Close)
	ac.Console = con
	api := httpapi.New(ac, httpapi.Stores{Logins: st, Registrations: st, SyncQueue: st, Stats: st, Erasures: st, Audit: st, Backups: st, Imports: st, Tokens: st, Health: st})
	return api.Handler()
}

type testImporter struct {
	store *boltstore.Store
	dir   string
	now   func() time.Time
}

func (i testImporter) Run(ctx context.Context, r io.Reader, p prereg.Principal, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	return importer.Run(ctx, i.store, r, importer.Options{DryRun: o.DryRun, Strict: o.Strict, Principal: p, TempDir: i.dir, Now: i.now})
}

type testExporter struct{}

func (testExporter) NewEncoder(w io.Writer) httpapi.Encoder { return csvio.NewEncoder(w) }

// put stores a registration.
func (e *env) put(t *testing.T, email, org string, roles ...string) prereg.Registration {
	t.Helper()
	in := prereg.Input{Email: email, OrganizationID: org, Roles: roles}.Normalize()
	r, _, err := e.store.Put(context.Background(), in, "api", "test")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// grant logs the address in with a verified email, claiming its registrations.
func (e *env) grant(t *testing.T, user, email, org string) {
	t.Helper()
	if _, err := e.store.Login(context.Background(), prereg.Login{UserID: user, Email: email, OrganizationID: org, EmailVerified: true}, true); err != nil {
		t.Fatal(err)
	}
}

// token creates a stored token and returns its secret.
func (e *env) token(t *testing.T, req prereg.TokenRequest) (prereg.Token, string) {
	t.Helper()
	tok, secret, err := e.store.CreateToken(context.Background(), req, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tok, secret
}

// tab is one browser tab in a browser context of its own (its own
// cookies), which records every URL it requests.
type tab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	mu     sync.Mutex
	urls   []string
	thrown []string
}

// open starts headless Chromium with a fresh profile and a tab on e.
func (e *env) open(t *testing.T) *tab {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("no Chromium at %s (apt-get install chromium; .ci/run installs it): %v", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &tab{t: t, ctx: ctx, base: e.srv.URL}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		b.checkOrigin()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.urls = append(b.urls, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			b.thrown = append(b.thrown, ev.ExceptionDetails.Text+" "+ev.ExceptionDetails.URL)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkOrigin fails the test if the tab requested anything outside the
// test server's origin.
func (b *tab) checkOrigin() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.urls) == 0 && !b.t.Skipped() {
		b.t.Error("no request was seen: the network listener saw nothing")
	}
	for _, x := range b.thrown {
		b.t.Errorf("the page's script threw: %s", x)
	}
	for _, u := range b.urls {
		if u != b.base && !strings.HasPrefix(u, b.base+"/") && !strings.HasPrefix(u, "data:") {
			b.t.Errorf("a request left the origin %s: %s", b.base, u)
		}
	}
}

// fail keeps a screenshot of the page and fails the test.
func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	dir := os.Getenv("PREREG_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "prereg-console-screenshots")
	}
	msg := fmt.Sprintf(format, args...)
	if png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil && os.MkdirAll(dir, 0o755) == nil {
		name := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(b.t.Name())+".png")
		if os.WriteFile(name, png, 0o644) == nil {
			msg += "\nscreenshot: " + name
		}
	}
	if loc, err := chromedp.Run(b.ctx, chromedp.Location()); err == nil {
		msg += "\npage: " + loc
	}
	b.t.Fatal(msg)
}

// do runs steps with a deadline, failing with a screenshot.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("%v", err)
	}
}

// submit clicks sel and waits for the page it leads to; it returns the
// answer's status.
func (b *tab) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.fail("click %s: %v", sel, err)
	}
	return resp.Status
}

// swap clicks sel, whose form the page's script sends itself, and waits
// until the answer's page has replaced the page's main part.
func (b *tab) swap(sel string) {
	b.t.Helper()
	eval[bool](b, `(document.querySelector("main").dataset.before = "1", true)`)
	b.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.querySelector("main").dataset.before`)); err != nil {
		b.fail("after a click on %s, the page's main part was not replaced: %v", sel, err)
	}
}

// visit opens path and returns the answer's status.
func (b *tab) visit(path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.fail("open %s: %v", path, err)
	}
	return resp.Status
}

// path is the page's path and query.
func (b *tab) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("%v", err)
	}
	return strings.TrimPrefix(loc, b.base)
}

// text is the visible text of sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression (awaiting a promise).
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluate %.80s: %v", expr, err)
	}
	return v
}

// waitText waits until sel's text holds want (a script changes it).
func (b *tab) waitText(sel, want string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	q, _ := json.Marshal(sel)
	w, _ := json.Marshal(want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf("(document.querySelector(%s)?.textContent ?? '').includes(%s)", q, w))); err != nil {
		b.fail("%s never said %q: %v", sel, want, err)
	}
}

// count is how many elements match sel.
func (b *tab) count(sel string) int {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return eval[int](b, fmt.Sprintf("document.querySelectorAll(%s).length", q))
}

// expectText fails unless sel's text holds every want.
func (b *tab) expectText(sel string, want ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.fail("%s does not say %q; it says:\n%s", sel, w, got)
		}
	}
}

// signIn signs in with secret from the sign-in page.
func (b *tab) signIn(secret string) {
	b.t.Helper()
	b.visit("/console/signin")
	b.a11y()
	b.do(chromedp.SetValue(chromedp.ID("token"), secret))
	if st := b.submit("main button[type=submit]"); st != 200 {
		b.fail("sign-in answered %d", st)
	}
}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile("../../testdata/axe/axe.min.js")
	return string(b), err
})

// a11y runs axe-core on the page and fails on a serious or critical
// violation.
func (b *tab) a11y() {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	if !eval[bool](b, "typeof window.axe === 'object'") {
		eval[chromedp.Void](b, src+";0")
	}
	found := eval[[]struct {
		ID, Impact, Help string
		Nodes            []string
	}](b, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
		.filter(v => v.impact === "serious" || v.impact === "critical")
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))})))`)
	if len(found) > 0 {
		var sb strings.Builder
		for _, v := range found {
			fmt.Fprintf(&sb, "\n%s (%s): %s at %v", v.ID, v.Impact, v.Help, v.Nodes)
		}
		b.fail("axe-core found serious or critical violations on %s:%s", b.path(), sb.String())
	}
}

var update = flag.Bool("update", false, "TestScreenshots: write the README's screenshots to testdata/console")
