// Package importer runs a CSV import (CONTRACT §4): it validates the whole
// file first, then writes the rows that won in batches, one store
// transaction per batch, and reports every row it did not take.
//
// It reads the input twice. "The last row wins" and "a strict import writes
// nothing if any row is bad" both need knowledge of the whole file before
// the first write, and a million-row file must not be held in memory, so
// pass 1 streams the input into a temporary file while validating it and
// remembering, per (organization, email) key, only a 64-bit hash and the
// row that holds it last; pass 2 re-reads the temporary file and writes.
package importer

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

// Store is what an import needs from the store.
type Store interface {
	// ApplyBatch writes (or, with dryRun, only evaluates) the inputs in ONE transaction and reports each
	// item's change; an item refused (e.g. conflict with a granted registration) has Change prereg.Rejected
	// and Err set; the batch as a whole fails only on a store error.
	ApplyBatch(ctx context.Context, items []prereg.Input, source string, actor string, dryRun bool) ([]prereg.WriteResult, error)
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
	// Progress, when set, is called now and then with the data rows and
	// the input bytes processed so far. Both passes count: the numbers go
	// up to twice the rows and twice the input size, so a progress bar's
	// total is 2 × file size. Calls come one at a time, but not always
	// from the goroutine that called Run.
	Progress func(rows int, bytes int64)
	// TempDir holds the temporary copy of the input (os.TempDir() when
	// empty). The copy holds the file's email addresses: it is created
	// readable by the owner only and removed before Run returns.
	TempDir string
	// Now is the clock for the report's timestamps (time.Now when nil).
	Now func() time.Time
	// ImportID names the import; "imp_" + random when empty.
	ImportID string
}

