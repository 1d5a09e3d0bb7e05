package importer

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/prereg/prereg/internal/prereg"
)

// spool is what pass 1 leaves for pass 2: the temporary file of the good
// rows' records and the entries that index it.
type spool struct {
	tmp *os.File
	// buckets hold the entries of the good rows, by the first byte of the
	// key: pass 1 appends in file order; pickWinners sorts each bucket and
	// drops the rows a later one overrides, which leaves the rows to write,
	// one per key, in ascending key order bucket after bucket. Spreading
	// them over buckets rather than one slice keeps the garbage of growing
	// them small (a few megabytes instead of a copy of the whole) and lets
	// pass 2 free them as it goes.
	buckets [keyBuckets][]entry
	// segs are where each bucket's records lie in the temporary file:
	// pass 1 gathers a bucket's records in memory and writes them out a
	// segment at a time, so pass 2 reads a bucket back with a few large
	// reads instead of one system call per row.
	segs    [keyBuckets][]segment
	winners int
}

// keyBuckets is the number of buckets entries are spread over.
const keyBuckets = 256

// entry is what pass 1 keeps of a good row: 32 bytes, no pointers (the
// garbage collector does not scan a slice of them). The line stands in for
// the row's index: it grows strictly down the file.
type entry struct {
	key prereg.Key
	// granted marks a row whose status is granted: pass 2 checks it
	// against the store and never writes it (checkGranted).
	granted bool
	line    uint32
	size    uint32 // of the row's record in the temporary file
	off     int64  // of the record in its bucket's records, end to end
}

// segment is a run of one bucket's records in the temporary file.
type segment struct {
	off  int64 // in the file
	size int
}

// segmentSize is how many bytes of records a bucket gathers before they
// are written out: 256 buckets of it is the most pass 1 holds.
const segmentSize = 32 << 10

// compareEntries orders entries by key, then line. It compares the key as
// two big-endian words, bytes 0-7 and 7-14: when the first words are equal
// byte 7 is too, so the second decides exactly as bytes.Compare would.
func compareEntries(a, b entry) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(a.key[:8]), binary.BigEndian.Uint64(b.key[:8])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(a.key[prereg.KeySize-8:]), binary.BigEndian.Uint64(b.key[prereg.KeySize-8:])); c != 0 {
		return c
	}
	return cmp.Compare(a.line, b.line)
}

// spoolWriter appends records to a spool in pass 1. Its buffers live only
// as long as pass 1, not with the spool.
type spoolWriter struct {
	sp      *spool
	pend    [keyBuckets][]byte // records not yet written, by bucket
	written [keyBuckets]int64  // bytes of each bucket already written
	fileOff int64
	err     error
	// failed is set with err, for a goroutine that cannot wait for it.
	failed *atomic.Bool
}

// add appends the record of a good row and its entry to the key's bucket.
func (w *spoolWriter) add(k prereg.Key, line int, granted bool, in *prereg.Input) {
	bi := int(k[0])
	if w.pend[bi] == nil {
		w.pend[bi] = make([]byte, 0, segmentSize+512)
	}
	at := w.written[bi] + int64(len(w.pend[bi]))
	before := len(w.pend[bi])
	w.pend[bi] = appendRecord(w.pend[bi], in)
	w.sp.buckets[bi] = append(w.sp.buckets[bi], entry{key: k, granted: granted, line: uint32(line), size: uint32(len(w.pend[bi]) - before), off: at})
	if len(w.pend[bi]) >= segmentSize {
		w.flush(bi)
	}
}

// flush writes bucket bi's pending records out as one segment.
func (w *spoolWriter) flush(bi int) {
	if len(w.pend[bi]) == 0 || w.err != nil {
		return
	}
	if _, err := w.sp.tmp.Write(w.pend[bi]); err != nil {
		w.err = err
		w.failed.Store(true)
		return
	}
	w.sp.segs[bi] = append(w.sp.segs[bi], segment{off: w.fileOff, size: len(w.pend[bi])})
	w.fileOff += int64(len(w.pend[bi]))
	w.written[bi] += int64(len(w.pend[bi]))
	w.pend[bi] = w.pend[bi][:0]
}

// close writes out what is pending and says whether every write went well.
func (w *spoolWriter) close() error {
	for bi := range w.pend {
		w.flush(bi)
	}
	if w.err != nil {
		return fmt.Errorf("write temporary file of the import: %w", w.err)
	}
	return nil
}

// readBucket reads bucket bi's records back from the temporary file, end
// to end, into buf.
func (sp *spool) readBucket(bi int, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for _, sg := range sp.segs[bi] {
		at := len(buf)
		buf = slices.Grow(buf, sg.size)[:at+sg.size]
		if n, err := sp.tmp.ReadAt(buf[at:], sg.off); n < sg.size {
			return nil, fmt.Errorf("read temporary file of the import: %w", cmp.Or(err, io.ErrUnexpectedEOF))
		}
	}
	return buf, nil
}

// decodeEntry decodes e's record from its bucket's records, buf.
func decodeEntry(buf []byte, e entry) (prereg.Input, error) {
	if e.off+int64(e.size) > int64(len(buf)) {
		return prereg.Input{}, fmt.Errorf("read temporary file of the import: line %d: record beyond its bucket", e.line)
	}
	in, err := decodeRecord(buf[e.off : e.off+int64(e.size)])
	if err != nil {
		return prereg.Input{}, fmt.Errorf("read temporary file of the import: line %d: %w", e.line, err)
	}
	return in, nil
}
