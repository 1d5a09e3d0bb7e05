package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prereg/prereg/internal/bench"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// tiny is a run small enough for CI: a couple of seconds in all.
func tiny(t *testing.T) bench.Config {
	c := bench.Defaults()
	c.Dataset.Records = 1500
	c.PreGranted = 100
	c.Duration = 200 * time.Millisecond
	c.Concurrency = 8
	c.Rounds = 1
	c.Rate = 300
	c.GrantedRate = 100
	c.AdminConcurrency = 2
	c.ListPages = 3
	c.ImportRows = 100
	c.StartRuns = 1
	c.Dir = t.TempDir()
	return c
}

// TestRunInProcess runs every scenario once on a tiny store and checks that
// each produced results without errors: no timing is asserted.
func TestRunInProcess(t *testing.T) {
	rep, err := bench.Run(context.Background(), tiny(t))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// The report says that its latencies and memory are the service's and
	// the generator's together.
	if !hasNote(rep, "share this process's Go runtime") {
		t.Errorf("notes %q do not say the service shares the generator's runtime", rep.Notes)
	}
	checkLoads(t, rep.Loads)
	checkRan(t, rep.Loads,
		"no_match/prereg/max", "no_match/bare/max", "no_match/prereg/rate", "no_match/bare/rate",
		"already_granted/prereg/max", "already_granted/bare/max", "already_granted/prereg/rate",
		"granted/prereg/max", "granted/bare/max", "granted/prereg/rate",
		"list/prereg/max", "list_filtered/prereg/max", "stats/prereg/max",
	)
	checkComparisons(t, rep)
	checkLocalSteps(t, rep)
	checkOutputs(t, rep)
}

// hasNote reports whether a note of the report contains s.
func hasNote(rep *bench.Report, s string) bool {
	return slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, s) })
}

// checkLoads fails every attack that sent nothing or got an error or an
// unexpected answer.
func checkLoads(t *testing.T, loads []bench.LoadResult) {
	t.Helper()
	for _, l := range loads {
		if l.Requests == 0 || l.Errors+l.Mismatches != 0 {
			t.Errorf("%s %s %s: %d requests, %d errors, %d unexpected answers: %v", l.Scenario, l.Target, l.Mode, l.Requests, l.Errors, l.Mismatches, l.ErrorSamples)
		}
	}
}

// checkRan checks that each scenario/target/mode has a result.
func checkRan(t *testing.T, loads []bench.LoadResult, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range loads {
		seen[l.Scenario+"/"+l.Target+"/"+l.Mode] = true
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no result for %s", w)
		}
	}
}

// checkComparisons checks the prereg/bare ratios and the grants against
// the raw loop.
func checkComparisons(t *testing.T, rep *bench.Report) {
	t.Helper()
	if len(rep.Ratios) != 3 {
		t.Errorf("ratios = %+v, want one per hook scenario", rep.Ratios)
	}
	for _, r := range rep.Ratios {
		if r.Prereg <= 0 || r.Bare <= 0 || r.Ratio <= 0 {
			t.Errorf("ratio %+v has an empty side", r)
		}
	}
	if len(rep.Raw) != 1 || rep.Raw[0].Batches == 0 {
		t.Errorf("raw loop = %+v, want one round with batches", rep.Raw)
	}
	if rep.Grants == nil || rep.Grants.GrantsPerSecond <= 0 || rep.Grants.RawPerSecond <= 0 {
		t.Errorf("grants vs raw = %+v", rep.Grants)
	}
}

// checkLocalSteps checks what tiny's in-process run measures besides the
// attacks: start, list walks, import, seeding and memory.
func checkLocalSteps(t *testing.T, rep *bench.Report) {
	t.Helper()
	if len(rep.Start) != 1 || rep.Start[0].Ready <= 0 || rep.Start[0].Open > rep.Start[0].Ready {
		t.Errorf("start = %+v", rep.Start)
	}
	if len(rep.ListWalk) != 2 || rep.ListWalk[0].Pages != 3 || rep.ListWalk[0].Items != 300 {
		t.Errorf("list walks = %+v, want 3 full pages first", rep.ListWalk)
	}
	if im := rep.Import; im == nil || (im.Skipped == "" && im.Created != 100) {
		t.Errorf("import = %+v, want 100 rows created or a skip note", im)
	}
	if rep.Seed == nil || rep.Seed.Records != 1500 {
		t.Errorf("seed = %+v", rep.Seed)
	}
	if rep.Memory == nil || (rep.Memory.Available && rep.Memory.RSSMax <= 0) {
		t.Errorf("memory = %+v", rep.Memory)
	}
}

