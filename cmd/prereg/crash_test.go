package main

// Crash safety of the real binary: SIGKILLed while logins are being granted
// and restarted on the same file, and SIGKILLed in the middle of a CSV
// import. See the README section "Security and operations".

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/csvio/csvgen"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

const (
	crashHookSecret = "crash-hook-secret-0123456789-0123456789-abc"
	crashAdminToken = "crash-admin-token-0123456789-0123456789-abc"
)

// buildBinary builds the real prereg binary (cwd is cmd/prereg) into the
// test's temporary directory, with more go build flags when given.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prereg")
	start := time.Now()
	out, err := exec.Command("go", "build", "-ldflags=-s -w", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built %s in %s", bin, time.Since(start).Round(time.Millisecond))
	return bin
}

// child is one prereg process.
type child struct {
	cmd  *exec.Cmd
	url  string
	done chan error // the result of Wait
	out  *lineWatch
}

// lineWatch is the child's stdout: it keeps the text and reports the
// address once serve prints "prereg listening on URL".
type lineWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	sent  bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		const marker = "prereg listening on "
		s := w.buf.String()
		if i := strings.Index(s, marker); i >= 0 {
			if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
				w.sent = true
				w.ready <- strings.TrimSpace(s[i+len(marker) : i+j])
			}
		}
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// childTmp, when set, is the TMPDIR of the children started next, and
// childEnv more variables of theirs.
var (
	childTmp string
	childEnv []string
)

// startChild runs bin with args, its stderr appended to logFile. For serve,
// waitReady waits for the listening line.
func startChild(t *testing.T, bin string, logFile *os.File, waitReady bool, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), done: make(chan error, 1), out: &lineWatch{ready: make(chan string, 1)}}
	c.cmd.Stdout = c.out
	c.cmd.Stderr = logFile
	c.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if childTmp != "" {
		c.cmd.Env = append(c.cmd.Env, "TMPDIR="+childTmp)
	}
	c.cmd.Env = append(c.cmd.Env, childEnv...)
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() { c.kill() })
	if !waitReady {
		return c
	}
	select {
	case c.url = <-c.out.ready:
	case err := <-c.done:
		c.done <- err
		t.Fatalf("%v exited before listening: %v\nstdout: %s", args, err, c.out)
	case <-time.After(15 * time.Second):
		t.Fatalf("%v did not start listening within 15s", args)
	}
	return c
}

// kill sends SIGKILL (no chance to close the store) and reaps the process.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	err := <-c.done
	c.done <- err
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// crashItem is one pending registration the load claims: user A always
// tries, and for every fifth item a rival user B races A for it.
type crashItem struct {
	email, org, id string
}

func crashUsers(i int) (a, b string) {
	return fmt.Sprintf("auth0|crash-%06d-A", i), fmt.Sprintf("auth0|crash-%06d-B", i)
}

func seedCrashStore(t *testing.T, path string, n int) []crashItem {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items := make([]crashItem, n)
	ins := make([]prereg.Input, n)
	for i := range n {
		org := ""
		if i%3 == 0 {
			org = "org_crash" + strconv.Itoa(i%7)
		}
		email := fmt.Sprintf("Crash%06d@Crash.Example", i)
		in := prereg.Input{Email: email, OrganizationID: org, Roles: []string{"role-" + strconv.Itoa(i%4)}}.Normalize()
		if err := in.Validate(); err != nil {
			t.Fatal(err)
		}
		ins[i] = in
		items[i] = crashItem{email: email, org: org, id: prereg.RegistrationID(org, email)}
	}
	res, err := s.ApplyBatch(context.Background(), ins, "cli", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Change != prereg.Created {
			t.Fatalf("seed %d: %s %v", i, r.Change, r.Err)
		}
	}
	return items
}

// hookAnswer is the part of a hook answer the tests read.
type hookAnswer struct {
	Outcome prereg.Outcome `json:"outcome"`
	Roles   []string       `json:"roles"`
	Grants  []prereg.Grant `json:"grants"`
}

