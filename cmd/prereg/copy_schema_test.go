package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// schema4Store copies testdata/store/v4.db (see internal/boltstore's
// TestOpenMigratesSchema4Store for what schema 4 got wrong in it) into
// dir and returns its path, its bytes, and the dump of the store it
// migrates to.
func schema4Store(t *testing.T, dir string) (string, []byte, []prereg.DumpItem) {
	t.Helper()
	fixture, err := os.ReadFile(filepath.Join("..", "..", "testdata", "store", "v4.db"))
	if err != nil {
		t.Fatal(err)
	}
	old, migrated := filepath.Join(dir, "v4.db"), filepath.Join(dir, "migrated.db")
	for _, p := range []string{old, migrated} {
		if err := os.WriteFile(p, fixture, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := boltstore.Open(migrated, boltstore.Options{}) // migrates
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	return old, fixture, dumpOf(t, location{kind: "bolt", path: migrated})
}

// A store of an older schema is copied as this version reads it: a
// source is opened read-only, which cannot migrate, so it is read through
// a migrated copy, and the file is left as it was.
func TestCopyOlderSchema(t *testing.T) {
	dir := t.TempDir()
	old, fixture, want := schema4Store(t, dir)
	dst := filepath.Join(dir, "dst.db")
	out, err := runCLI("copy", "bolt:"+old, "bolt:"+dst)
	if err != nil || !strings.Contains(out, "copied") {
		t.Fatalf("copy of a schema 4 store: %v\n%s", err, out)
	}
	sameDump(t, dumpOf(t, location{kind: "bolt", path: dst}), want, "copy of a schema 4 store")
	if raw, err := os.ReadFile(old); err != nil || !bytes.Equal(raw, fixture) {
		t.Errorf("the schema 4 source changed (%v)", err)
	}
	if errs, err := checkFile(dst); err != nil || len(errs) > 0 {
		t.Fatalf("check of the copy: %v %v", err, errs)
	}
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), "prereg-migrated-*.db")); len(left) > 0 {
		t.Errorf("migrated copies left behind: %v", left)
	}
}
