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
// line, and where its record lies in the temporary file. Sorting the
// entries by (key, line) puts the rows of one key side by side, the last
// one winning, which gives the duplicate warnings. The entries, and the
// records in the temporary file, are grouped by the key's first byte, so
// pass 2 reads each group back with a few large reads and writes the
// winners in key order, in batches: while the store commits one batch, a
// goroutine reads the next and has the store prepare it.
//
// Writing in key order is what makes a big import fast: the store keeps
// registrations in a B+tree under the same key, so when every batch holds
// ascending keys, all above those of the batch before, each transaction
// touches a contiguous run of pages and fills them front to back, instead
// of dirtying pages all over the tree; for a million rows that is several
// times faster.
package importer

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

// Store is what an import needs from the store. A batch is written in two
// steps so that the import can prepare the next batch while the store
// commits the current one: PrepareBatch does the work that needs no
// transaction and touches no state (it may run on another goroutine than
// ApplyPrepared); ApplyPrepared writes (or, with dryRun, only evaluates)
// the batch in ONE transaction and reports each item's change; an item
// refused (e.g. conflict with a granted registration) has Change
// prereg.Rejected and Err set; the batch as a whole fails only on a store
// error. keys[i] is items[i]'s prereg.RegistrationKey, which the import has
// derived already.
type Store[P any] interface {
	PrepareBatch(items []prereg.Input, keys []prereg.Key, source string) P
	ApplyPrepared(ctx context.Context, p P, actor string, dryRun bool) ([]prereg.WriteResult, error)
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
func Run[P any](ctx context.Context, store Store[P], r io.Reader, opts Options) (prereg.ImportReport, error) {
	if opts.Principal.ReadOnly {
		return prereg.ImportReport{}, prereg.Errorf(prereg.Forbidden, "this token is read-only and cannot import")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ImportID == "" {
		opts.ImportID = NewImportID()
	}
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

	im := &run[P]{ctx: ctx, store: store, opts: opts, tmp: tmp}
	im.report = prereg.ImportReport{
		ImportID:       opts.ImportID,
		DryRun:         opts.DryRun,
		Strict:         opts.Strict,
		Errors:         []prereg.RowError{},
		Warnings:       []prereg.RowWarning{},
		OrganizationID: opts.Principal.OrganizationID,
		Actor:          opts.Principal.TokenID,
		StartedAt:      opts.Now().UTC(),
	}
	if err := im.validate(r); err != nil {
		return prereg.ImportReport{}, err
	}
	err = im.write()
	im.buckets = [keyBuckets][]entry{}
	if err != nil {
		return prereg.ImportReport{}, err
	}
	rep := im.report
	rep.Organizations = im.orgs.List()
	slices.SortStableFunc(rep.Errors, func(a, b prereg.RowError) int { return a.Line - b.Line })
	slices.SortStableFunc(rep.Warnings, func(a, b prereg.RowWarning) int { return a.Line - b.Line })
	rep.FinishedAt = opts.Now().UTC()
	if err := store.SaveImport(ctx, rep); err != nil {
		return prereg.ImportReport{}, fmt.Errorf("save import report %s: %w", rep.ImportID, err)
	}
	return rep, nil
}

// run is the state of one import between its two passes.
type run[P any] struct {
	ctx    context.Context
	store  Store[P]
	opts   Options
	tmp    *os.File
	report prereg.ImportReport
	// orgs are the organizations the rows named, for who may read the
	// report (prereg.ImportReport.VisibleTo).
	orgs prereg.ImportOrganizations

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
	bad     int
	// inputBytes is the size of the input, for progress in pass 2.
	inputBytes int64
	// failed tells pass 1's reader that the collector gave up.
	failed atomic.Bool
}

// keyBuckets is the number of buckets entries are spread over.
const keyBuckets = 256

// entry is what pass 1 keeps of a good row: 32 bytes, no pointers (the
// garbage collector does not scan a slice of them). The line stands in for
// the row's index: it grows strictly down the file.
type entry struct {
	key  prereg.Key
	line uint32
	size uint32 // of the row's record in the temporary file
	off  int64  // of the record in its bucket's records, end to end
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

// chunkRows is how many rows travel together through pass 1's pipeline:
// enough to make the hand-offs cheap, few enough to keep memory small.
const chunkRows = 256

// chunk is a slice of consecutive rows and, for the good ones, their
// registration keys; done is closed once every row of it is validated.
type chunk struct {
	rows []csvio.Row
	keys []prereg.Key
	done chan struct{}
}

// validate is pass 1: check every row, store the good ones in the
// temporary file, and decide which rows win. Validation (and hashing the
// key) costs several times what reading does, so this goroutine reads and
// hands chunks of rows to one validating worker per core, and a collector
// takes the validated chunks in file order (the order matters: the last
// row of a key wins, and the report's row count and errors follow the
// file).
func (im *run[P]) validate(r io.Reader) error {
	dec, err := csvio.NewDecoder(r)
	if err != nil {
		return err
	}
	dec.SetValidation(false)

	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, workers)
	ordered := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.keys = make([]prereg.Key, len(c.rows))
				for i := range c.rows {
					row := &c.rows[i]
					row.Validate()
					if len(row.Errors) == 0 && !row.Skipped() {
						c.keys[i] = prereg.RegistrationKey(row.Input.OrganizationID, row.Input.Email)
					}
				}
				close(c.done)
			}
		}()
	}
	collected := make(chan error, 1)
	go func() { collected <- im.collect(ordered) }()

	readErr := func() error {
		defer func() {
			close(work)
			close(ordered)
		}()
		c := &chunk{rows: make([]csvio.Row, 0, chunkRows), done: make(chan struct{})}
		send := func() {
			work <- c
			ordered <- c
			c = &chunk{rows: make([]csvio.Row, 0, chunkRows), done: make(chan struct{})}
		}
		for n := 0; ; n++ {
			row, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			c.rows = append(c.rows, row)
			if len(c.rows) == chunkRows {
				send()
			}
			if n%progressEvery == 0 {
				if err := im.ctx.Err(); err != nil {
					return err
				}
				if im.failed.Load() {
					return nil // collect says why
				}
				if im.opts.Progress != nil && n > 0 {
					im.opts.Progress(n, dec.BytesRead())
				}
			}
		}
		if len(c.rows) > 0 {
			send()
		}
		return nil
	}()
	wg.Wait()
	if err := <-collected; err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	im.inputBytes = dec.BytesRead()
	if im.opts.Progress != nil {
		im.opts.Progress(im.report.Rows, im.inputBytes)
	}
	im.pickWinners()
	return nil
}

