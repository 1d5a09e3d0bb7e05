package importer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// Store is what an import needs from the store. A batch is written in two
// steps so that the import can prepare the next batch while the store
// commits the current one: PrepareBatch does the work that needs no
// transaction and touches no state (it may run on another goroutine than
// the batch's Apply), and the prepared batch applies itself (see
// prereg.PreparedBatch). keys[i] is items[i]'s prereg.RegistrationKey,
// which the import has derived already.
type Store interface {
	PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) prereg.PreparedBatch
	SaveImport(ctx context.Context, r prereg.ImportReport) error
}

// DefaultBatchSize is the number of rows written per store transaction: big
// enough that the fsync per commit does not dominate, small enough that one
// transaction's dirty pages stay a few megabytes.
const DefaultBatchSize = 5000

// Options control one import.
type Options struct {
	// DryRun computes the full report and writes nothing but the report.
	DryRun bool
	// Strict writes nothing at all when any row is rejected.
	Strict bool
	// Principal is who imports: a limited principal may only import rows
	// of its organization; a read-only one may not import.
	Principal prereg.Principal
	// BatchSize is the number of rows per transaction (DefaultBatchSize
	// when 0).
	BatchSize int
	// Progress, when set, is called now and then with a count of data rows
	// and of input bytes. Pass 1 reports the rows and bytes read so far;
	// pass 2, which writes only the winning rows and in key order, reports
	// pass 1's totals plus the share of the winners written so far, scaled
	// to the file's rows and size. So the numbers go up to twice the rows
	// and twice the input size, and a progress bar's total is 2 × file
	// size. Calls come one at a time, but not always from the goroutine
	// that called Run.
	Progress func(rows int, bytes int64)
	// TempDir holds the temporary file of the good rows (os.TempDir() when
	// empty). It holds the file's email addresses: it is created readable
	// by the owner only and removed before Run returns.
	TempDir string
	// Now is the clock for the report's timestamps (time.Now when nil).
	Now func() time.Time
	// ImportID names the import; "imp_" + random when empty.
	ImportID string
}

// progressEvery is how many rows pass between Progress calls in pass 1.
const progressEvery = 4096

// NewImportID returns a fresh import ID.
func NewImportID() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "imp_" + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// Run imports the CSV read from r into store and returns the report, which
// it has also saved with store.SaveImport (for dry runs too). Rows that are
// rejected are in the report, not an error. The error is a *prereg.Error
// (Invalid, with Details) for a header or encoding problem, Forbidden for a
// read-only principal, and otherwise a read or store failure; the report is
// then empty. A store failure part-way leaves the batches written so far in
// place: running the same import again completes it.
func Run(ctx context.Context, store Store, r io.Reader, opts Options) (prereg.ImportReport, error) {
	if opts.Principal.ReadOnly {
		return prereg.ImportReport{}, prereg.Errorf(prereg.Forbidden, "this token is read-only and cannot import")
	}
	opts = opts.withDefaults()
	tmp, err := os.CreateTemp(opts.TempDir, "prereg-import-*.tmp")
	if err != nil {
		return prereg.ImportReport{}, fmt.Errorf("create temporary file of the import: %w", err)
	}
	// The file holds the rows' addresses: unlink it at once, so that even
	// a killed import leaves nothing behind (the open descriptor keeps it
	// readable). Where an open file cannot be removed, it goes at the end.
	unlinked := os.Remove(tmp.Name()) == nil
	defer func() {
		tmp.Close()
		if !unlinked {
			os.Remove(tmp.Name())
		}
	}()

	im := &run{ctx: ctx, store: store, opts: opts, spool: spool{tmp: tmp}, report: newReport(opts)}
	// The report names the file by its SHA-256, of every byte read: the
	// decoder reads to the end, and whatever it left is read here.
	sum := sha256.New()
	in := io.TeeReader(r, sum)
	if err := im.validate(in); err != nil {
		return prereg.ImportReport{}, err
	}
	if _, err := io.Copy(io.Discard, in); err != nil {
		return prereg.ImportReport{}, fmt.Errorf("read the import: %w", err)
	}
	im.report.SHA256 = hex.EncodeToString(sum.Sum(nil))
	err = im.write()
	im.spool.buckets = [keyBuckets][]entry{}
	if err != nil {
		return prereg.ImportReport{}, err
	}
	rep := im.finishReport()
	if err := store.SaveImport(ctx, rep); err != nil {
		return prereg.ImportReport{}, fmt.Errorf("save import report %s: %w", rep.ImportID, err)
	}
	return rep, nil
}

// withDefaults fills in the options left empty.
func (o Options) withDefaults() Options {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ImportID == "" {
		o.ImportID = NewImportID()
	}
	return o
}

// run is the state of one import: pass 1 fills the spool and the report's
// rows, errors and warnings; pass 2 reads the spool back and counts what
// the store did. A strict import's probe is a mode of pass 2 on the same
// run (see write), not a copy of it.
type run struct {
	ctx    context.Context
	store  Store
	opts   Options
	spool  spool
	report prereg.ImportReport
	// orgs are the organizations the rows named, for who may read the
	// report (prereg.ImportReport.VisibleTo).
	orgs prereg.ImportOrganizations
	bad  int
	// inputBytes is the size of the input, for progress in pass 2.
	inputBytes int64
	// failed tells pass 1's reader that the collector gave up.
	failed atomic.Bool
}
