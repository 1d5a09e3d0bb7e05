// Package boltstore keeps prereg's registrations, grants, tokens, sync
// queue, import reports and audit trail in one bbolt file. It translates
// bbolt's errors into *prereg.Error and owns every key layout.
//
// # Keys and records
//
// Records are keyed by their prereg.Key: a hash of the address followed by
// a hash of the (organization, address) pair. Every registration of an
// address therefore sits in one short run of keys, which the login hook
// reads with a single prefix scan and no index; an ID is the key itself,
// base32-encoded; and an import written in key order fills pages front to
// back. The indexes (user, organization and status, expiry, sync state)
// are keys ending in the record's key, updated in the transaction that
// writes the record (regTx).
//
// A record is stored in a small binary form, far cheaper to decode than
// JSON, which matters as the login hook decodes every registration of the
// address and every grant of the user: a version byte, each string as a
// uvarint length and its bytes, the roles as a count and strings, then the
// times. recordV2 writes each time as varint Unix seconds and uvarint
// nanoseconds, an optional one behind a presence byte, so every expiry
// prereg accepts round-trips. recordV1, which schema 4 stores hold, has
// varint Unix nanoseconds with 0 for none, which wraps outside the years
// 1678 to 2262 (migrate4 repairs what it can); it is still read, and grant
// entries of the user index keep its tag, as they hold no time. Optional
// sections follow the fixed fields, each a tag byte and its content; a
// record written before a section existed ends earlier.
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
// # The login sets
//
// With Options.LoginSets the store keeps two sets in memory (keySet):
// pendingAddrs, the address prefix (prereg.EmailPrefix) of every pending
// record, and grantedUsers, a hash of every user_id ever granted a
// registration. Most logins are of people with nothing pending; with the
// sets, such a login reads nothing of the file, and one of a granted user
// reads only the small user index.
//
// The rule that keeps them correct: a key missing from a set means there
// is no such record. A write therefore adds the key of every pending or
// granted record it stores before it commits (a login that sees the key
// but not yet the record just reads and finds nothing). A user never
// leaves grantedUsers (a stale user costs a read of the user index); an
// address prefix leaves pendingAddrs only after a commit that left no
// pending record under it, and only if nothing was added to its shard
// meanwhile (keySet.removeIf). A removal refused that way, or asked for
// while the fill may still add the key back from an older snapshot, is
// kept and tried again in a write transaction of its own (recheckPending),
// since a stale address costs a read on every login of it. Until a set is
// filled from the file (fillSets, in the background after Open), its has
// method answers true for every key: logins read the file as without it.
//
// # Group commit
//
// Concurrent claims share commits (groupCommit, through Store.batch), as
// bbolt's DB.Batch does but without its timer: when no commit runs, a
// caller commits at once, and the callers that arrive meanwhile all go
// into the next, which starts the moment the running one ends. Grants are
// bound by the disk's commit time, so a timer would only leave the disk
// idle. A function may run more than once (another in its transaction
// failed, and each failing one is then run alone), so it must be
// idempotent and reset what it collects at its start; side effects come
// after the commit. Every transaction, shared or not, goes through
// grantCache.update, which keeps the grant cache's invariant above.
//
// # Page release
//
// bbolt reads the file through a shared memory mapping: every page a read
// touches is mapped into the process, with the neighbours the kernel's
// fault-around maps with it, and counts in its resident set (and in the
// OOM killer's choice of victim) although it is clean page cache.
// Store.ReleaseMapped drops those mappings; the pages stay cached, so the
// next read of one is a minor fault, not I/O. It runs under bbolt's writer
// lock (a rolled-back write transaction), so no commit can remap the file
// and Close cannot unmap it meanwhile; readers go on. The service releases
// every Options.ReleaseEvery after a transaction ran (releaseLoop), after
// grouped commits at most every claimReleaseEvery on the committing
// goroutine, between two commits, where no writer waits for it, and
// imports at most every releaseEvery. Without the login sets, random
// logins would map the whole file back between two releases.
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
//
// # Dump and load
//
// Dump yields the stored things (prereg.DumpItem) from one read
// transaction; Load writes them back through regTx, as the store's own
// writes do, so the indexes, counters, login sets and grant cache come
// out the same, and moves the bucket sequences past the IDs loaded. A
// token revoked here is deleted; one loaded revoked (from a store that
// keeps them) is kept, marked, without its hash index entry, so the
// counts of a copy agree. Clear drops every bucket but meta's schema
// version, and begins a write for every granted user, so that no cached
// grant outlives it.
//
// # Erasure
//
// Store.Erase must leave no byte of an address in the file, and must not
// stall logins while it works. bbolt never writes a page in place: a
// commit writes the pages it changes to free pages and frees the old
// ones, whose bytes stay in the file until bbolt reuses them. Removing
// the records is therefore not enough. An erasure runs in three steps:
//
//  1. Search, in a read transaction: the address's registrations (in
//     scope: all, or the limited token's organization), and the keys of
//     everything else that may hold it (user_ids in the user index and
//     in revoked records' granted_to, audit entries, sync jobs, import
//     reports, verification marks, token names).
//  2. One write transaction revisits only what the search found (and the
//     audit entries written since), removes the registrations with the
//     audit entries and sync jobs that name them, cuts the address out of
//     every other text ("[erased]"; a grant of another address keeps its
//     record under the new user_id), and adds one "erased" audit entry.
//     After its commit, what still holds the address is on free pages.
//  3. wipeFreed zeroes those pages in place. It lists the free pages from
//     the freelist page of the last commit (bbolt's API would read every
//     page of the file to say), searches them with no lock held, and
//     then overwrites the pages found.
//
// Overwriting a free page is safe only when no transaction can read it.
// A page on bbolt's freelist is part of no tree of the latest commit,
// but a read transaction that began before a later commit still reads
// the tree it began with, which may include it (bbolt keeps such pages
// "pending"). So the overwrite runs while wipeFreed holds bbolt's writer
// lock (no commit can happen, so every read transaction that begins reads
// the latest tree) and after every read transaction that began before it
// took the lock has ended: readerEpochs counts read transactions by epoch
// for that, which is why every read transaction of the store must go
// through Store.view. Long reads (an export) are waited for before the
// lock is taken; under it, the wait is bounded (wipeWait) and retried.
// Logins that only read never wait for any of this; a claim waits for
// step 2's commit and for the overwrite of a few pages and one fsync.
//
// A page found in step 3 and reused before the overwrite holds data
// written after step 2's commit: wipeFreed overwrites only pages still
// free. A zeroed page is free, and bbolt writes a page whole before it
// reads it again. Backups copy free pages too, so none runs during the
// overwrite (rawMu). Erasures run one at a time (eraseMu).
//
// Not covered: the address written again while an erasure runs (a new
// registration, a login whose user_id holds it) is new data; bytes past
// the file's high-water mark (left by a commit that failed halfway) are
// not searched; role and connection names are not searched.
package boltstore