// collect takes validated chunks in file order: it checks the principal's
// scope, reports bad rows, and appends each good row to the temporary file
// and its entry to its bucket.
func (im *run[P]) collect(ordered <-chan *chunk) error {
	var (
		pend    [keyBuckets][]byte // records not yet written, by bucket
		written [keyBuckets]int64  // bytes of each bucket already written
		fileOff int64
		werr    error
	)
	flush := func(bi int) {
		if len(pend[bi]) == 0 || werr != nil {
			return
		}
		if _, err := im.tmp.Write(pend[bi]); err != nil {
			werr = err
			im.failed.Store(true)
			return
		}
		im.segs[bi] = append(im.segs[bi], segment{off: fileOff, size: len(pend[bi])})
		fileOff += int64(len(pend[bi]))
		written[bi] += int64(len(pend[bi]))
		pend[bi] = pend[bi][:0]
	}
	p := im.opts.Principal
	n := 0
	for c := range ordered {
		<-c.done
		if werr != nil {
			continue // drain, so that the reader is never stuck
		}
		for i := range c.rows {
			row := &c.rows[i]
			n++
			im.orgs.Add(row.Input.OrganizationID)
			if row.Skipped() {
				im.skip(row)
				continue
			}
			if len(row.Errors) == 0 && !p.CanSee(row.Input.OrganizationID) {
				row.Errors = []prereg.RowError{{Line: row.Line, Column: csvio.ColOrganizationID, Value: row.Input.OrganizationID, Message: prereg.ErrorMessage(p.CheckWrite(row.Input.OrganizationID))}}
			}
			if len(row.Errors) > 0 {
				im.reject(row.Errors)
				continue
			}
			k := c.keys[i]
			bi := int(k[0])
			if pend[bi] == nil {
				pend[bi] = make([]byte, 0, segmentSize+512)
			}
			at := written[bi] + int64(len(pend[bi]))
			before := len(pend[bi])
			pend[bi] = appendRecord(pend[bi], &row.Input)
			im.buckets[bi] = append(im.buckets[bi], entry{key: k, line: uint32(row.Line), size: uint32(len(pend[bi]) - before), off: at})
			if len(pend[bi]) >= segmentSize {
				flush(bi)
			}
		}
	}
	for bi := range pend {
		flush(bi)
	}
	if werr != nil {
		return fmt.Errorf("write temporary file of the import: %w", werr)
	}
	im.report.Rows = n
	return nil
}

