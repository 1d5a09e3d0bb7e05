package boltstore

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// TestGrantCacheRules covers what keeps the cache from answering with
// grants a write has changed: no hit while a write of the shard is in
// flight, a put loses to any write that began or ended in its shard after
// its get, a write's end drops the entry, an entry answers only its own
// user, a shard stays bounded, and a rolled-back write ends too.
func TestGrantCacheRules(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// write begins a write of key k and returns its end.
	write := func(c *grantCache, k uint64) func() {
		tx, err := db.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		c.begin(tx, k)
		return func() {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			c.end(tx)
		}
	}
	g1 := []prereg.Registration{{ID: "reg_1", Roles: []string{"a"}, Status: prereg.StatusGranted}}
	const k, other = 7, 7 + 64 // same shard
	fill := func(c *grantCache, user string) { _, gen, _ := c.get(k, user); c.put(k, user, gen, g1) }
	tests := []struct {
		name string
		run  func(c *grantCache) (end func())
		hit  bool
	}{
		{"put after get", func(c *grantCache) func() { fill(c, "u"); return nil }, true},
		{"a write of the user began and ended after get: put ignored", func(c *grantCache) func() {
			_, gen, _ := c.get(k, "u")
			write(c, k)()
			c.put(k, "u", gen, g1)
			return nil
		}, false},
		{"a write of another user of the shard after get: put ignored", func(c *grantCache) func() {
			_, gen, _ := c.get(k, "u")
			write(c, other)()
			c.put(k, "u", gen, g1)
			return nil
		}, false},
		{"a write in flight in the shard: no hit", func(c *grantCache) func() {
			fill(c, "u")
			return write(c, other)
		}, false},
		{"a write begun before get, ended after put: entry dropped", func(c *grantCache) func() {
			end := write(c, k)
			fill(c, "u")
			end()
			return nil
		}, false},
		{"after a write ended, a fresh read is kept", func(c *grantCache) func() {
			write(c, k)()
			fill(c, "u")
			return nil
		}, true},
		{"another user with the same key", func(c *grantCache) func() { fill(c, "v"); return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &grantCache{}
			end := tt.run(c)
			got, _, hit := c.get(k, "u")
			if hit != tt.hit || (hit && (len(got) != 1 || got[0].ID != "reg_1")) {
				t.Fatalf("get = %v, %v; want hit %v", got, hit, tt.hit)
			}
			if end != nil {
				end()
			}
		})
	}

	// A transaction that rolls back (an error or a panic) ends its
	// writes through update, as one that commits does through OnCommit.
	c := &grantCache{}
	for _, fn := range []func(tx *bolt.Tx) error{
		func(tx *bolt.Tx) error { c.begin(tx, k); return errors.New("rolled back") },
		func(tx *bolt.Tx) error { c.begin(tx, k); c.begin(tx, other); panic("rolled back") },
		func(tx *bolt.Tx) error { c.begin(tx, k); return nil },
	} {
		func() {
			defer func() { _ = recover() }()
			_ = c.update(db, fn)
		}()
		fill(c, "u")
		if _, _, hit := c.get(k, "u"); !hit {
			t.Fatalf("no hit after a transaction ended: busy %d, %d writes open", c.shard(k).busy, len(c.open))
		}
	}

	for i := range 10 * grantShardMax {
		_, gen, _ := c.get(uint64(i*64), "u")
		c.put(uint64(i*64), "u", gen, g1)
	}
	if n := len(c.shards[0].m); n > grantShardMax {
		t.Fatalf("shard holds %d entries, want at most %d", n, grantShardMax)
	}
	// Callers get copies: sorting or changing one changes no entry.
	_, gen, _ := c.get(1, "w")
	c.put(1, "w", gen, []prereg.Registration{{ID: "reg_b"}, {ID: "reg_a"}})
	got, _, _ := c.get(1, "w")
	got[0].ID = "changed"
	if again, _, _ := c.get(1, "w"); again[0].ID != "reg_b" {
		t.Fatalf("an entry changed through a copy: %+v", again)
	}
	var off *grantCache
	off.put(1, "w", 0, g1)
	if err := off.update(db, func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, hit := off.get(1, "w"); hit {
		t.Fatal("a disabled cache answered")
	}
}
