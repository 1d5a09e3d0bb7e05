package boltstore

import (
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// TestGrantCacheRules covers what keeps the cache from answering with
// grants a write has changed: a put loses to any drop in its shard after
// its get, an entry answers only its own user, a shard stays bounded.
func TestGrantCacheRules(t *testing.T) {
	g1 := []prereg.Registration{{ID: "reg_1", Roles: []string{"a"}, Status: prereg.StatusGranted}}
	const k, other = 7, 7 + 64 // same shard
	tests := []struct {
		name string
		run  func(c *grantCache)
		hit  bool
	}{
		{"put after get", func(c *grantCache) { _, gen, _ := c.get(k, "u"); c.put(k, "u", gen, g1) }, true},
		{"drop after get: put ignored", func(c *grantCache) {
			_, gen, _ := c.get(k, "u")
			c.drop(k)
			c.put(k, "u", gen, g1)
		}, false},
		{"drop of another user of the shard after get: put ignored", func(c *grantCache) {
			_, gen, _ := c.get(k, "u")
			c.drop(other)
			c.put(k, "u", gen, g1)
		}, false},
		{"drop after put", func(c *grantCache) { _, gen, _ := c.get(k, "u"); c.put(k, "u", gen, g1); c.drop(k) }, false},
		{"another user with the same key", func(c *grantCache) { _, gen, _ := c.get(k, "v"); c.put(k, "v", gen, g1) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &grantCache{}
			tt.run(c)
			got, _, hit := c.get(k, "u")
			if hit != tt.hit || (hit && (len(got) != 1 || got[0].ID != "reg_1")) {
				t.Fatalf("get = %v, %v; want hit %v", got, hit, tt.hit)
			}
		})
	}
	c := &grantCache{}
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
	off.drop(1)
	if _, _, hit := off.get(1, "w"); hit {
		t.Fatal("a disabled cache answered")
	}
}