// readBucket reads bucket bi's records back from the temporary file, end
// to end, into buf.
func (im *run[P]) readBucket(bi int, buf []byte) ([]byte, error) {
	buf = buf[:0]
	for _, sg := range im.segs[bi] {
		at := len(buf)
		buf = slices.Grow(buf, sg.size)[:at+sg.size]
		if n, err := im.tmp.ReadAt(buf[at:], sg.off); n < sg.size {
			return nil, fmt.Errorf("read temporary file of the import: %w", cmp.Or(err, io.ErrUnexpectedEOF))
		}
	}
	return buf, nil
}

// dupWarning is a row overridden by a later row of the same key: next is
// the line of the row that overrode it, win that of the key's last row.
type dupWarning struct {
	prev, next, win uint32
}

// pickWinners sorts the entries by (key, line), keeps the last row of each
// key and warns about the others. The warnings are those a single pass
// down the file would give, which is how the report has always read: one
// per overridden row, given when the next row of its key comes, so when
// there are more than prereg.MaxReportIssues the ones kept are those whose
// overriding row comes first in the file.
func (im *run[P]) pickWinners() {
	var dups []dupWarning
	total := 0
	keepFirst := func(limit int) {
		slices.SortFunc(dups, func(a, b dupWarning) int { return cmp.Compare(a.next, b.next) })
		dups = dups[:min(len(dups), limit)]
	}
	for bi, es := range im.buckets {
		slices.SortFunc(es, compareEntries)
		out := es[:0]
		for i := 0; i < len(es); {
			j := i + 1
			for j < len(es) && es[j].key == es[i].key {
				j++
			}
			win := es[j-1]
			for k := i; k < j-1; k++ {
				total++
				dups = append(dups, dupWarning{prev: es[k].line, next: es[k+1].line, win: win.line})
				if len(dups) == 2*prereg.MaxReportIssues {
					keepFirst(prereg.MaxReportIssues)
				}
			}
			out = append(out, win) // at index <= i: rows not yet read are untouched
			i = j
		}
		im.buckets[bi] = out
		im.winners += len(out)
	}
	keepFirst(prereg.MaxReportIssues)
	// In the order one pass would have given them, once sorted by line.
	slices.SortFunc(dups, func(a, b dupWarning) int {
		return cmp.Or(cmp.Compare(a.win, b.win), cmp.Compare(a.next, b.next))
	})
	for _, d := range dups {
		im.report.AddWarning(prereg.RowWarning{Line: int(d.win), Message: fmt.Sprintf("duplicate of line %d; line %d wins", d.prev, d.win)})
	}
	im.report.WarningsTruncated += total - len(dups)
}

// skip reports a row that is not written: a revoked or expired row of an
// export takes no part in the import, not even as a duplicate of another.
func (im *run[P]) skip(row *csvio.Row) {
	im.report.Skipped++
	im.report.AddWarning(prereg.RowWarning{Line: row.Line, Message: fmt.Sprintf("status %s: skipped, exports never reopen a registration (empty the status cell to reopen it)", row.Status)})
}

func (im *run[P]) reject(errs []prereg.RowError) {
	im.bad++
	im.report.Rejected++
	for _, e := range errs {
		im.report.AddError(e)
	}
}

// write is pass 2: apply the winning rows. A strict import checks
// everything before the first write: bad rows from pass 1, then the
// store's verdict in a dry run.
func (im *run[P]) write() error {
	if im.opts.Strict && im.bad > 0 {
		im.abortStrict()
		return nil
	}
	if im.opts.Strict && !im.opts.DryRun {
		probe := &run[P]{ctx: im.ctx, store: im.store, opts: im.opts, tmp: im.tmp, buckets: im.buckets, segs: im.segs, winners: im.winners, inputBytes: im.inputBytes}
		probe.report.Errors = []prereg.RowError{}
		probe.report.Rows = im.report.Rows
		probe.opts.Progress = nil
		if err := probe.apply(true); err != nil {
			return err
		}
		if probe.report.Rejected > 0 {
			im.report.Rejected = probe.report.Rejected
			for _, e := range probe.report.Errors {
				im.report.AddError(e)
			}
			im.report.ErrorsTruncated += probe.report.ErrorsTruncated
			im.abortStrict()
			return nil
		}
	}
	if err := im.apply(im.opts.DryRun); err != nil {
		return err
	}
	if im.opts.Strict && im.opts.DryRun && im.report.Rejected > 0 {
		im.abortStrict()
	}
	return nil
}

