package etcdstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
)

// openDial is the dial timeout of the tests that expect Open to fail:
// the failure must come within it, not after a hang.
const openDial = 2 * time.Second

// useStore puts a registration, claims it by a login and lists it: the
// store works end to end over the connection Open made.
func useStore(t *testing.T, s *etcdstore.Store) {
	t.Helper()
	ctx := context.Background()
	in := prereg.Input{Email: "ana@tls.example", Roles: []string{"r"}}.Normalize()
	if _, _, err := s.Put(ctx, in, "api", "t"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|ana", Email: "ana@tls.example", EmailVerified: true}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("login: %+v, %v", res.HookResult, err)
	}
	regs, _, err := s.List(ctx, prereg.Filter{})
	if err != nil || len(regs) != 1 || regs[0].GrantedTo != "auth0|ana" {
		t.Fatalf("list: %+v, %v", regs, err)
	}
}

// openFails checks that Open fails, within the dial timeout and some
// slack, with a *prereg.Error of code whose message holds want.
func openFails(t *testing.T, cfg etcdstore.Config, code prereg.Code, want string) {
	t.Helper()
	cfg.DialTimeout = openDial
	start := time.Now()
	s, err := etcdstore.Open(context.Background(), cfg, etcdstore.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if took := time.Since(start); took > 3*openDial {
		t.Errorf("Open took %v with a dial timeout of %v", took, openDial)
	}
	t.Log(err)
	var pe *prereg.Error
	if !errors.As(err, &pe) || pe.Code != code || !strings.Contains(pe.Error(), want) {
		t.Errorf("Open: %v (%T), want a %s error saying %q", err, err, code, want)
	}
}

func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// The store reaches a cluster that serves clients over TLS with client
// certificates, and a wrong CA or a missing certificate fails Open at
// once with an error that says which.
func TestTLS(t *testing.T) {
	c, f := etcdtest.StartTLS(t, 1)
	ok := etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/tls/", CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey, DialTimeout: 5 * time.Second}
	s, err := etcdstore.Open(context.Background(), ok, etcdstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	useStore(t, s)

	t.Run("wrong CA", func(t *testing.T) {
		cfg := ok
		cfg.CAFile = f.OtherCA
		openFails(t, cfg, prereg.Unavailable, "certificate")
	})
	t.Run("no client certificate", func(t *testing.T) {
		cfg := ok
		cfg.CertFile, cfg.KeyFile = "", ""
		openFails(t, cfg, prereg.Unavailable, "certificate")
	})
	t.Run("no TLS files", func(t *testing.T) {
		cfg := ok
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = "", "", ""
		openFails(t, cfg, prereg.Unavailable, "certificate")
	})
	t.Run("plain text", func(t *testing.T) {
		cfg := ok
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = "", "", ""
		cfg.Endpoints = []string{strings.Replace(c.Endpoints()[0], "https://", "http://", 1)}
		openFails(t, cfg, prereg.Unavailable, "serves TLS")
	})
	t.Run("missing file", func(t *testing.T) {
		cfg := ok
		cfg.CAFile = f.CA + ".missing"
		openFails(t, cfg, prereg.Invalid, "ca.pem.missing")
	})
}

// A user limited to the prefix runs the store, erasure included (its
// defragmentation, which etcd allows root only, is skipped with a
// warning); a wrong password fails Open at once, saying so.
func TestAuth(t *testing.T) {
	c := etcdtest.Start(t, 1)
	const prefix = "/auth/"
	c.EnableAuth(t, prefix, "prereg", "s3cret")
	ok := etcdstore.Config{Endpoints: c.Endpoints(), Prefix: prefix, Username: "prereg", Password: "s3cret", DialTimeout: 5 * time.Second}
	var logs strings.Builder
	s, err := etcdstore.Open(context.Background(), ok, etcdstore.Options{Logger: textLogger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	useStore(t, s)
	er, err := s.Erase(context.Background(), "ana@tls.example", "", "t")
	if err != nil || len(er.Registrations) != 1 || !strings.Contains(er.Unfinished, "as root") {
		t.Fatalf("erase as a limited user: %+v, %v", er, err)
	}
	if !strings.Contains(logs.String(), "etcdctl defrag --cluster") {
		t.Errorf("no warning to defragment as root in the logs:\n%s", logs.String())
	}

	t.Run("wrong password", func(t *testing.T) {
		cfg := ok
		cfg.Password = "wrong"
		openFails(t, cfg, prereg.Unauthorized, "user name or password")
	})
	t.Run("prefix not granted", func(t *testing.T) {
		cfg := ok
		cfg.Prefix = "/other/"
		openFails(t, cfg, prereg.Forbidden, "/other/")
	})
	t.Run("no user", func(t *testing.T) {
		cfg := ok
		cfg.Username, cfg.Password = "", ""
		openFails(t, cfg, prereg.Unauthorized, "user")
	})
}
