package boltstore

import (
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// grantCache remembers, for users who logged in lately, the grants the
// hook answers with, so that the login of an already granted user opens
// no transaction. It is on with Options.LoginSets and holds a bounded
// number of users. Why a hit is never stale: see "The login path" in
// doc.go.
type grantCache struct {
	shards [64]grantShard

	// open lists the writes begun by transactions that have not ended.
	mu   sync.Mutex
	open []openWrite
}

type grantShard struct {
	mu sync.Mutex
	// busy counts the writes in flight that change a user of this shard;
	// gen moves whenever one begins or ends.
	busy, gen uint64
	m         map[uint64]grantEntry
}

type grantEntry struct {
	user   string // the key is a hash: two users may share it
	grants []prereg.Registration
}

type openWrite struct {
	tx *bolt.Tx
	k  uint64
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
	if e, hit := sh.m[k]; hit && e.user == user && sh.busy == 0 {
		// A copy: prereg.Result sorts the slice it is given.
		return slices.Clone(e.grants), 0, true
	}
	return nil, sh.gen, false
}

// put stores user's grants as read by a transaction begun after get
// returned gen, unless a write began or ended in the shard since.
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

// begin notes, inside write transaction tx and before it commits, that tx
// changes the grants of the user with key k. The write ends when tx has
// committed (OnCommit) or when update sees it end otherwise.
func (c *grantCache) begin(tx *bolt.Tx, k uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	sh.busy++
	sh.gen++
	delete(sh.m, k)
	sh.mu.Unlock()

	c.mu.Lock()
	first := !slices.ContainsFunc(c.open, func(w openWrite) bool { return w.tx == tx })
	c.open = append(c.open, openWrite{tx, k})
	c.mu.Unlock()
	if first {
		tx.OnCommit(func() { c.end(tx) })
	}
}

// end ends the writes begun in tx, which has committed or rolled back.
func (c *grantCache) end(tx *bolt.Tx) {
	if c == nil || tx == nil {
		return
	}
	c.mu.Lock()
	var ended []uint64
	c.open = slices.DeleteFunc(c.open, func(w openWrite) bool {
		if w.tx == tx {
			ended = append(ended, w.k)
		}
		return w.tx == tx
	})
	c.mu.Unlock()
	for _, k := range ended {
		sh := c.shard(k)
		sh.mu.Lock()
		sh.busy--
		sh.gen++
		delete(sh.m, k)
		sh.mu.Unlock()
	}
}

// update is db.Update that also ends the writes fn began when the
// transaction rolls back (an error or a panic), which OnCommit does not
// see. Every store write goes through it.
func (c *grantCache) update(db *bolt.DB, fn func(*bolt.Tx) error) error {
	if c == nil {
		return db.Update(fn)
	}
	var cur *bolt.Tx
	defer func() { c.end(cur) }()
	return db.Update(func(tx *bolt.Tx) error {
		cur = tx
		return fn(tx)
	})
}

// dropGrants begins, for the cached grants of the users of records a
// write changes, the write (see begin).
func (t *regTx) dropGrants(rs ...*prereg.Registration) {
	if t.grants == nil || !t.tx.Writable() {
		return
	}
	for _, r := range rs {
		if r != nil && r.GrantedTo != "" {
			t.grants.begin(t.tx, userKey(r.GrantedTo))
		}
	}
}