// checkOutputs checks that the table has every section and that the JSON
// report reads back.
func checkOutputs(t *testing.T, rep *bench.Report) {
	t.Helper()
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no_match", "already_granted", "granted", "raw_batch", "prereg/bare", "list walk", "memory under load"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Loads) != len(rep.Loads) {
		t.Errorf("JSON report does not read back: %v", err)
	}
}

// TestGrantedClaimsEachRowOnce checks the write path through the service:
// every answer is "granted", and afterwards exactly that many rows are
// granted in the store, none twice.
func TestGrantedClaimsEachRowOnce(t *testing.T) {
	c := tiny(t)
	c.Scenarios = []string{bench.ScGranted}
	c.Keep = true
	rep, err := bench.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	var granted uint64
	for _, l := range rep.Loads {
		if l.Scenario == bench.ScGranted && l.Target == "prereg" {
			if l.Errors+l.Mismatches != 0 {
				t.Fatalf("granted %s: %d errors, %d not granted: %v", l.Mode, l.Errors, l.Mismatches, l.ErrorSamples)
			}
			granted += l.Requests
		}
	}
	matches, _ := filepath.Glob(filepath.Join(c.Dir, "prereg-bench-*", "prereg.db"))
	if len(matches) != 1 {
		t.Fatalf("kept store: %v", matches)
	}
	st, err := boltstore.Open(matches[0], boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(context.Background(), prereg.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(stats.Overall.Granted) != granted {
		t.Errorf("store holds %d grants, the service answered granted %d times", stats.Overall.Granted, granted)
	}
	if errs := st.Check(); len(errs) != 0 {
		t.Errorf("store check: %v", errs)
	}
}

// TestRunAgainstURL seeds a store with --seed-only's path, serves it as a
// separate service would, and runs the read scenarios against its URL.
func TestRunAgainstURL(t *testing.T) {
	r := remoteTargets(t)
	t.Run("GC percent", func(t *testing.T) { runSetsGCPercent(t, r) })
	t.Run("collector off", func(t *testing.T) { runTurnsCollectorOff(t, r) })
}

// runSetsGCPercent runs against remote targets with GeneratorGC 700.
func runSetsGCPercent(t *testing.T, r bench.Config) {
	// With both targets elsewhere, the run sets its own collector's
	// percent and puts it back.
	r.Scenarios = []string{bench.ScNoMatch, bench.ScAlreadyGranted, bench.ScList}
	r.GeneratorGC = 700
	gcBefore := gcPercent()
	rep, err := bench.Run(context.Background(), r)
	if err != nil {
		t.Fatalf("Run against URL: %v", err)
	}
	if gcAfter := debug.SetGCPercent(gcBefore); gcAfter != gcBefore {
		t.Errorf("GC percent after the run %d, before %d", gcAfter, gcBefore)
	}
	if !hasNote(rep, "GC percent is 700") {
		t.Errorf("notes %q do not name the generator's GC percent", rep.Notes)
	}
	if hasNote(rep, "share this process's Go runtime") {
		t.Errorf("notes %q say a remote service shares the generator's runtime", rep.Notes)
	}
	if rep.Seed != nil || rep.Memory != nil || len(rep.Raw) != 0 {
		t.Errorf("remote run measured local things: seed %v memory %v raw %v", rep.Seed, rep.Memory, rep.Raw)
	}
	checkLoads(t, rep.Loads)
	got := map[string]int{}
	for _, l := range rep.Loads {
		got[l.Scenario]++
	}
	if got[bench.ScNoMatch] != 4 || got[bench.ScAlreadyGranted] != 4 || got[bench.ScList] != 1 || got[bench.ScGranted] != 0 {
		t.Errorf("scenarios run = %v", got)
	}
}

// runTurnsCollectorOff runs against remote targets with GeneratorGC -1.
func runTurnsCollectorOff(t *testing.T, r bench.Config) {
	// With -1 the generator's collector is off during every attack and
	// runs between them; both settings are put back after the run.
	r.GeneratorGC = -1
	r.Scenarios = []string{bench.ScNoMatch, bench.ScList}
	gcBefore := gcPercent()
	limitBefore := debug.SetMemoryLimit(-1)
	rep, err := bench.Run(context.Background(), r)
	if err != nil {
		t.Fatalf("Run against URL, collector off: %v", err)
	}
	if gcAfter, limitAfter := debug.SetGCPercent(gcBefore), debug.SetMemoryLimit(-1); gcAfter != gcBefore || limitAfter != limitBefore {
		t.Errorf("after the run: GC percent %d, memory limit %d; before %d, %d", gcAfter, limitAfter, gcBefore, limitBefore)
	}
	if !hasNote(rep, "collector is off during attacks") {
		t.Errorf("notes %q do not say the generator's collector was off", rep.Notes)
	}
	for _, l := range rep.Loads {
		if l.GCs != 0 || l.Requests == 0 {
			t.Errorf("%s %s %s: %d collections during %d requests, want none", l.Scenario, l.Target, l.Mode, l.GCs, l.Requests)
		}
	}
}

// remoteTargets seeds a store with --seed-only, serves it and a bare
// handler over HTTP, and returns a tiny run aimed at both.
func remoteTargets(t *testing.T) bench.Config {
	t.Helper()
	c := tiny(t)
	c.DBPath = filepath.Join(t.TempDir(), "seeded.db")
	c.SeedOnly = true
	if _, err := bench.Run(context.Background(), c); err != nil {
		t.Fatalf("seed only: %v", err)
	}
	st, err := boltstore.Open(c.DBPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := httpapi.New(httpapi.Config{HookSecrets: []string{"hook-secret"}, AdminToken: "admin-token",
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}, bench.APIStores(st))
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	bare := httptest.NewServer(bench.BareHandler())
	t.Cleanup(bare.Close)

	r := tiny(t)
	r.URL, r.HookSecret, r.AdminToken, r.BareURL = srv.URL, "hook-secret", "admin-token", bare.URL
	return r
}

// gcPercent reads the collector's percent without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestRunRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*bench.Config)
	}{
		{"no concurrency", func(c *bench.Config) { c.Concurrency = 0 }},
		{"url without secrets", func(c *bench.Config) { c.URL = "http://127.0.0.1:1" }},
		{"relative url", func(c *bench.Config) { c.URL, c.HookSecret, c.AdminToken = "127.0.0.1:1", "h", "a" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tiny(t)
			tt.change(&c)
			if _, err := bench.Run(context.Background(), c); err == nil {
				t.Error("Run accepted a bad config")
			}
		})
	}
}

// BenchmarkHookHandler compares, without a network, the work prereg's
// hook handler does per no_match and already_granted call with the bare
// handler's: the part of the prereg/bare ratio that is ours (middleware,
// auth, log, metrics, store lookup, the answer) rather than the kernel's.
func BenchmarkHookHandler(b *testing.B) {
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "h.db"), boltstore.Options{LoginSets: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	d := bench.Dataset{Records: 1, OrgShare: 1, Orgs: 1, Roles: 2}
	if _, _, err := st.Put(ctx, d.Input(0), "api", "bench"); err != nil {
		b.Fatal(err)
	}
	granted := prereg.Login{UserID: d.UserID(0), Email: d.Email(0), EmailVerified: true, OrganizationID: d.Org(0)}
	if res, err := st.Login(ctx, granted, true); err != nil || res.Outcome != prereg.OutcomeGranted {
		b.Fatalf("grant: %v %v", res.Outcome, err)
	}
	grantedBody, _ := json.Marshal(map[string]any{"user_id": granted.UserID, "email": granted.Email, "email_verified": true, "organization_id": granted.OrganizationID})
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"bare", bench.BareHandler()},
		{"prereg", httpapi.New(httpapi.Config{HookSecrets: []string{"s"}, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()}, bench.APIStores(st)).Handler()},
	}
	for _, sc := range []struct {
		name, outcome string
		body          []byte
	}{
		{"no_match", "no_match", []byte(`{"user_id":"auth0|nobody","email":"nobody@nobody.example","email_verified":true,"connection":"Username-Password-Authentication"}`)},
		{"already_granted", "already_granted", grantedBody},
	} {
		for _, h := range handlers {
			b.Run(sc.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				hookHandlerLoop(b, h.h, sc.body, h.name == "bare" || bytes.Contains(sc.body, []byte("nobody")), sc.outcome)
			})
		}
	}
}

// hookHandlerLoop serves body to h b.N times; prereg's answers must carry
// the outcome (the bare handler's is fixed).
func hookHandlerLoop(b *testing.B, h http.Handler, body []byte, fixed bool, outcome string) {
	want := []byte(`"outcome":"` + outcome + `"`)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/hooks/post-login", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer s")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || (!fixed && !bytes.Contains(w.Body.Bytes(), want)) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
