package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testio"
)

// cli runs one prereg command in-process and returns its output.
func cli(args ...string) (string, error) {
	var out bytes.Buffer
	err := runEnv(context.Background(), args, &env{stdin: strings.NewReader(""), stdout: &out, stderr: &out, getenv: func(string) string { return "" }})
	if err != nil {
		return out.String(), fmt.Errorf("%s", describe(err))
	}
	return out.String(), nil
}

// grantLog remembers when each grant was answered.
type grantLog struct {
	mu sync.Mutex
	at map[string]time.Time // registration ID -> answer received
	to map[string]string    // registration ID -> user
}

// runBackupLoad drives hook grants (each claiming a distinct seeded
// registration), admin creates and admin revokes against url until stop
// is closed. Any answer that is not the expected one is reported.
func runBackupLoad(t *testing.T, url string, items []crashItem, stop <-chan struct{}) (*grantLog, func() (grants, creates, revokes int)) {
	t.Helper()
	gl := &grantLog{at: map[string]time.Time{}, to: map[string]string{}}
	var next, nGrants, nCreates, nRevokes atomic.Int64
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 30 * time.Second}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				i := int(next.Add(1) - 1)
				if i >= len(items) {
					return
				}
				if i%7 == 3 { // left to the admin revoker
					continue
				}
				user, _ := crashUsers(i)
				code, raw, err := postJSON(context.Background(), hc, url+"/v1/hooks/post-login", crashHookSecret,
					prereg.Login{UserID: user, Email: items[i].email, EmailVerified: true, OrganizationID: items[i].org})
				if err != nil || code != http.StatusOK {
					t.Errorf("login %s: %d %s %v", user, code, raw, err)
					return
				}
				var a hookAnswer
				_ = json.Unmarshal(raw, &a)
				if a.Outcome != prereg.OutcomeGranted {
					t.Errorf("login %s: %s, want granted", user, a.Outcome)
					return
				}
				gl.mu.Lock()
				gl.at[items[i].id], gl.to[items[i].id] = time.Now(), user
				gl.mu.Unlock()
				nGrants.Add(1)
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for n := 0; !stopped(); n++ {
			code, raw, err := postJSON(context.Background(), hc, url+"/v1/registrations", crashAdminToken,
				map[string]any{"email": fmt.Sprintf("backup%05d@example.com", n), "organization_id": "org_backup", "roles": []string{"viewer"}})
			if err != nil || code != http.StatusCreated {
				t.Errorf("create: %d %s %v", code, raw, err)
				return
			}
			nCreates.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 3; i < len(items) && !stopped(); i += 7 {
			req, _ := http.NewRequest("DELETE", url+"/v1/registrations/"+items[i].id, nil)
			req.Header.Set("Authorization", "Bearer "+crashAdminToken)
			resp, err := hc.Do(req)
			if err != nil {
				t.Errorf("revoke: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("revoke %s: %d", items[i].id, resp.StatusCode)
				return
			}
			nRevokes.Add(1)
		}
	}()
	return gl, func() (int, int, int) {
		wg.Wait()
		return int(nGrants.Load()), int(nCreates.Load()), int(nRevokes.Load())
	}
}