// progressEvery is how many rows pass between Progress calls.
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
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ImportID == "" {
		opts.ImportID = NewImportID()
	}
	tmp, err := os.CreateTemp(opts.TempDir, "prereg-import-*.csv")
	if err != nil {
		return prereg.ImportReport{}, fmt.Errorf("create temporary copy of the import: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()

	im := &run{ctx: ctx, store: store, opts: opts, tmp: tmp}
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
	if err := im.write(); err != nil {
		return prereg.ImportReport{}, err
	}
	rep := im.report
	slices.SortStableFunc(rep.Errors, func(a, b prereg.RowError) int { return a.Line - b.Line })
	slices.SortStableFunc(rep.Warnings, func(a, b prereg.RowWarning) int { return a.Line - b.Line })
	rep.FinishedAt = opts.Now().UTC()
	if err := store.SaveImport(ctx, rep); err != nil {
		return prereg.ImportReport{}, fmt.Errorf("save import report %s: %w", rep.ImportID, err)
	}
	return rep, nil
}

// run is the state of one import between its two passes.
type run struct {
	ctx    context.Context
	store  Store
	opts   Options
	tmp    *os.File
	report prereg.ImportReport

	// take has bit i set when data row i (counting from 0) is to be
	// written: it is good and the last good row of its key.
	take []uint64
	bad  int
	// inputBytes is the size of the input, for progress in pass 2.
	inputBytes int64
}

type lastRow struct {
	row  uint32 // data row index
	line uint32
}

// dup is a row overridden by a later row of the same key.
type dup struct {
	key  uint64
	line int
}

// chunkRows is how many rows travel together through pass 1's pipeline:
// enough to make the hand-offs cheap, few enough to keep memory small.
const chunkRows = 256

// chunk is a slice of consecutive rows; done is closed once every row of
// it is validated.
type chunk struct {
	rows []csvio.Row
	done chan struct{}
}

// validate is pass 1: copy the input to the temporary file, check every
// row, and decide which rows win. Validation costs several times what
// reading does, so this goroutine reads and hands chunks of rows to one
// validating worker per core, and a collector takes the validated chunks
// in file order (the order matters: the last row of a key wins).
func (im *run) validate(r io.Reader) error {
	dec, err := csvio.NewDecoder(io.TeeReader(r, im.tmp))
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
				for i := range c.rows {
					c.rows[i].Validate()
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
	return nil
}

// collect takes validated chunks in file order: it checks the principal's
// scope, reports bad rows and keeps, per key, the last good row.
func (im *run) collect(ordered <-chan *chunk) error {
	seed := maphash.MakeSeed()
	last := make(map[uint64]lastRow)
	var dups []dup
	dupsLeftOut := 0
	p := im.opts.Principal
	n := 0
	var h maphash.Hash
	h.SetSeed(seed)
	for c := range ordered {
		<-c.done
		for i := range c.rows {
			row := &c.rows[i]
			if n>>6 >= len(im.take) {
				im.take = append(im.take, 0)
			}
			if len(row.Errors) == 0 && !p.CanSee(row.Input.OrganizationID) {
				row.Errors = []prereg.RowError{{Line: row.Line, Column: csvio.ColOrganizationID, Value: row.Input.OrganizationID, Message: prereg.ErrorMessage(p.CheckWrite(row.Input.OrganizationID))}}
			}
			if len(row.Errors) > 0 {
				im.reject(row.Errors)
				n++
				continue
			}
			key := keyHash(&h, row.Input.OrganizationID, row.Input.Email)
			if prev, ok := last[key]; ok {
				im.take[prev.row>>6] &^= 1 << (prev.row & 63)
				if len(dups) < prereg.MaxReportIssues {
					dups = append(dups, dup{key: key, line: int(prev.line)})
				} else {
					dupsLeftOut++
				}
			}
			last[key] = lastRow{row: uint32(n), line: uint32(row.Line)}
			im.take[n>>6] |= 1 << (n & 63)
			n++
		}
	}
	im.report.Rows = n
	// A key that hashes like an earlier, different key is taken for a
	// duplicate; with a 64-bit hash under a random seed that is about one
	// chance in 10^7 for a file of a million distinct keys, and not
	// reproducible.
	for _, d := range dups {
		win := last[d.key].line
		im.report.AddWarning(prereg.RowWarning{Line: int(win), Message: fmt.Sprintf("duplicate of line %d; line %d wins", d.line, win)})
	}
	im.report.WarningsTruncated += dupsLeftOut
	return nil
}

// keyHash hashes the (organization, email key) pair that identifies a
// registration. It lower-cases ASCII on the fly rather than through
// prereg.EmailKey, which allocates for every address with a capital; the
// rare non-ASCII address takes the exact path.
func keyHash(h *maphash.Hash, org, email string) uint64 {
	h.Reset()
	h.WriteString(org)
	h.WriteByte(0)
	for i := 0; i < len(email); i++ {
		if email[i] >= utf8.RuneSelf {
			h.WriteString(prereg.EmailKey(email))
			return h.Sum64()
		}
	}
	// The decoder has trimmed the address already, as EmailKey would.
	for i := 0; i < len(email); i++ {
		c := email[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h.WriteByte(c)
	}
	return h.Sum64()
}

func (im *run) reject(errs []prereg.RowError) {
	im.bad++
	im.report.Rejected++
	for _, e := range errs {
		im.report.AddError(e)
	}
}

// write is pass 2: re-read the temporary copy and apply the winning rows.
// A strict import checks everything before the first write: bad rows from
// pass 1, then the store's verdict in a dry run.
func (im *run) write() error {
	if im.opts.Strict && im.bad > 0 {
		im.abortStrict()
		return nil
	}
	if im.opts.Strict && !im.opts.DryRun {
		probe := *im
		probe.report.Errors = []prereg.RowError{}
		probe.report.Warnings = nil
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
func (im *run) abortStrict() {
	im.report.Created, im.report.Updated, im.report.Unchanged = 0, 0, 0
	im.report.AddWarning(prereg.RowWarning{Line: 0, Message: fmt.Sprintf("strict import: nothing was written because %d rows were rejected; fix them and import the file again", im.report.Rejected)})
}

// batch is a run of winning rows for one ApplyBatch call.
type batch struct {
	items []prereg.Input
	lines []int
	err   error
}

// apply reads the temporary copy and sends the winning rows to the store in
// batches. A goroutine decodes the next batch while the store writes the
// current one.
func (im *run) apply(dryRun bool) error {
	if _, err := im.tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind temporary copy of the import: %w", err)
	}
	dec, err := csvio.NewDecoder(im.tmp)
	if err != nil {
		return fmt.Errorf("re-read temporary copy of the import: %w", err)
	}
	dec.SetValidation(false)

	batches := make(chan batch, 1)
	quit := make(chan struct{})
	defer close(quit)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after close(quit)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		send := func(b batch) bool {
			select {
			case batches <- b:
				return true
			case <-quit:
				return false
			}
		}
		b := batch{items: make([]prereg.Input, 0, im.opts.BatchSize), lines: make([]int, 0, im.opts.BatchSize)}
		for n := 0; ; n++ {
			row, err := dec.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				send(batch{err: fmt.Errorf("re-read temporary copy of the import: %w", err)})
				return
			}
			if im.opts.Progress != nil && n%progressEvery == 0 && n > 0 {
				im.opts.Progress(im.report.Rows+n, im.inputBytes+dec.BytesRead())
			}
			if n>>6 >= len(im.take) || im.take[n>>6]&(1<<(n&63)) == 0 {
				continue
			}
			b.items = append(b.items, row.Input)
			b.lines = append(b.lines, row.Line)
			if len(b.items) == im.opts.BatchSize {
				if !send(b) {
					return
				}
				b = batch{items: make([]prereg.Input, 0, im.opts.BatchSize), lines: make([]int, 0, im.opts.BatchSize)}
			}
		}
		if len(b.items) > 0 {
			send(b)
		}
	}()

	source := "import:" + im.opts.ImportID
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := im.ctx.Err(); err != nil {
			return err
		}
		res, err := im.store.ApplyBatch(im.ctx, b.items, source, im.opts.Principal.TokenID, dryRun)
		if err != nil {
			return fmt.Errorf("import %s: write the rows of lines %d to %d: %w", im.opts.ImportID, b.lines[0], b.lines[len(b.lines)-1], err)
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
	}
	if im.opts.Progress != nil {
		im.opts.Progress(2*im.report.Rows, 2*im.inputBytes)
	}
	return nil
}
