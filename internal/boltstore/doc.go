// Package boltstore keeps prereg's registrations, grants, tokens, sync
// queue, import reports and audit trail in one bbolt file. It translates
// bbolt's errors into *prereg.Error and owns every key layout.
//
// # The login path
//
// Login is linearizable (CONTRACT §2, monotonic reads): every answer is
// the one the login would get alone at some instant between its call and
// its return. Besides read transactions, it reads the login sets
// (pendingAddrs, grantedUsers: see keySet) and the grant cache, which lag
// the file; each answer is built from facts that held at one instant.
//
//   - When pendingAddrs may hold the address, one read transaction reads
//     both the claimable registrations and the user's grants. A claim
//     looks for claimable ones again in its write transaction and answers
//     from what that transaction wrote.
//   - Otherwise nothing was pending under the address when the set was
//     read. If grantedUsers then lacks the user, the user had no grant
//     either (a user never leaves it): no_match. Else the user's grants are
//     taken from the cache or a read transaction, and the answer stands
//     only if nothing was added to the address's shard of pendingAddrs
//     meanwhile: a write adds the address of a pending record before it
//     commits, so nothing was pending up to the instant the grants held.
//     Else the login reads the file as above.
//
// The grant cache holds, per shard, busy (writes in flight that change a
// user of the shard) and gen. Its invariant: while busy is 0, every entry
// equals the file. A write that changes a user's grants begins inside its
// transaction, before the commit (busy++, gen++, the entry dropped), and
// ends after the transaction committed (OnCommit) or rolled back
// (grantCache.update, which every store write goes through): busy--,
// gen++, the entry dropped. get answers only while busy is 0, and put
// keeps what a transaction read only if gen has not moved since the get
// before it: no write began or ended in between, so every write had
// either ended before the get (and the read, begun after it, saw its
// commit) or is still in flight (and drops the entry when it ends).
//
// # Schema versions and migrations
//
// The meta bucket holds the schema version (SchemaVersion). Open refuses
// a store of a newer schema, or of one older than oldestSchema, naming
// the file and what to do (schemaError), and migrates one in between
// step by step, inside the transaction that creates missing buckets, so
// a failed migration leaves the file as it was. To change the layout:
// raise SchemaVersion, append to migrations a function that brings the
// previous schema to the new one (migrate4 is the pattern: read, fix in
// key order, rebuild what it must), and add a fixture written by the
// previous code under testdata/store with a test that opens it
// (TestOpenMigratesSchema4Store). A bucket new in a schema needs only
// its place in allBuckets.
package boltstore
