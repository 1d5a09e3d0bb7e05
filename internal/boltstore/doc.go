// Package boltstore keeps prereg's registrations, grants, tokens, sync
// queue, import reports and audit trail in one bbolt file. It translates
// bbolt's errors into *prereg.Error and owns every key layout.
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