// crashLedger records what the service acknowledged.
type crashLedger struct {
	mu       sync.Mutex
	granted  map[string]string // registration ID -> user answered "granted"
	created  map[string]bool   // registration IDs answered 201
	answers  int
	problems []string
}

func (l *crashLedger) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.problems) < 20 {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

func (l *crashLedger) recordGrant(item crashItem, user string, a hookAnswer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.answers++
	if a.Outcome != prereg.OutcomeGranted {
		return
	}
	found := false
	for _, g := range a.Grants {
		if g.Status != prereg.StatusGranted {
			l.problems = append(l.problems, fmt.Sprintf("granted answer for %s lists a grant in status %s", user, g.Status))
		}
		if prev, ok := l.granted[g.RegistrationID]; ok && prev != user {
			l.problems = append(l.problems, fmt.Sprintf("%s answered granted to both %s and %s", g.RegistrationID, prev, user))
		}
		l.granted[g.RegistrationID] = user
		found = found || g.RegistrationID == item.id
	}
	if !found {
		l.problems = append(l.problems, fmt.Sprintf("granted answer for %s does not list %s: %+v", user, item.id, a))
	}
}

// postJSON sends one call; err is a transport error (expected once the
// process is killed).
func postJSON(ctx context.Context, hc *http.Client, url, bearer string, body any) (int, []byte, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// TestCrash builds the real binary once and runs the crash tests on it:
// KillRestart (the service killed under load) and ImportKill (an import
// killed mid-file).
func TestCrash(t *testing.T) {
	bin := buildBinary(t)
	t.Run("KillRestart", func(t *testing.T) { crashKillRestart(t, bin) })
	t.Run("ImportKill", func(t *testing.T) { crashImportKill(t, bin) })
}

// crashKillRestart runs the real binary under concurrent hook grants
// (and admin writes), SIGKILLs it at a random moment, restarts it on the
// same file, and repeats. Afterwards every grant answered "granted" is in
// the store for that user, every registration answered 201 exists, no
// registration has two owners, the indexes agree with the records, and
// bbolt's Tx.Check passes. PREREG_CRASH_CYCLES sets the number of cycles
// (default 20, each a fraction of a second).
func crashKillRestart(t *testing.T, bin string) {
	cycles := envInt(t, "PREREG_CRASH_CYCLES", 20)
	long := cycles > 20
	dir := t.TempDir()
	db := filepath.Join(dir, "prereg.db")
	items := seedCrashStore(t, db, max(2000, cycles*250))
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	ledger := &crashLedger{granted: map[string]string{}, created: map[string]bool{}}
	var next atomic.Int64 // next item to claim, across cycles
	var adminSeq atomic.Int64
	const workers = 16
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db, "--hook-secrets", crashHookSecret,
		"--admin-token", crashAdminToken, "--log-level", "warn", "--admin-rate-limit", "0", "--auth-failure-limit", "0"}
	start := time.Now()
	for cycle := range cycles {
		c := startChild(t, bin, logFile, true, args...)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
		ctx, cancel := context.WithCancel(context.Background())
		var killed atomic.Bool
		var wg sync.WaitGroup
		// transport reports a call that failed without an answer; that is
		// only expected once the process has been killed.
		transport := func(what string, err error) {
			if !killed.Load() && ctx.Err() == nil {
				ledger.problem("cycle %d: %s failed before the kill: %v", cycle, what, err)
			}
		}
		login := func(item crashItem, user string) {
			code, raw, err := postJSON(ctx, hc, c.url+"/v1/hooks/post-login", crashHookSecret,
				prereg.Login{UserID: user, Email: strings.ToUpper(item.email), EmailVerified: true, OrganizationID: item.org})
			if err != nil {
				transport("login "+user, err)
				return
			}
			if code != http.StatusOK {
				ledger.problem("login %s: %d %s", user, code, raw)
				return
			}
			var a hookAnswer
			if err := json.Unmarshal(raw, &a); err != nil {
				ledger.problem("login %s: bad answer %q", user, raw)
				return
			}
			ledger.recordGrant(item, user, a)
		}
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && !killed.Load() {
					i := int(next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					ua, ub := crashUsers(i)
					if i%5 != 0 {
						login(items[i], ua)
						continue
					}
					var race sync.WaitGroup
					race.Add(2)
					go func() { defer race.Done(); login(items[i], ua) }()
					go func() { defer race.Done(); login(items[i], ub) }()
					race.Wait()
				}
			}()
		}
		wg.Add(1)
		go func() { // admin writes alongside the logins
			defer wg.Done()
			for ctx.Err() == nil && !killed.Load() {
				n := adminSeq.Add(1)
				email := fmt.Sprintf("admin%06d@crash.example", n)
				code, raw, err := postJSON(ctx, hc, c.url+"/v1/registrations", crashAdminToken,
					map[string]any{"email": email, "roles": []string{"viewer"}})
				if err != nil {
					transport("create "+email, err)
					return
				}
				if code != http.StatusCreated {
					ledger.problem("create %s: %d %s", email, code, raw)
					return
				}
				ledger.mu.Lock()
				ledger.created[prereg.RegistrationID("", email)] = true
				ledger.mu.Unlock()
			}
		}()
		// Kill at a random moment while calls are in flight.
		wait := time.Duration(20+rng.IntN(80)) * time.Millisecond
		if long {
			wait = time.Duration(10+rng.IntN(250)) * time.Millisecond
		}
		time.Sleep(wait)
		killed.Store(true)
		c.kill()
		cancel()
		wg.Wait()
		hc.CloseIdleConnections()

		// The file must open and pass bbolt's check after every kill.
		s, err := boltstore.Open(db, boltstore.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("cycle %d: reopen after SIGKILL: %v", cycle, err)
		}
		if errs := s.Check(); len(errs) > 0 {
			t.Fatalf("cycle %d: Tx.Check after SIGKILL: %v", cycle, errs)
		}
		s.Close()
		if next.Load() >= int64(len(items)) {
			t.Logf("all %d seeded registrations used after %d cycles", len(items), cycle+1)
			cycles = cycle + 1
			break
		}
	}
	elapsed := time.Since(start)
	for _, p := range ledger.problems {
		t.Error(p)
	}

	// One more clean start proves the service comes back on the file.
	c := startChild(t, bin, logFile, true, args...)
	code, raw, err := postJSON(context.Background(), http.DefaultClient, c.url+"/v1/hooks/post-login", crashHookSecret, prereg.Login{UserID: "auth0|after-crash"})
	if err != nil || code != http.StatusOK {
		t.Fatalf("after the last restart: %d %s %v", code, raw, err)
	}
	c.kill()

	facts := verifyStoreFile(t, db)
	verified := 0
	for id, user := range ledger.granted {
		r, ok := facts.regs[id]
		switch {
		case !ok:
			t.Errorf("%s was answered granted to %s but is not in the store", id, user)
		case r.Status != prereg.StatusGranted || r.GrantedTo != user:
			t.Errorf("%s was answered granted to %s but the store has %s to %q", id, user, r.Status, r.GrantedTo)
		default:
			verified++
		}
	}
	for id := range ledger.created {
		if _, ok := facts.regs[id]; !ok {
			t.Errorf("%s was answered 201 but is not in the store", id)
		}
	}
	// Grants whose answer was lost in a kill may exist, but only to a
	// user that asked for that registration.
	byID := map[string]int{}
	for i, it := range items {
		byID[it.id] = i
	}
	unanswered := 0
	for id, r := range facts.regs {
		i, seeded := byID[id]
		if !seeded || r.Status != prereg.StatusGranted {
			continue
		}
		ua, ub := crashUsers(i)
		if r.GrantedTo != ua && r.GrantedTo != ub {
			t.Errorf("%s is granted to %q, who never asked for it", id, r.GrantedTo)
		}
		if _, ok := ledger.granted[id]; !ok {
			unanswered++
		}
	}
	t.Logf("crash test: %d kill/restart cycles in %s; %d logins attempted, %d hook answers, %d grants answered \"granted\", %d verified in the store (%d more committed whose answer was cut by the kill); %d admin creates answered 201, all present; %d registrations in the store; Tx.Check clean after every kill",
		cycles, elapsed.Round(time.Millisecond), min(next.Load(), int64(len(items))), ledger.answers, len(ledger.granted), verified, unanswered, len(ledger.created), len(facts.regs))
	if len(ledger.granted) == 0 {
		t.Error("no grant was answered at all: the load did not run")
	}
}