// abortStrict turns the report into that of a strict import that wrote
// nothing.
func (im *run[P]) abortStrict() {
	im.report.Created, im.report.Updated, im.report.Unchanged = 0, 0, 0
	im.report.AddWarning(prereg.RowWarning{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", im.report.Rejected)})
}

// batch is a run of winning rows for one ApplyBatch call, in key order.
type batch[P any] struct {
	items []prereg.Input
	keys  []prereg.Key
	lines []int
	prep  P // the store's preparation of items
	err   error
}

// apply sends the winning rows to the store in batches, in key order. A
// goroutine reads the next batch's records from the temporary file and has
// the store prepare them while the store writes the current one; it drops
// each bucket once read (a
// strict import's probe runs on a copy of the run, whose drops leave the
// buckets in place for the pass that writes).
func (im *run[P]) apply(dryRun bool) error {
	source := "import:" + im.opts.ImportID
	batches := make(chan batch[P], 1)
	quit := make(chan struct{})
	defer close(quit)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after close(quit)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		send := func(b batch[P]) bool {
			if b.err == nil {
				b.prep = im.store.PrepareBatch(b.items, b.keys, source)
			}
			select {
			case batches <- b:
				return true
			case <-quit:
				return false
			}
		}
		var buf []byte
		left := im.winners
		newBatch := func() batch[P] {
			n := min(left, im.opts.BatchSize)
			return batch[P]{items: make([]prereg.Input, 0, n), keys: make([]prereg.Key, 0, n), lines: make([]int, 0, n)}
		}
		b := newBatch()
		for bi := range im.buckets {
			if len(im.buckets[bi]) > 0 {
				var err error
				if buf, err = im.readBucket(bi, buf); err != nil {
					send(batch[P]{err: err})
					return
				}
			}
			for _, e := range im.buckets[bi] {
				if e.off+int64(e.size) > int64(len(buf)) {
					send(batch[P]{err: fmt.Errorf("read temporary file of the import: line %d: record beyond its bucket", e.line)})
					return
				}
				in, err := decodeRecord(buf[e.off : e.off+int64(e.size)])
				if err != nil {
					send(batch[P]{err: fmt.Errorf("read temporary file of the import: line %d: %w", e.line, err)})
					return
				}
				b.items = append(b.items, in)
				b.keys = append(b.keys, e.key)
				b.lines = append(b.lines, int(e.line))
				left--
				if len(b.items) == im.opts.BatchSize {
					if !send(b) {
						return
					}
					b = newBatch()
				}
			}
			im.buckets[bi] = nil
		}
		if len(b.items) > 0 {
			send(b)
		}
	}()

	done := 0
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := im.ctx.Err(); err != nil {
			return err
		}
		res, err := im.store.ApplyPrepared(im.ctx, b.prep, im.opts.Principal.TokenID, dryRun)
		if err != nil {
			return fmt.Errorf("import %s: write a batch of %d rows taken from lines %d to %d: %w", im.opts.ImportID, len(b.items), slices.Min(b.lines), slices.Max(b.lines), err)
		}
		if len(res) != len(b.items) {
			return fmt.Errorf("import %s: the store answered %d results for %d rows", im.opts.ImportID, len(res), len(b.items))
		}
		for i, wr := range res {
			switch wr.Change {
			case prereg.Created:
				im.report.Created++
			case prereg.Updated:
				im.report.Updated++
			case prereg.Unchanged:
				im.report.Unchanged++
			default:
				im.report.Rejected++
				msg := "rejected by the store"
				if wr.Err != nil {
					msg = prereg.ErrorMessage(wr.Err)
				}
				im.report.AddError(prereg.RowError{Line: b.lines[i], Message: msg})
			}
		}
		done += len(b.items)
		if im.opts.Progress != nil {
			rows := int64(im.report.Rows)
			im.opts.Progress(int(rows+rows*int64(done)/int64(im.winners)), im.inputBytes+im.inputBytes*int64(done)/int64(im.winners))
		}
	}
	if im.opts.Progress != nil {
		im.opts.Progress(2*im.report.Rows, 2*im.inputBytes)
	}
	return nil
}
