// Package importer runs a CSV import (CONTRACT §4): it validates the whole
// file first, then writes the rows that won in batches, one store
// transaction per batch, and reports every row it did not take.
//
// "The last row wins" and "a strict import writes nothing if any row is
// bad" both need knowledge of the whole file before the first write, and a
// million-row file must not be held in memory. So pass 1 reads the input
// once, validates it, and appends every good row, in a compact binary form
// (record.go), to a temporary file; in memory it keeps only a 32-byte entry
// per good row: the row's registration key (prereg.RegistrationKey), its
// line, whether its status is granted (such a row is only checked against
// the store, never written), and where its record lies in the temporary
// file. Sorting the entries by (key, line) puts the rows of one key side
// by side, the last one winning, which gives the duplicate warnings. The
// entries, and the records in the temporary file, are grouped by the key's
// first byte, so pass 2 reads each group back with a few large reads and
// writes the winners in key order, in batches: while the store commits one
// batch, a goroutine reads the next and has the store prepare it.
//
// Writing in key order is what makes a big import fast: the store keeps
// registrations in a B+tree under the same key, so when every batch holds
// ascending keys, all above those of the batch before, each transaction
// touches a contiguous run of pages and fills them front to back, instead
// of dirtying pages all over the tree; for a million rows that is several
// times faster.
package importer
