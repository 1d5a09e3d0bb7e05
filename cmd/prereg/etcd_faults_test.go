package main

// Faults of the replicated mode: the real binary as two replicas over an
// etcd cluster whose three members are processes of their own, killed with
// SIGKILL (see the README section "Running several replicas").

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/auth0fake"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testio"
)

// TestMain lets the fault tests start this test binary as etcd members.
func TestMain(m *testing.M) {
	etcdtest.RunMemberIfAsked()
	os.Exit(m.Run())
}

// faultEnv is one fault test's cluster, binary and replicas' settings.
type faultEnv struct {
	t      *testing.T
	bin    string
	procs  *etcdtest.Procs
	prefix string
	log    *os.File
	env    []string
}

// replica starts `prereg serve --store etcd` on the cluster under the
// test's prefix, with the test's environment added.
func (f *faultEnv) replica(extra ...string) *child {
	f.t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--store", "etcd",
		"--etcd-endpoints", strings.Join(f.procs.Endpoints(), ","), "--etcd-prefix", f.prefix,
		"--hook-secrets", crashHookSecret, "--admin-token", crashAdminToken, "--log-level", "warn",
		"--admin-rate-limit", "0", "--auth-failure-limit", "0"}, extra...)
	saved := childEnv
	childEnv = f.env
	defer func() { childEnv = saved }()
	return startChild(f.t, f.bin, f.log, true, args...)
}

