package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/testio"
)

// A value given as two kinds of secret is refused before anything else
// happens, and the refusal does not repeat the secret.
func TestStartRefusesOneValueAsTwoSecrets(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	whsec := "whsec_" + key
	other := "another-secret-0123456789-0123456789-xyz"
	for name, args := range map[string][]string{
		"hook secret is the admin token":     {"--hook-secrets", testAdminToken, "--admin-token", testAdminToken},
		"one hook secret is the admin token": {"--hook-secrets", other + "," + testAdminToken, "--admin-token", testAdminToken},
		"signing secret is the admin token":  {"--signing-secrets", whsec, "--admin-token", whsec, "--hook-secrets", other},
		"signing secret is a hook secret":    {"--signing-secrets", whsec, "--hook-secrets", whsec, "--admin-token", other},
		"signing key is a hook secret":       {"--signing-secrets", whsec, "--hook-secrets", key, "--admin-token", other},
	} {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "prereg.db")
			var stdout, stderr bytes.Buffer
			// Bounded: a start that is not refused serves until ctx ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, args...), strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), "same value") {
				t.Fatalf("start: %v", err)
			}
			for _, secret := range []string{testAdminToken, whsec, key} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the refusal repeats a secret: %v", err)
				}
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused start touched the store: %v", err)
			}
		})
	}
}

// A start that fails (busy port, a bad setting found late) generates,
// stores and prints no secret; the next good start does, and a token made
// with tokens create --db while the service is stopped works on the next.
func TestFailedStartGeneratesNoSecret(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, args := range map[string][]string{
		"busy port":          {"--addr", busy.Addr().String()},
		"missing allow file": {"--addr", "127.0.0.1:0", "--hook-allow-file", "/nonexistent/auth0-ips.json"},
		"missing TLS files":  {"--addr", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "prereg.db")
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := run(ctx, append([]string{"serve", "--db", db}, args...), strings.NewReader(""), &stdout, &stderr); err == nil {
				t.Fatal("start succeeded")
			}
			if strings.Contains(stdout.String(), "secret") || strings.Contains(stdout.String(), "token") {
				t.Fatalf("a failed start printed secrets:\n%s", stdout.String())
			}
			assertNoGeneratedSecret(t, db)

			out, stop := startRun(t, "serve", "--addr", "127.0.0.1:0", "--db", db)
			token := match(t, out, `admin token \(tenant-wide, read-write\): +(\S+)`)
			match(t, out, `hook secret \(PREREG_SECRET of the Action\): +(\S+)`)
			url := match(t, out, `prereg listening on (\S+)`)
			if code, _ := get(t, url+"/v1/stats", token); code != 200 {
				t.Fatalf("printed admin token: %d", code)
			}
			stop()

			// README: a lost admin token is replaced with tokens create
			// --db while the service is stopped.
			cli, err := runCLI("tokens", "create", "--db", db, "--name", "recovery")
			if err != nil {
				t.Fatalf("tokens create: %v\n%s", err, cli)
			}
			lines := strings.Split(strings.TrimSpace(cli), "\n")
			fresh := lines[len(lines)-1]
			out, stop = startRun(t, "serve", "--addr", "127.0.0.1:0", "--db", db)
			url = match(t, out, `prereg listening on (\S+)`)
			if strings.Contains(out.String(), "generated secrets") {
				t.Fatalf("secrets generated twice:\n%s", out.String())
			}
			if code, _ := get(t, url+"/v1/stats", fresh); code != 200 {
				t.Fatalf("token from tokens create: %d", code)
			}
			stop()
		})
	}
}

func assertNoGeneratedSecret(t *testing.T, db string) {
	t.Helper()
	s, err := boltstore.Open(db, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.GeneratedHookSecret(context.Background())
	toks, err2 := s.Tokens(context.Background())
	if err != nil || err2 != nil || h != nil || len(toks) != 0 {
		t.Fatalf("a failed start left secrets in the store: hook %x, tokens %v (%v, %v)", h, toks, err, err2)
	}
}

// startRun runs the real run() until stop, returning what it prints.
func startRun(t *testing.T, args ...string) (*testio.Buffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &testio.Buffer{}, &testio.Buffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), out, errOut) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, errOut)
		}
	}
	t.Cleanup(stop)
	return out, stop
}

// match waits (up to 10 s) for re to match what out holds and returns
// its first group.
func match(t *testing.T, out *testio.Buffer, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out)
		}
	}()
	var m []string
	testio.WaitFor(t, 10*time.Second, "a match of "+re, func() bool {
		m = rx.FindStringSubmatch(out.String())
		return m != nil
	})
	return m[1]
}
