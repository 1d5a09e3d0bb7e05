// Package etcdstore keeps prereg's registrations, grants, tokens, sync
// queue, import reports and audit trail in an etcd cluster, so that any
// number of prereg replicas serve from one store. It has the method set
// of boltstore.Store, passes the same conformance suite (storetest), and
// translates etcd's and gRPC's errors into *prereg.Error.
//
// # Keys
//
// Everything lives under Config.Prefix (default "/prereg/"); keys.go
// lists the key spaces. A registration is one key, rec/ followed by its
// prereg.Key, so every registration of an address shares the key prefix
// rec/ + prereg.EmailPrefix and the login hook reads them with one range
// read. Indexes are keys of their own, ending in the record's key, and
// are written in the same transaction as the record (putOps computes
// which of them change): org/ (organization, stored status), user/ (a
// user's grants, each carrying what the hook answers with), exp/
// (organization, expiry of a pending record), sync/ (Auth0 sync state of
// a grant) and orgs/ (every organization ever written). Audit entries and
// jobs are keyed by orderedID (wall clock nanoseconds, never going back on
// one replica, and the replica's ID), so they list in the order written
// without a shared counter key.
//
// There are no counter keys: every claim would write the same few, and
// concurrent claims of different users would conflict on them. Stats
// counts each organization's statuses with count-only range reads over
// its part of org/ and its expired registrations over exp/ up to now, all
// at one revision.
//
// # Writes: optimistic concurrency on ModRevision
//
// As Kubernetes' storage (k8s.io/apiserver/pkg/storage/etcd3) does, a
// write reads what it changes, computes the new state with the domain
// rules of package prereg (ApplyKey, Claim, LoginFacts), and commits one
// transaction that holds only if every record it read still has the
// ModRevision it was read at (a record read as absent compares 0, which
// a record created meanwhile no longer has). When a compare fails,
// another writer got there first: the write reads again and retries
// (retry, bounded; lasting contention answers Unavailable). A committed
// transaction therefore acts on the state at its own revision, which is
// what makes each write atomic and linearizable: the record, its index
// entries, its audit entry and its sync job commit together or not at
// all. Writes of different records compare different keys and never
// conflict.
//
// # The login path
//
// Login reads the address's registrations (a prefix range) and the
// user's grants (a prefix range of user/) in one read-only transaction:
// both at one revision, and linearizable (etcd confirms with the leader
// that the revision is current), so the answer is the one the login would
// get alone at that instant. When the login claims, its transaction
// compares every claimed record's ModRevision and, with a prefix compare,
// that no key under the address's prefix was modified after the revision
// read: nothing became claimable (or stopped being) in between. The same
// transaction reads the user's grants as it leaves them, and the answer
// is built from that. Of logins racing for one registration through any
// replicas, exactly one transaction commits the claim; the others' fail
// their compares, read again, find it granted and answer accordingly. An
// address registered by more organizations than one transaction holds
// is claimed (or erased) in several, each comparing that nothing under
// the address changed since the previous one committed.
//
// Logins arriving together share that read transaction (readGroup, as
// the bolt store's group commit shares a commit): a login's ranges are
// read by a transaction sent after the login queued and answered before
// it returns, so the instant the transaction takes effect lies within the
// login's call, and each login still reads its ranges at one revision.
// etcd then pays one ReadIndex round and one request per group. Their
// claims are sent together too (claimGroup): each claim is a transaction
// of its own, with its own compares, nested in one request, so each
// commits or fails as it would alone; a group holds at most one claim per
// address and per user, so no claim's writes touch what another's
// compares or reads look at.
//
// A member being defragmented (by an erasure, or an administrator)
// answers nothing until its file is rewritten, seconds per 100 MB. So
// the store keeps a client of each member alone and sends logins' group
// reads and single writes (claims) to the members in turn itself; a read
// that has not answered within hedgeDelay is sent to every other member
// too, and the first answer wins (hedge.go). Either answer is correct: a
// linearizable read on any member confirms with the leader that it has
// applied every write committed before the read began, so each answer is
// the state at some instant after the logins queued and before they
// return, which is all the group needs. The member that left the read
// waiting gets nothing more until a probe of it answers, so claims, which
// are not hedged (a second copy would fail its compares, and the login
// would take its own claim for another's), stop going there too. A
// claim already sent there would wait, up to the call timeout: so a
// replica that defragments a member announces it to every replica (a key
// on its lease they watch) a moment before it begins, and they send that
// member nothing until the announcement ends (defrag.go). A store made by New
// on a client whose endpoints are not all plain http:// (its TLS settings
// are not visible) uses that client alone and does not hedge.
//
// Monotonic reads and read-your-writes across replicas follow from the
// reads being linearizable: a read through any member returns a revision
// at least that of every write acknowledged before it began. The store
// keeps no cache of records, grants or tokens, so a revoked token is
// refused by every replica at once, and a replica's memory does not grow
// with the store (reads are paged, pageSize keys at a time).
//
// # Imports
//
// etcd refuses a transaction of more than --max-txn-ops (128) operations
// or compares, or a request over --max-request-bytes (1.5 MiB). A batch
// (Prepared.Apply) is therefore cut into chunks whose records, if new,
// fit one transaction (chunkOps). A chunk is first written as new records
// in a transaction that holds only if none of its keys exists, and reads
// them otherwise (its Else branch): an import into an empty store costs
// one round trip a chunk. Else the chunk's items are applied over what was
// read and written in transactions packed up to 128 operations and
// maxTxnBytes, each holding only if its records are still as read (a
// failed one's records are read and applied again). Items of one key
// stay in one transaction, applied in input order. batchWorkers chunks
// are written at once: etcd batches concurrent proposals into one raft
// round and one backend commit. A batch is not one transaction: each
// registration with its indexes is atomic, and a batch interrupted
// halfway leaves the rows before written. An organization's orgs/ entry,
// once a committed batch wrote it, is compared to exist rather than
// written again (Store.orgsKnown): the compare fails if it was deleted
// since, and the retry writes it.
//
// # Sync jobs
//
// A job runs once across replicas: DueJobs takes each due job by writing
// own/<job> with a create-if-absent transaction (CreateRevision == 0)
// attached to the replica's lease (a concurrency.Session, sessionTTL
// seconds, kept alive while the replica lives). A job whose claim exists
// belongs to that replica; FinishJob deletes the job with its claim, and
// RetryJob deletes the claim so that any replica takes the job when it is
// due again. When a replica dies its lease expires and etcd deletes its
// claims, so another replica's DueJobs takes the jobs over within the
// TTL plus its polling interval.
//
// # Secrets
//
// Bootstrap generates the hook secret and the admin token in
// create-if-absent transactions (on secret/ and meta/tokens_ever): of
// replicas starting together one generates each, the others see
// CreateRevision != 0 and generate nothing.
//
// # Errors and timeouts
//
// Open's first call is bounded by the dial timeout. etcd's client dials
// lazily and retries a refused TLS handshake until the deadline, so when
// that call times out Open connects to the endpoints itself to say why
// (an unknown CA, a client certificate required, TLS spoken to an http://
// endpoint); a refused login or a role without the prefix is named too.
//
// Every etcd call has a bounded context (callTimeout on the hook path and
// single writes, scanTimeout per page of a long read), so a cluster
// without quorum answers Unavailable (503 with Retry-After) within
// seconds instead of hanging. Ping commits a small write of its own
// (ping/<replica>), so /readyz fails without quorum.
//
// # Erasure
//
// Erase removes the address's registrations in one transaction with the
// login path's compares, then every other trace (user_ids in grants and
// revoked records, audit entries, jobs, import reports, verification
// marks, token names), each change compared on ModRevision. etcd keeps
// old versions of keys until compaction, and freed pages in its files
// until defragmentation: so Erase then, member by member, compacts the
// history at the current revision (WithCompactPhysical through a client
// of that member alone: its own compaction is done when it answers) and
// defragments it. etcd's write-ahead log and snapshots may hold the
// address until etcd takes its next snapshot. etcd lets only root compact
// and defragment; under a user limited to the prefix, Erase removes the
// keys and logs the etcdctl commands an administrator must run. Members
// are defragmented one at a time, the leader last, as each answers
// nothing until its file is rewritten: logins' reads routed to it are
// answered by another member (hedged, above). A long read (Each, Dump)
// running during the compaction fails as Unavailable and is retried by
// its caller.
package etcdstore