// TestBackupRoundTripUnderLoad takes backups (GET /v1/backup and `prereg
// backup --server`) while logins are granted and admins write, restores
// them into new files, and proves each is a consistent snapshot: `prereg
// check` passes, every index agrees with the records, Stats equal a full
// scan, and every grant answered before the backup started is in it, to
// the same user as in the live store.
func TestBackupRoundTripUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	items := seedCrashStore(t, db, 3000)
	s := startService(t, "--db", db, "--hook-secrets", crashHookSecret, "--admin-token", crashAdminToken,
		"--admin-rate-limit", "0", "--auth-failure-limit", "0", "--log-level", "warn")
	stop := make(chan struct{})
	gl, wait := runBackupLoad(t, s.url, items, stop)
	// Each backup starts once more grants were answered since the last
	// one, so every backup has grants of its own to prove.
	granted := func() int { gl.mu.Lock(); defer gl.mu.Unlock(); return len(gl.at) }
	loginable := len(items) - (len(items)+3)/7 // every i%7 == 3 is left to the revoker
	moreGrants := func() {
		want := min(granted()+50, loginable)
		testio.WaitFor(t, 30*time.Second, "grants answered before the next backup", func() bool { return granted() >= want || t.Failed() })
	}
	moreGrants()

	type backup struct {
		how     string
		path    string
		started time.Time
	}
	var backups []backup
	for round := range 2 {
		// Through the HTTP API, checking the declared length.
		started := time.Now()
		req, _ := http.NewRequest("GET", s.url+"/v1/backup", nil)
		req.Header.Set("Authorization", "Bearer "+crashAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/backup: %d %v", resp.StatusCode, err)
		}
		cl := resp.Header.Get("Content-Length")
		if cl != fmt.Sprint(len(body)) || resp.ContentLength != int64(len(body)) {
			t.Fatalf("GET /v1/backup: Content-Length %q, body %d bytes", cl, len(body))
		}
		p := filepath.Join(dir, fmt.Sprintf("http-%d.db", round))
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, backup{"GET /v1/backup", p, started})
		moreGrants()

		// Through the CLI.
		started = time.Now()
		p = filepath.Join(dir, fmt.Sprintf("cli-%d.db", round))
		out, err := cli("backup", p, "--server", s.url, "--token", crashAdminToken)
		if err != nil || !strings.Contains(out, "checked") {
			t.Fatalf("prereg backup --server: %v\n%s", err, out)
		}
		backups = append(backups, backup{"prereg backup --server", p, started})
		moreGrants()
	}
	close(stop)
	grants, creates, revokes := wait()
	if t.Failed() {
		t.FailNow()
	}

	// The live store after the load, for comparison.
	live := map[string]prereg.Registration{}
	for cursor := ""; ; {
		var page struct {
			Items      []prereg.Registration `json:"items"`
			NextCursor string                `json:"next_cursor"`
		}
		code, raw := s.call(t, "GET", "/v1/registrations?limit=1000&cursor="+cursor, crashAdminToken, nil)
		if code != 200 || json.Unmarshal(raw, &page) != nil {
			t.Fatalf("list: %d %.200s", code, raw)
		}
		for _, r := range page.Items {
			live[r.ID] = r
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}

	for i, b := range backups {
		restored := filepath.Join(dir, fmt.Sprintf("restored-%d.db", i))
		if out, err := cli("restore", b.path, "--db", restored); err != nil {
			t.Fatalf("%s: restore: %v\n%s", b.how, err, out)
		}
		if out, err := cli("check", "--db", restored); err != nil || !strings.Contains(out, "OK") {
			t.Fatalf("%s: check: %v\n%s", b.how, err, out)
		}
		facts := verifyStoreFile(t, restored)
		inBackup := 0
		gl.mu.Lock()
		for id, at := range gl.at {
			if !at.Before(b.started) {
				continue
			}
			inBackup++
			if r := facts.regs[id]; r.Status != prereg.StatusGranted || r.GrantedTo != gl.to[id] {
				t.Errorf("%s: %s was answered granted to %s before the backup started; the backup has %s to %q", b.how, id, gl.to[id], r.Status, r.GrantedTo)
			}
		}
		gl.mu.Unlock()
		for id, r := range facts.regs {
			l, ok := live[id]
			switch {
			case !ok:
				t.Errorf("%s: %s is in the backup but not in the live store", b.how, id)
			case r.Status == prereg.StatusGranted && (l.Status != prereg.StatusGranted || l.GrantedTo != r.GrantedTo):
				t.Errorf("%s: %s granted to %q in the backup, %s to %q live", b.how, id, r.GrantedTo, l.Status, l.GrantedTo)
			}
		}
		t.Logf("%s: %d registrations (%+v), %d of them grants answered before it started", b.how, len(facts.regs), facts.stats.Overall, inBackup)
	}
	t.Logf("load during the backups: %d grants, %d creates, %d revokes; live store %d registrations", grants, creates, revokes, len(live))

	// A store held by a running service is never overwritten.
	start := time.Now()
	out, err := cli("restore", backups[0].path, "--db", db, "--force")
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("restore over the running service's store: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("restore over a held store took %s to refuse", d)
	}
	if _, err := cli("restore", backups[0].path, "--db", db); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over an existing store without --force: %v", err)
	}
	if code, _ := s.call(t, "GET", "/readyz", "", nil); code != 200 {
		t.Errorf("the service is not ready after the refused restores: %d", code)
	}
}

