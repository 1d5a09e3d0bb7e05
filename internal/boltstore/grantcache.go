package boltstore

import (
	"slices"
	"sync"

	"github.com/prereg/prereg/internal/prereg"
)

// grantCache remembers, for users who logged in lately, the grants the
// hook answers with, so that the login of an already granted user opens
// no transaction. A profile of the service under such logins put the read
// transaction at 8 % of its CPU, the largest part of the store's share.
// It is on with Options.LoginSets; 16 384 users at most (a grant is a
// few hundred bytes: some MiB at worst).
//
// An entry must never outlive a change to that user's grants (a revoked
// grant must not be answered again). Every write that stores or deletes a
// record granted to a user drops the user's entry once it has committed
// (tx.OnCommit, which runs before the write returns). Each drop moves its
// shard's generation, and a login that read the grants from the file
// stores them only if the generation has not moved since before its read.
// So a login that read the file before the commit either stores before
// the drop (which then removes it) or finds the generation moved and
// stores nothing; one that reads after the drop reads the new grants.
type grantCache struct {
	shards [64]grantShard
}

type grantShard struct {
	mu  sync.Mutex
	gen uint64
	m   map[uint64]grantEntry
}

type grantEntry struct {
	user   string // the key is a hash: two users may share it
	grants []prereg.Registration
}

const grantShardMax = 256

func (c *grantCache) shard(k uint64) *grantShard { return &c.shards[k%uint64(len(c.shards))] }

// get returns a copy of user's cached grants (k is userKey(user)). On a
// miss it returns the generation that put needs.
func (c *grantCache) get(k uint64, user string) (grants []prereg.Registration, gen uint64, ok bool) {
	if c == nil {
		return nil, 0, false
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, hit := sh.m[k]; hit && e.user == user {
		// A copy: prereg.Result sorts the slice it is given.
		return slices.Clone(e.grants), 0, true
	}
	return nil, sh.gen, false
}

// put stores user's grants as read from the file, unless a drop in the
// shard came after get returned gen.
func (c *grantCache) put(k uint64, user string, gen uint64, grants []prereg.Registration) {
	if c == nil {
		return
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return
	}
	if sh.m == nil {
		sh.m = make(map[uint64]grantEntry, grantShardMax)
	}
	if _, ok := sh.m[k]; !ok && len(sh.m) >= grantShardMax {
		for old := range sh.m { // an arbitrary entry makes room
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = grantEntry{user: user, grants: slices.Clone(grants)}
}

// drop forgets the entry of the user with key k.
func (c *grantCache) drop(k uint64) {
	if c == nil {
		return
	}
	sh := c.shard(k)
	sh.mu.Lock()
	sh.gen++
	delete(sh.m, k)
	sh.mu.Unlock()
}

// dropGrants drops the cached grants of the users of records a write
// changes, once the write has committed (see grantCache).
func (t *regTx) dropGrants(rs ...*prereg.Registration) {
	if t.grants == nil {
		return
	}
	for _, r := range rs {
		if r == nil || r.GrantedTo == "" {
			continue
		}
		k := userKey(r.GrantedTo)
		c := t.grants
		t.tx.OnCommit(func() { c.drop(k) })
	}
}
