package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/etcdtest"
)

// TestEtcdMode runs the commands of replicated mode against a real etcd
// member, each part on a prefix of its own: copy both ways, backup and
// restore across the two kinds of store, check, and serve.
func TestEtcdMode(t *testing.T) {
	cluster := etcdtest.Start(t, 1)
	ep := strings.Join(cluster.Endpoints(), ",")
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	fillStore(t, src)
	want := dumpOf(t, location{kind: "bolt", path: src})
	cli := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := runCLI(args...)
		if err != nil {
			t.Fatalf("%v: %s\n%s", args, describe(err), out)
		}
		return out
	}
	refused := func(t *testing.T, want string, args ...string) {
		t.Helper()
		out, err := runCLI(args...)
		if err == nil || !strings.Contains(describe(err), want) {
			t.Fatalf("%v: %v, want an error containing %q\n%s", args, err, want, out)
		}
	}

	t.Run("CopyRoundTrip", func(t *testing.T) {
		etcd := "etcd:" + ep
		out := cli(t, "copy", "bolt:"+src, etcd, "--etcd-prefix", "/copy/")
		if !strings.Contains(out, "copied 1 secret, 2 tokens, 4 registrations, 1 job, 1 import") {
			t.Errorf("copy to etcd: %s", out)
		}
		refused(t, "is not empty (1 secret, 2 tokens, 4 registrations", "copy", "bolt:"+src, etcd, "--etcd-prefix", "/copy/")
		cli(t, "copy", "bolt:"+src, etcd, "--etcd-prefix", "/copy/", "--force")
		if out := cli(t, "check", "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/copy/"); !strings.Contains(out, "(prefix /copy/): OK") {
			t.Errorf("check in etcd mode: %s", out)
		}
		back := filepath.Join(dir, "back.db")
		cli(t, "copy", etcd, "bolt:"+back, "--etcd-prefix", "/copy/")
		sameDump(t, dumpOf(t, location{kind: "bolt", path: back}), want, "bolt -> etcd -> bolt")
	})

	// The admin commands work on the cluster as on the file: a lost admin
	// token is replaced this way too.
	t.Run("AdminCommands", func(t *testing.T) {
		on := []string{"--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/copy/"}
		if out := cli(t, append([]string{"list", "--all"}, on...)...); !strings.Contains(out, "ana@example.com") || !strings.Contains(out, "cy@example.com") {
			t.Errorf("list on etcd: %s", out)
		}
		out := cli(t, append([]string{"tokens", "create", "--name", "rescue"}, on...)...)
		if !strings.Contains(out, "prereg_") && !strings.Contains(out, "tok_") {
			t.Errorf("tokens create on etcd: %s", out)
		}
		if out := cli(t, append([]string{"tokens", "list"}, on...)...); !strings.Contains(out, "rescue") {
			t.Errorf("tokens list on etcd: %s", out)
		}
		refused(t, "--server and --store etcd", append([]string{"list", "--server", "http://127.0.0.1:1", "--token", "x"}, on...)...)
		refused(t, "--db is not used with --store etcd", append([]string{"list", "--db", src}, on...)...)
	})

	t.Run("BackupEtcdRestoreBolt", func(t *testing.T) {
		cli(t, "copy", "bolt:"+src, "etcd:", "--etcd-endpoints", ep, "--etcd-prefix", "/backup/")
		dump := filepath.Join(dir, "etcd.dump")
		out := cli(t, "backup", dump, "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/backup/")
		if !strings.Contains(out, "dump of 1 secret, 2 tokens, 4 registrations, 1 job, 1 import, ") {
			t.Errorf("backup in etcd mode: %s", out)
		}
		db := filepath.Join(dir, "restored.db")
		cli(t, "restore", dump, "--db", db)
		// (The backup notes itself in the trail after taking the copy.)
		sameDump(t, dumpOf(t, location{kind: "bolt", path: db}), want, "etcd backup restored into bolt")
	})

	t.Run("BackupBoltRestoreEtcd", func(t *testing.T) {
		file := filepath.Join(dir, "bolt-backup.db")
		cli(t, "backup", file, "--db", src)
		restore := []string{"restore", file, "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/restore/"}
		if out := cli(t, restore...); !strings.Contains(out, "(bbolt file) into etcd:") {
			t.Errorf("restore into etcd: %s", out)
		}
		refused(t, "is not empty", restore...)
		cli(t, append(restore, "--force")...)
		sameDump(t, dumpOf(t, location{kind: "etcd", etcd: etcdConfig(ep, "/restore/")}), want, "bolt backup restored into etcd")
		refused(t, "--db is not used with --store etcd", append(restore, "--db", src)...)
	})

	// A bbolt backup of an older schema goes into etcd as this version
	// reads it (migrated), not as it lies in the file.
	t.Run("RestoreOlderSchema", func(t *testing.T) {
		old, _, want := schema4Store(t, t.TempDir())
		cli(t, "restore", old, "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/v4/")
		sameDump(t, dumpOf(t, location{kind: "etcd", etcd: etcdConfig(ep, "/v4/")}), want, "schema 4 backup restored into etcd")
	})

	// check finds an index entry without its record, and fails.
	t.Run("CheckFindsProblems", func(t *testing.T) {
		cli(t, "copy", "bolt:"+src, "etcd:"+ep, "--etcd-prefix", "/broken/")
		if _, err := cluster.Client(t).Put(context.Background(), "/broken/org/\x00pending\x00stray-key-000", ""); err != nil {
			t.Fatal(err)
		}
		out, err := runCLI("check", "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/broken/", "--json")
		if err == nil || !strings.Contains(describe(err), "problem(s) found") || !strings.Contains(out, `"problems"`) || strings.Contains(out, `"problems": []`) {
			t.Fatalf("check of a broken store: %v\n%s", err, out)
		}
	})

	t.Run("ManyItems", func(t *testing.T) {
		many, back := filepath.Join(dir, "many.db"), filepath.Join(dir, "many-back.db")
		fillMany(t, many, 2*loadBatch+17)
		cli(t, "copy", "bolt:"+many, "etcd:"+ep, "--etcd-prefix", "/many/")
		cli(t, "copy", "etcd:"+ep, "bolt:"+back, "--etcd-prefix", "/many/")
		sameDump(t, dumpOf(t, location{kind: "bolt", path: back}), dumpOf(t, location{kind: "bolt", path: many}), "bolt -> etcd -> bolt in batches")
	})

	t.Run("Serve", func(t *testing.T) {
		s := startService(t, "--store", "etcd", "--etcd-endpoints", ep, "--etcd-prefix", "/serve/", "--hook-secrets", testHookSecret, "--admin-token", testAdminToken)
		if code, raw := s.call(t, "GET", "/readyz", "", nil); code != 200 {
			t.Fatalf("readyz: %d %s", code, raw)
		}
		if code, raw := s.call(t, "POST", "/v1/registrations", testAdminToken, map[string]any{"email": "ana@example.com", "roles": []string{"admin"}}); code != 201 {
			t.Fatalf("create: %d %s", code, raw)
		}
		code, raw := s.call(t, "POST", "/v1/hooks/post-login", testHookSecret, map[string]any{"user_id": "auth0|1", "email": "ana@example.com", "email_verified": true})
		if code != 200 || !strings.Contains(string(raw), `"outcome":"granted"`) {
			t.Fatalf("hook: %d %s", code, raw)
		}
		// A backup through the service of an etcd store is a dump stream.
		out := cli(t, "backup", filepath.Join(dir, "served.dump"), "--server", s.url, "--token", testAdminToken)
		if !strings.Contains(out, "dump of ") || !strings.Contains(out, "1 registration,") {
			t.Errorf("backup through the service: %s", out)
		}
		refused(t, "--db is not used with --store etcd", "serve", "--store", "etcd", "--etcd-endpoints", ep, "--db", src)
	})
}
