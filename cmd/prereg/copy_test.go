package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/dumpio"
	"github.com/prereg/prereg/internal/prereg"
)

// fillStore writes a store of every kind of item through the store's API
// into the bbolt file path: registrations pending, granted and revoked, a
// live and a revoked token, an import report, a queued sync job, the
// generated secrets.
func fillStore(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := boltstore.Open(path, boltstore.Options{SyncEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = s.Bootstrap(ctx, prereg.BootstrapOptions{HookSecret: true, AdminToken: true})
	must(err)
	later := time.Now().Add(24 * time.Hour).UTC()
	for i, in := range []prereg.Input{
		{Email: "ana@example.com", Roles: []string{"admin"}},
		{Email: "bo@example.com", OrganizationID: "org_a", Roles: []string{"viewer"}, ExpiresAt: &later},
		{Email: "cy@example.com", Roles: []string{"editor"}},
		{Email: "di@example.com", Roles: []string{"editor"}},
	} {
		r, _, err := s.Put(ctx, in, "api", "test")
		must(err)
		if i == 3 {
			_, _, err = s.Revoke(ctx, r.ID, false, "test")
			must(err)
		}
	}
	_, err = s.Login(ctx, prereg.Login{UserID: "auth0|cy", Email: "cy@example.com", EmailVerified: true}, true)
	must(err)
	tok, _, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "old"}, "test")
	must(err)
	_, err = s.RevokeToken(ctx, tok.ID, "test")
	must(err)
	_, _, err = s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	must(err)
	now := time.Now().UTC()
	must(s.SaveImport(ctx, prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: "imp_1", Rows: 1, Created: 1, Actor: "test", StartedAt: now, FinishedAt: now}}))
}

// dumpOf reads a store's whole dump, opened read-only.
func dumpOf(t *testing.T, loc location) []prereg.DumpItem {
	t.Helper()
	s, err := loc.open(context.Background(), false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var items []prereg.DumpItem
	if err := s.Dump(context.Background(), func(it prereg.DumpItem) error { items = append(items, it); return nil }); err != nil {
		t.Fatal(err)
	}
	return items
}

func sameDump(t *testing.T, got, want []prereg.DumpItem, what string) {
	t.Helper()
	if len(got) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %d items, want the %d of the source (or they differ)", what, len(got), len(want))
	}
}

func TestCopyBoltToBolt(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "dst.db")
	fillStore(t, src)
	out, err := runCLI("copy", "bolt:"+src, "bolt:"+dst)
	if err != nil || !strings.Contains(out, "copied 1 secret, 2 tokens, 4 registrations, 1 job, 1 import, ") {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	want := dumpOf(t, location{kind: "bolt", path: src})
	sameDump(t, dumpOf(t, location{kind: "bolt", path: dst}), want, "copy")
	if errs, err := checkFile(dst); err != nil || len(errs) > 0 {
		t.Fatalf("check of the copy: %v %v", err, errs)
	}

	// A destination that holds data is refused, and left alone.
	out, err = runCLI("copy", "bolt:"+src, "bolt:"+dst)
	if err == nil || !strings.Contains(describe(err), "is not empty (1 secret, 2 tokens, 4 registrations") || !strings.Contains(describe(err), "--force") {
		t.Fatalf("copy onto a store with data: %v\n%s", err, out)
	}
	// With --force it is replaced, not added to.
	if out, err := runCLI("copy", "bolt:"+src, "bolt:"+dst, "--force"); err != nil {
		t.Fatalf("copy --force: %v\n%s", err, out)
	}
	sameDump(t, dumpOf(t, location{kind: "bolt", path: dst}), want, "copy --force")
}

