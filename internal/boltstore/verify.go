package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// bbolt's file header: two meta pages, each a 16-byte page header and then
// magic, version, page size, flags, root bucket (root, sequence), freelist,
// page count (pgid), txid and an FNV-64a checksum of the fields before it.
const (
	boltMagic       = 0xED0CDAED
	pageHeaderSize  = 16
	metaChecksumEnd = 56
)

type fileMeta struct {
	pageSize uint32
	pages    uint64
	txid     uint64
}

func parseMeta(b []byte) (fileMeta, bool) {
	if len(b) < pageHeaderSize+metaChecksumEnd+8 {
		return fileMeta{}, false
	}
	m := b[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:4]) != boltMagic {
		return fileMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumEnd])
	if h.Sum64() != le.Uint64(m[metaChecksumEnd:metaChecksumEnd+8]) {
		return fileMeta{}, false
	}
	return fileMeta{pageSize: le.Uint32(m[8:12]), pages: le.Uint64(m[40:48]), txid: le.Uint64(m[48:56])}, true
}

// VerifyFile checks a store file's header before bbolt maps it: bbolt
// trusts the page count written in the header, so a truncated file (a
// backup cut short) would crash the process with a bus error instead of
// failing. It refuses files without a valid header and files shorter than
// the header says.
func VerifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return prereg.Wrap(prereg.NotFound, err, fmt.Sprintf("cannot open %s: %s", path, osCause(err)))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return prereg.Wrap(prereg.Invalid, err, fmt.Sprintf("cannot read %s: %s", path, osCause(err)))
	}
	best, err := readMeta(f, path)
	if err != nil {
		return err
	}
	if best.pageSize < 512 || best.pageSize > 1<<16 {
		return prereg.Errorf(prereg.Invalid, "%s has an impossible page size %d", path, best.pageSize)
	}
	need := int64(best.pages) * int64(best.pageSize)
	if fi.Size() < need {
		return prereg.Errorf(prereg.Invalid, "%s is truncated: %d bytes, the store needs %d", path, fi.Size(), need)
	}
	return nil
}

// readMeta returns the newer valid one of the file's two meta pages.
func readMeta(f *os.File, path string) (fileMeta, error) {
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err == io.EOF {
		return fileMeta{}, prereg.Errorf(prereg.Invalid, "%s is empty, not a prereg store", path)
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return fileMeta{}, prereg.Wrap(prereg.Invalid, err, fmt.Sprintf("cannot read %s: %s", path, osCause(err)))
	}
	best, ok := parseMeta(head[:n])
	if !ok {
		// The first meta page may be the damaged one: try the usual page size.
		if best, ok = metaAt(f, 4096); !ok {
			return fileMeta{}, prereg.Errorf(prereg.Invalid, "%s is not a prereg store (no valid bbolt header)", path)
		}
		return best, nil
	}
	if best.pageSize >= 512 && best.pageSize <= 1<<16 {
		// The second meta page sits one page further.
		if m2, ok2 := metaAt(f, int64(best.pageSize)); ok2 && m2.txid > best.txid {
			best = m2
		}
	}
	return best, nil
}

// metaAt parses the meta page at offset off of f.
func metaAt(f *os.File, off int64) (fileMeta, bool) {
	b := make([]byte, pageHeaderSize+metaChecksumEnd+8)
	if _, err := f.ReadAt(b, off); err != nil {
		return fileMeta{}, false
	}
	return parseMeta(b)
}

// CheckFile verifies a store file offline (prereg check, backup, restore):
// header and size first, then bbolt's consistency check, with any panic
// or memory fault from a damaged file turned into an Invalid error.
func CheckFile(path string) (problems []error, err error) {
	if err := VerifyFile(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			problems, err = nil, prereg.Errorf(prereg.Invalid, "%s is damaged: %v", path, v)
		}
	}()
	s, err := Open(path, Options{ReadOnly: true, LockTimeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Check(), nil
}