// seed imports n tenant-wide registrations (roles from roles) through the
// replica at url and returns them.
func (f *faultEnv) seed(url string, n int, roles string) []crashItem {
	f.t.Helper()
	var b strings.Builder
	b.WriteString("email,organization_id,roles\n")
	items := make([]crashItem, n)
	for i := range items {
		email := fmt.Sprintf("fault-%05d@example.com", i)
		items[i] = crashItem{email: email, id: prereg.RegistrationID("", email)}
		fmt.Fprintf(&b, "%s,,%s\n", email, roles)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/imports", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+crashAdminToken)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep struct {
		Created int `json:"created"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 || rep.Created != n {
		f.t.Fatalf("seed import: %d, %d created of %d (%v)", resp.StatusCode, rep.Created, n, err)
	}
	return items
}

// newFaultEnv starts the cluster of member processes and builds the
// binary once for all the fault tests.
func newFaultEnv(t *testing.T, bin string, procs *etcdtest.Procs, name string) *faultEnv {
	logFile, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("replicas' log:\n%s", b)
		}
	})
	return &faultEnv{t: t, bin: bin, procs: procs, prefix: "/prereg-fault-" + name + "/", log: logFile}
}

// TestEtcdFaults builds the binary and starts one 3-member cluster for the
// fault tests; each runs under a prefix of its own and leaves every member
// running.
func TestEtcdFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts etcd member processes")
	}
	bin := buildBinary(t)
	procs := etcdtest.StartProcesses(t, 3)
	t.Run("MemberKilledUnderLoad", func(t *testing.T) { faultMemberKilled(t, newFaultEnv(t, bin, procs, "member")) })
	t.Run("ReplicaKilled", func(t *testing.T) { faultReplicaKilled(t, newFaultEnv(t, bin, procs, "replica")) })
	t.Run("QuorumLost", func(t *testing.T) { faultQuorumLost(t, newFaultEnv(t, bin, procs, "quorum")) })
}

// loginResult is one hook call's answer as the load saw it.
type loginResult struct {
	code       int
	retryAfter string
	answer     hookAnswer
	raw        []byte
	err        error
}

// hookLogin posts one login of user for item.
func hookLogin(ctx context.Context, hc *http.Client, url string, item crashItem, user string) loginResult {
	body, _ := json.Marshal(prereg.Login{UserID: user, Email: item.email, EmailVerified: true, OrganizationID: item.org})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/hooks/post-login", strings.NewReader(string(body)))
	if err != nil {
		return loginResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+crashHookSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return loginResult{err: err}
	}
	defer resp.Body.Close()
	var res loginResult
	res.code, res.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	raw := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for {
		n, rerr := resp.Body.Read(buf)
		raw = append(raw, buf[:n]...)
		if rerr != nil {
			break
		}
	}
	res.raw = raw
	if res.code == http.StatusOK {
		if err := json.Unmarshal(raw, &res.answer); err != nil {
			res.err = fmt.Errorf("bad answer %q", raw)
		}
	}
	return res
}

// leader is the index of the member that leads the cluster.
func leader(t *testing.T, procs *etcdtest.Procs) int {
	t.Helper()
	var found = -1
	testio.WaitFor(t, 30*time.Second, "a leader", func() bool {
		for i, ep := range procs.Endpoints() {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cli.Status(ctx, ep)
			cancel()
			cli.Close()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// loginLoad logs users in through the replicas, alternating, until
// stopped: each worker claims fresh items and logs in again users it saw
// granted. It records every acknowledged grant and every answer that is
// not a 200.
type loginLoad struct {
	ledger    *crashLedger
	urls      []string
	items     []crashItem
	next      atomic.Int64
	ok        atomic.Int64 // 200 answers
	mu        sync.Mutex
	failures  []time.Time // 503 answers, when
	badErrors []string    // anything else that is not a 200
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

func startLoginLoad(items []crashItem, urls []string, workers int) *loginLoad {
	l := &loginLoad{ledger: &crashLedger{granted: map[string]string{}, created: map[string]bool{}}, urls: urls, items: items}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * workers}}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var mine []crashItem // items this worker saw granted
			for n := 0; ctx.Err() == nil; n++ {
				url := urls[(w+n)%len(urls)]
				item, again := crashItem{}, n%3 == 2 && len(mine) > 0
				if again {
					item = mine[n%len(mine)]
				} else {
					i := int(l.next.Add(1) - 1)
					if i >= len(items) {
						return
					}
					item = items[i]
				}
				user, _ := crashUsers(itemIndex(item))
				res := hookLogin(ctx, hc, url, item, user)
				if ctx.Err() != nil {
					return
				}
				if !l.record(item, user, res) {
					continue
				}
				if !again && res.answer.Outcome == prereg.OutcomeGranted {
					mine = append(mine, item)
				}
			}
		}()
	}
	return l
}

// itemIndex reads the index back from a fault item's address.
func itemIndex(it crashItem) int {
	var i int
	fmt.Sscanf(it.email, "fault-%05d@", &i)
	return i
}

// record files one answer and reports whether it was a 200.
func (l *loginLoad) record(item crashItem, user string, res loginResult) bool {
	switch {
	case res.err == nil && res.code == http.StatusOK:
		l.ledger.recordGrant(item, user, res.answer)
		if res.answer.Outcome != prereg.OutcomeGranted && res.answer.Outcome != prereg.OutcomeAlreadyGranted {
			l.ledger.problem("login %s: outcome %s: %s", user, res.answer.Outcome, res.raw)
		}
		l.ok.Add(1)
		return true
	case res.err == nil && res.code == http.StatusServiceUnavailable && res.retryAfter != "":
		l.mu.Lock()
		l.failures = append(l.failures, time.Now())
		l.mu.Unlock()
	default:
		l.mu.Lock()
		if len(l.badErrors) < 10 {
			l.badErrors = append(l.badErrors, fmt.Sprintf("login %s: %d (Retry-After %q) %s %v", user, res.code, res.retryAfter, res.raw, res.err))
		}
		l.mu.Unlock()
	}
	return false
}

// waitOK waits until n more logins were answered 200.
func (l *loginLoad) waitOK(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.ok.Load() + n
	testio.WaitFor(t, time.Minute, what, func() bool { return l.ok.Load() >= target })
}

func (l *loginLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// checkGrants logs every acknowledged grant's user in again through each
// replica: each is still granted to that user.
func checkGrants(t *testing.T, ledger *crashLedger, items []crashItem, urls []string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	byID := map[string]crashItem{}
	for _, it := range items {
		byID[it.id] = it
	}
	for id, user := range ledger.granted {
		for _, url := range urls {
			res := hookLogin(context.Background(), hc, url, byID[id], user)
			if res.err != nil || res.code != 200 || res.answer.Outcome != prereg.OutcomeAlreadyGranted {
				t.Errorf("acknowledged grant %s to %s, logged in again on %s: %d %s %v", id, user, url, res.code, res.raw, res.err)
			}
		}
	}
	if len(ledger.problems) > 0 {
		t.Errorf("answers that break the rules: %s", strings.Join(ledger.problems, "\n"))
	}
}

// faultMemberKilled kills the leading member under login load and
// restarts it: no acknowledged grant is lost, failures are 503s with
// Retry-After within at most 5 seconds, and the member rejoins.
func faultMemberKilled(t *testing.T, f *faultEnv) {
	a, b := f.replica(), f.replica()
	items := f.seed(a.url, 3000, "billing-admin")
	load := startLoginLoad(items, []string{a.url, b.url}, 8)
	defer load.stop()
	load.waitOK(t, 100, "100 logins before the kill")
	victim := leader(t, f.procs)
	t.Logf("killing member %d (the leader)", victim)
	f.procs.Kill(victim)
	load.waitOK(t, 200, "200 logins with one member killed")
	if err := f.procs.Restart(victim); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.procs.WaitServing(ctx, victim); err != nil {
		t.Fatal(err)
	}
	load.waitOK(t, 100, "100 logins after the restart")
	load.stop()

	if len(load.badErrors) > 0 {
		t.Errorf("answers other than 200 and 503 with Retry-After: %s", strings.Join(load.badErrors, "\n"))
	}
	if n := len(load.failures); n > 0 {
		window := load.failures[n-1].Sub(load.failures[0])
		t.Logf("%d answers 503 over %s", n, window)
		if window > 5*time.Second {
			t.Errorf("503 answers over %s (first to last), more than 5 s", window)
		}
	}
	t.Logf("%d acknowledged grants, %d answers 200", len(load.ledger.granted), load.ok.Load())
	checkGrants(t, load.ledger, items, []string{a.url, b.url})
	// The restarted member, asked alone, holds what the others hold.
	counts := make([]int64, 3)
	for i, ep := range f.procs.Endpoints() {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Get(ctx, f.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		cli.Close()
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		counts[i] = resp.Count
	}
	// Serializable reads answer from each member's own copy: poll until
	// the restarted one has applied everything.
	testio.WaitFor(t, 30*time.Second, "the restarted member holding every key", func() bool {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{f.procs.Endpoint(victim)}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return false
		}
		defer cli.Close()
		resp, err := cli.Get(ctx, f.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		return err == nil && resp.Count == counts[(victim+1)%3] && resp.Count > int64(len(items))
	})
}

// faultReplicaKilled kills a replica process: the other answers its
// grants already_granted and runs its queued Auth0 sync jobs within 30 s.
func faultReplicaKilled(t *testing.T, f *faultEnv) {
	fake := auth0fake.New(t)
	fake.AddRole("rol_B1llingAdm1n000", "billing-admin")
	const n = 20
	for i := range n {
		user, _ := crashUsers(i)
		fake.AddUser(auth0fake.User{ID: user, Email: fmt.Sprintf("fault-%05d@example.com", i), EmailVerified: true})
	}
	f.env = []string{"AUTH0_DOMAIN=" + fake.URL(), "AUTH0_CLIENT_ID=" + fake.ClientID, "AUTH0_CLIENT_SECRET=" + fake.ClientSecret}
	a := f.replica("--sync-budget", "10ms")
	b := f.replica("--sync-budget", "10ms")
	items := f.seed(a.url, n, "billing-admin")

	// Auth0 holds every call until the replica gives up or dies: the jobs
	// of the grants made through A stay queued.
	hold := make(chan struct{})
	fake.FailNext(-1, auth0fake.Fault{Hold: hold})
	ledger := &crashLedger{granted: map[string]string{}, created: map[string]bool{}}
	hc := &http.Client{Timeout: 30 * time.Second}
	for _, it := range items {
		user, _ := crashUsers(itemIndex(it))
		res := hookLogin(context.Background(), hc, a.url, it, user)
		if res.err != nil || res.code != 200 || res.answer.Outcome != prereg.OutcomeGranted {
			t.Fatalf("grant through A: %d %s %v", res.code, res.raw, res.err)
		}
		ledger.recordGrant(it, user, res.answer)
	}
	a.kill()
	killed := time.Now()
	fake.ClearFaults()
	close(hold)

	checkGrants(t, ledger, items, []string{b.url})
	testio.WaitFor(t, 30*time.Second-time.Since(killed), "B running A's sync jobs within 30 s of the kill", func() bool {
		for i := range n {
			user, _ := crashUsers(i)
			if !slices.Equal(fake.UserRoles(user), []string{"rol_B1llingAdm1n000"}) {
				return false
			}
		}
		return true
	})
	t.Logf("A's jobs done %s after its kill", time.Since(killed).Round(time.Millisecond))
}

// faultQuorumLost kills two members of three: the hook and writes answer
// 503 and /readyz 503 within a bounded time; once they are back, the
// replicas recover and nothing acknowledged is lost.
func faultQuorumLost(t *testing.T, f *faultEnv) {
	a, b := f.replica(), f.replica()
	items := f.seed(a.url, 40, "billing-admin")
	ledger := &crashLedger{granted: map[string]string{}, created: map[string]bool{}}
	hc := &http.Client{Timeout: 30 * time.Second}
	urls := []string{a.url, b.url}
	for k, it := range items[:20] {
		user, _ := crashUsers(itemIndex(it))
		res := hookLogin(context.Background(), hc, urls[k%2], it, user)
		if res.err != nil || res.code != 200 {
			t.Fatalf("grant: %d %s %v", res.code, res.raw, res.err)
		}
		ledger.recordGrant(it, user, res.answer)
	}
	f.procs.Kill(1)
	f.procs.Kill(2)
	get := func(url string) (int, string) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for _, url := range urls {
		k := 20
		testio.WaitFor(t, 20*time.Second, "/readyz 503 on "+url, func() bool {
			code, _ := get(url + "/readyz")
			return code == http.StatusServiceUnavailable
		})
		testio.WaitFor(t, 20*time.Second, "a claim answered 503 with Retry-After on "+url, func() bool {
			it := items[20+k%20]
			k++
			user, _ := crashUsers(itemIndex(it))
			res := hookLogin(context.Background(), hc, url, it, user)
			if res.code == 200 && res.answer.Outcome == prereg.OutcomeGranted {
				t.Errorf("a claim was granted without a quorum: %s", res.raw)
			}
			return res.code == http.StatusServiceUnavailable && res.retryAfter != ""
		})
		code, raw, err := postJSON(context.Background(), hc, url+"/v1/registrations", crashAdminToken,
			map[string]any{"email": "quorum-" + fmt.Sprint(k) + "@example.com", "roles": []string{"billing-admin"}})
		if err != nil || code != http.StatusServiceUnavailable {
			t.Errorf("a write without a quorum on %s: %d %s %v, want 503", url, code, raw, err)
		}
	}
	for _, i := range []int{1, 2} {
		if err := f.procs.Restart(i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 3 {
		if err := f.procs.WaitServing(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for _, url := range urls {
		testio.WaitFor(t, 30*time.Second, "/readyz 200 on "+url, func() bool {
			code, _ := get(url + "/readyz")
			return code == http.StatusOK
		})
	}
	checkGrants(t, ledger, items, urls)
	it := items[len(items)-1]
	user, _ := crashUsers(itemIndex(it))
	if res := hookLogin(ctx, hc, b.url, it, user); res.code != 200 || res.answer.Outcome != prereg.OutcomeGranted {
		t.Errorf("a claim after recovery: %d %s %v", res.code, res.raw, res.err)
	}
}