// TestRestoreRefusesDamagedBackup feeds `prereg restore` damaged copies of
// a good backup, each in a child process (the test binary re-executed as
// prereg): a damaged file must be refused with a clear error, the target
// left absent, and the process must not crash. bbolt reads the file
// through mmap, so reading a page past the end of a truncated file faults
// (SIGBUS), and a page whose header is wrong trips a bbolt assertion (a
// panic) wherever it is read outside Tx.Check's own recover: either kills
// a Go program unless the file is validated before it is opened.
func TestRestoreRefusesDamagedBackup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "live.db")
	seedCrashStore(t, db, 3000)
	good := filepath.Join(dir, "good.db")
	if out, err := cli("backup", good, "--db", db); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	garbage := func(b []byte, off int) []byte {
		c := bytes.Clone(b)
		for i := off; i < off+page && i < len(c); i++ {
			c[i] = byte(i*7 + 13)
		}
		return c
	}
	cases := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"not a store", []byte(strings.Repeat("email,roles\nana@example.com,viewer\n", 300))},
		{"both meta pages zeroed", append(make([]byte, 2*page), raw[2*page:]...)},
		{"meta pages only", raw[:2*page]},
		{"truncated to half", raw[:len(raw)/2/page*page]},
		{"truncated mid-page", raw[:len(raw)/2+100]},
		{"garbage in the middle", garbage(raw, len(raw)/2/page*page)},
	}
	// The good backup restores in a child process too (the harness works).
	cases = append(cases, struct {
		name string
		data []byte
	}{"intact (control)", raw})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "backup.db")
			if err := os.WriteFile(in, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(t.TempDir(), "restored.db")
			code, out := helperPrereg(t, "restore", in, "--db", target)
			_, statErr := os.Stat(target)
			if tc.name == "intact (control)" {
				if code != 0 || statErr != nil {
					t.Fatalf("restore of the intact backup: exit %d\n%s", code, out)
				}
				return
			}
			switch {
			case crashed(out):
				t.Errorf("prereg restore crashed on a damaged backup (%d of %d bytes) instead of refusing it:\n%.600s", len(tc.data), len(raw), out)
			case code == 0:
				t.Errorf("prereg restore accepted a damaged backup (%d of %d bytes):\n%s", len(tc.data), len(raw), out)
			case !strings.Contains(out, "prereg: "):
				t.Errorf("exit %d without an error message:\n%s", code, out)
			default:
				t.Logf("refused: %s", strings.TrimSpace(out))
			}
			if statErr == nil {
				t.Errorf("the refused restore left %s behind", target)
			}
		})
	}
}

// crashed tells a Go crash from an error the command reported (which may
// quote a panic bbolt's check recovered from).
func crashed(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		for _, sign := range []string{"panic:", "fatal error:", "unexpected fault address", "goroutine "} {
			if strings.HasPrefix(line, sign) {
				return true
			}
		}
	}
	return false
}

// helperPrereg runs prereg with args in a child process: the test binary
// itself, through TestHelperProcessPrereg. It returns the exit status and
// the combined output.
func helperPrereg(t *testing.T, args ...string) (int, string) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessPrereg$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PREREG_HELPER_ARGS="+string(raw))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("run helper: %v", err)
	return 0, ""
}

// TestHelperProcessPrereg is not a test: started by helperPrereg with
// PREREG_HELPER_ARGS set, it is the prereg command (as main runs it).
func TestHelperProcessPrereg(t *testing.T) {
	raw := os.Getenv("PREREG_HELPER_ARGS")
	if raw == "" {
		t.Skip("helper process for other tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		os.Exit(3)
	}
	err := run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}