func TestCopyRefusals(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	fillStore(t, src)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"copy", "bolt:" + src}, "missing DST"},
		{[]string{"copy", src, "bolt:x.db"}, "is not a store: write bolt:PATH or etcd:URL"},
		{[]string{"copy", "bolt:" + src, "etcd:"}, `"etcd:" names no etcd endpoint`},
		{[]string{"copy", "bolt:" + src, "etcd:127.0.0.1:2379"}, "is not an etcd client URL"},
		{[]string{"copy", "bolt:" + src, "bolt:" + src}, "SRC and DST are the same store"},
		{[]string{"copy", "bolt:" + filepath.Join(dir, "none.db"), "bolt:" + filepath.Join(dir, "new.db")}, "no store at"},
		{[]string{"copy", "bolt:" + src, "etcd:http://127.0.0.1:2379", "--etcd-prefix", "x"}, `--etcd-prefix "x"`},
	} {
		out, err := runCLI(tc.args...)
		if err == nil || !strings.Contains(describe(err), tc.want) {
			t.Errorf("%v: %v, want an error containing %q\n%s", tc.args, err, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		t.Error("a copy from a missing source created its destination")
	}
}

// writeDump writes the store at path as a dump stream, as a backup in
// etcd mode is.
func writeDump(t *testing.T, path, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := dumpio.NewWriter(f)
	for _, it := range dumpOf(t, location{kind: "bolt", path: path}) {
		if err := w.Write(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// A dump stream restores into a store file; a damaged one is refused
// before the file is touched.
func TestRestoreDumpIntoBolt(t *testing.T) {
	dir := t.TempDir()
	src, dump, db := filepath.Join(dir, "src.db"), filepath.Join(dir, "b.dump"), filepath.Join(dir, "prereg.db")
	fillStore(t, src)
	writeDump(t, src, dump)
	out, err := runCLI("restore", dump, "--db", db)
	if err != nil || !strings.Contains(out, "(dump of 1 secret, 2 tokens, 4 registrations, 1 job, 1 import, ") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	want := dumpOf(t, location{kind: "bolt", path: src})
	sameDump(t, dumpOf(t, location{kind: "bolt", path: db}), want, "restored dump")

	raw, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.dump")
	lines := strings.SplitAfter(string(raw), "\n")
	if err := os.WriteFile(cut, []byte(strings.Join(lines[:4], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI("restore", cut, "--db", db, "--force")
	if err == nil || !strings.Contains(describe(err), "line 5: the stream ends without its end line") {
		t.Fatalf("restore of a cut dump: %v\n%s", err, out)
	}
	sameDump(t, dumpOf(t, location{kind: "bolt", path: db}), want, "store after a refused restore")
	out, err = runCLI("restore", dump, "--db", db)
	if err == nil || !strings.Contains(describe(err), "exists; pass --force") {
		t.Fatalf("restore onto an existing file: %v\n%s", err, out)
	}
}

func etcdConfig(endpoints, prefix string) config.Etcd {
	return config.Etcd{Endpoints: strings.Split(endpoints, ","), Prefix: prefix, DialTimeout: 5 * time.Second}
}

// fillMany writes n registrations in one batch, as an import does.
func fillMany(t *testing.T, path string, n int) {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items := make([]prereg.Input, n)
	for i := range items {
		items[i] = prereg.Input{Email: fmt.Sprintf("user%05d@example.com", i), OrganizationID: fmt.Sprintf("org_%d", i%3), Roles: []string{"r"}}
	}
	if _, err := s.ApplyBatch(context.Background(), items, "import:imp_many", "test", false); err != nil {
		t.Fatal(err)
	}
}

// A store larger than one batch goes over in several, counts intact.
func TestCopyInBatches(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src.db"), filepath.Join(dir, "dst.db")
	fillMany(t, src, 2*loadBatch+17)
	out, err := runCLI("copy", "bolt:"+src, "bolt:"+dst)
	if err != nil || !strings.Contains(out, fmt.Sprintf("copied %d registrations", 2*loadBatch+17)) {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	sameDump(t, dumpOf(t, location{kind: "bolt", path: dst}), dumpOf(t, location{kind: "bolt", path: src}), "copy in batches")
	if errs, err := checkFile(dst); err != nil || len(errs) > 0 {
		t.Fatalf("check of the copy: %v %v", err, errs)
	}
}