// storeFacts is what verifyStoreFile read from a store.
type storeFacts struct {
	regs  map[string]prereg.Registration
	stats prereg.Stats
}

// verifyStoreFile opens a store file that no process holds and checks it
// end to end: bbolt's Tx.Check; Stats equal to counts from a full scan;
// and, reading the raw buckets, every index entry points at a record that
// matches it and every record has exactly the index entries it should
// (one owner in the user index per granted registration and none for any
// other; one email, status and organization entry each).
func verifyStoreFile(t *testing.T, path string) storeFacts {
	t.Helper()
	ctx := context.Background()
	s, err := boltstore.Open(path, boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if errs := s.Check(); len(errs) > 0 {
		t.Fatalf("Tx.Check on %s: %v", path, errs)
	}
	facts := storeFacts{regs: map[string]prereg.Registration{}}
	want := prereg.Stats{ByOrganization: map[string]prereg.Counts{}}
	err = s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error {
		if _, dup := facts.regs[r.ID]; dup {
			return fmt.Errorf("%s listed twice", r.ID)
		}
		facts.regs[r.ID] = r
		c := want.ByOrganization[r.OrganizationID]
		addCount(&c, r.Status)
		want.ByOrganization[r.OrganizationID] = c
		addCount(&want.Overall, r.Status)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", path, err)
	}
	// Paging through List must see the same records as the scan.
	paged, cursor := 0, ""
	for {
		page, next, err := s.List(ctx, prereg.Filter{Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatalf("list %s: %v", path, err)
		}
		paged += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if paged != len(facts.regs) {
		t.Errorf("List pages hold %d registrations, the scan %d", paged, len(facts.regs))
	}
	facts.stats, err = s.Stats(ctx, prereg.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if facts.stats.Overall != want.Overall {
		t.Errorf("Stats overall %+v, a full scan counts %+v", facts.stats.Overall, want.Overall)
	}
	for org, c := range want.ByOrganization {
		if facts.stats.ByOrganization[org] != c {
			t.Errorf("Stats for organization %q: %+v, a full scan counts %+v", org, facts.stats.ByOrganization[org], c)
		}
	}
	if len(facts.stats.ByOrganization) != len(want.ByOrganization) {
		t.Errorf("Stats has %d organizations, a full scan %d", len(facts.stats.ByOrganization), len(want.ByOrganization))
	}
	checkRawIndexes(t, path, facts.regs)
	return facts
}

func addCount(c *prereg.Counts, st prereg.Status) {
	switch st {
	case prereg.StatusPending:
		c.Pending++
	case prereg.StatusGranted:
		c.Granted++
	case prereg.StatusRevoked:
		c.Revoked++
	case prereg.StatusExpired:
		c.Expired++
	}
	c.Total++
}

// checkRawIndexes reads the store's buckets with bbolt directly and
// compares them with the records, in internal/boltstore's layout: records
// under their 15-byte prereg.Key in "recs" (which is their ID), index keys
// ending in "\x00" and that key.
func checkRawIndexes(t *testing.T, path string, regs map[string]prereg.Registration) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s with bbolt: %v", path, err)
	}
	defer db.Close()
	type seen struct{ user, org int }
	count := map[string]*seen{}
	get := func(id string) *seen {
		if count[id] == nil {
			count[id] = &seen{}
		}
		return count[id]
	}
	var problems []string
	bad := func(format string, args ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	// class is the part of the organization index a record is filed
	// under: expired ones are stored pending, and granted ones stay where
	// they were pending (a claim does not move the entry).
	class := func(r prereg.Registration) prereg.Status {
		if r.Status == prereg.StatusExpired || r.Status == prereg.StatusGranted {
			return prereg.StatusPending
		}
		return r.Status
	}
	byKey := map[string]string{}
	for id, r := range regs {
		k := prereg.RegistrationKey(r.OrganizationID, r.Email)
		byKey[string(k[:])] = id
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"recs", "idx_user", "idx_org"} {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("bucket %s missing", name)
			}
		}
		n := 0
		_ = tx.Bucket([]byte("recs")).ForEach(func(k, _ []byte) error {
			n++
			if id, ok := byKey[string(k)]; !ok {
				bad("recs holds key %x, which is no record the store lists", k)
			} else if id != prereg.Key(k).ID() {
				bad("recs holds %s under key %x, which is another ID", id, k)
			}
			return nil
		})
		if n != len(regs) {
			bad("recs has %d records, the store lists %d", n, len(regs))
		}
		// parse splits an index key into its leading parts and the
		// registration it points at.
		parse := func(k []byte) ([]string, string, bool) {
			if len(k) <= prereg.KeySize || k[len(k)-prereg.KeySize-1] != 0 {
				return nil, "", false
			}
			id, ok := byKey[string(k[len(k)-prereg.KeySize:])]
			return strings.Split(string(k[:len(k)-prereg.KeySize-1]), "\x00"), id, ok
		}
		walk := func(bucket string, want int, check func(parts []string, r prereg.Registration) bool, n func(*seen) *int) {
			_ = tx.Bucket([]byte(bucket)).ForEach(func(k, _ []byte) error {
				parts, id, ok := parse(k)
				r, found := regs[id]
				switch {
				case !ok || !found:
					bad("%s key %q points at no record", bucket, k)
				case len(parts) < want || !check(parts, r):
					bad("%s key %q does not match %s (%s, owner %q)", bucket, k, id, r.Status, r.GrantedTo)
				default:
					*n(get(id))++
				}
				return nil
			})
		}
		walk("idx_user", 1, func(p []string, r prereg.Registration) bool {
			return r.Status == prereg.StatusGranted && r.GrantedTo == p[0]
		}, func(c *seen) *int { return &c.user })
		walk("idx_org", 2, func(p []string, r prereg.Registration) bool {
			return r.OrganizationID == p[0] && class(r) == prereg.Status(p[1])
		}, func(c *seen) *int { return &c.org })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, r := range regs {
		c := get(id)
		wantUser := 0
		if r.Status == prereg.StatusGranted {
			wantUser = 1
		}
		if c.user != wantUser || c.org != 1 {
			bad("%s (%s): %d user, %d organization index entries; want %d, 1", id, r.Status, c.user, c.org, wantUser)
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// importReport is the part of the import report the test reads.
type importReport struct {
	Rows      int `json:"rows"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Rejected  int `json:"rejected"`
}

// parseImportReport finds the JSON report in the CLI's output, if it
// printed one.
func parseImportReport(out string) (importReport, bool) {
	for i := strings.IndexByte(out, '{'); i >= 0; {
		var r importReport
		dec := json.NewDecoder(strings.NewReader(out[i:]))
		if err := dec.Decode(&r); err == nil && r.Rows > 0 {
			return r, true
		}
		j := strings.IndexByte(out[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return importReport{}, false
}

// importCommandMissing reports why the import crash test cannot run yet.
func importCommandMissing() string {
	var out bytes.Buffer
	err := runEnv(context.Background(), []string{"import", "--help"}, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	if err != nil {
		return "prereg import is not available yet (" + err.Error() + ")"
	}
	if !strings.Contains(out.String(), "--db") {
		return "prereg import has no --db flag yet"
	}
	return ""
}

// crashImportKill SIGKILLs `prereg import FILE --db PATH` while it
// writes a large file, then checks that the store passes Tx.Check and that
// re-running the same import completes with the right counts: created +
// updated + unchanged = rows, and the store holds exactly the file's rows.
// PREREG_IMPORT_ROWS sets the size: 20000 (four batches) by default to
// keep go test quick; PREREG_IMPORT_ROWS=200000 is the long form.
func crashImportKill(t *testing.T, bin string) {
	if why := importCommandMissing(); why != "" {
		t.Skip(why + "; this test needs `prereg import FILE --db PATH`")
	}
	rows := envInt(t, "PREREG_IMPORT_ROWS", 20000)
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "big.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := csvgen.Write(f, csvgen.Options{Rows: rows, OrgShare: 0.5, Seed: 42}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	logFile, err := os.Create(filepath.Join(dir, "import.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	db := filepath.Join(dir, "prereg.db")
	s, err := boltstore.Open(db, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Kill after a random number of commits past the start (opening the
	// store is one, then one per batch of rows): the import is then in its
	// writing phase, with some batches committed and the rest not.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	base := metaTxID(t, db)
	batches := rows / importer.DefaultBatchSize
	after := uint64(2 + rng.IntN(max(1, batches-2)))
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	childTmp = tmp
	defer func() { childTmp = "" }()
	started := time.Now()
	c := startChild(t, bin, logFile, false, "import", csvPath, "--db", db)
	killedAt := uint64(0)
	deadline := time.Now().Add(5 * time.Minute)
poll:
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			break poll
		default:
		}
		if tx := metaTxID(t, db); tx >= base+after {
			c.kill()
			killedAt = tx - base
			break
		}
		time.Sleep(500 * time.Microsecond)
	}
	if killedAt == 0 {
		t.Logf("the import finished before %d commits; the kill came too late", after)
	}
	// The importer keeps a temporary copy of the input (it reads it twice);
	// a SIGKILL leaves it behind unless it was unlinked once opened.
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Logf("note: the killed import left %d temporary file(s) in TMPDIR (%s…): copies of the CSV, addresses included", len(left), left[0].Name())
	}
	facts := verifyStoreFile(t, db)
	written := len(facts.regs)
	t.Logf("killed the import after %s and %d commits: %d of %d rows were committed", time.Since(started).Round(time.Millisecond), killedAt, written, rows)
	if killedAt > 0 && (written == 0 || written >= rows) {
		t.Errorf("the kill did not land mid-file (%d of %d rows committed)", written, rows)
	}

	// The same import again completes and settles the counts.
	var out bytes.Buffer
	cmd := exec.Command(bin, "import", csvPath, "--db", db, "--json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + tmp}
	cmd.Stdout, cmd.Stderr = &out, &out
	started = time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("re-run import: %v\n%s", err, out.String())
	}
	t.Logf("the re-run imported %d rows in %s", rows, time.Since(started).Round(time.Millisecond))
	if rep, ok := parseImportReport(out.String()); ok {
		if rep.Rows != rows || rep.Created+rep.Updated+rep.Unchanged != rows || rep.Rejected != 0 {
			t.Errorf("re-run report %+v; want rows = created+updated+unchanged = %d", rep, rows)
		}
		if rep.Created != rows-written || rep.Unchanged != written {
			t.Errorf("re-run report %+v; want %d created and %d unchanged after %d rows survived the kill", rep, rows-written, written, written)
		}
	} else {
		t.Logf("no JSON report in the import's output; counts checked on the store only:\n%.500s", out.String())
	}
	facts = verifyStoreFile(t, db)
	if len(facts.regs) != rows || facts.stats.Overall.Total != int64(rows) || facts.stats.Overall.Pending != int64(rows) {
		t.Errorf("after the re-run the store holds %d registrations (stats %+v); want exactly %d pending", len(facts.regs), facts.stats.Overall, rows)
	}
}

// metaTxID reads the newest transaction ID from a bbolt file's two meta
// pages without opening it (no lock), so a test can watch another
// process commit. Layout (bbolt's common.Meta after the 16-byte page
// header): magic at 16, page size at 24, txid at 64.
func metaTxID(t *testing.T, path string) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var best uint64
	buf := make([]byte, 80)
	pageSize := int64(4096)
	for i := range int64(2) {
		if _, err := f.ReadAt(buf, i*pageSize); err != nil {
			continue
		}
		if binary.LittleEndian.Uint32(buf[16:]) != 0xED0CDAED {
			continue
		}
		if i == 0 {
			pageSize = int64(binary.LittleEndian.Uint32(buf[24:]))
		}
		best = max(best, binary.LittleEndian.Uint64(buf[64:]))
	}
	return best
}
