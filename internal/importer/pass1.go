package importer

import (
	"cmp"
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/prereg"
)

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

func newChunk() *chunk {
	return &chunk{rows: make([]csvio.Row, 0, chunkRows), done: make(chan struct{})}
}

// validate checks every row of c and derives the good ones' keys.
func (c *chunk) validate() {
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

// validate is pass 1: check every row, store the good ones in the
// temporary file, and decide which rows win. Validation (and hashing the
// key) costs several times what reading does, so this goroutine reads and
// hands chunks of rows to one validating worker per core, and a collector
// takes the validated chunks in file order (the order matters: the last
// row of a key wins, and the report's row count and errors follow the
// file).
func (im *run) validate(r io.Reader) error {
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
		wg.Go(func() {
			for c := range work {
				c.validate()
			}
		})
	}
	collected := make(chan error, 1)
	go func() { collected <- im.collect(ordered) }()

	readErr := im.read(dec, work, ordered)
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

// read decodes the rows and hands them, a chunk at a time, to the
// validators and, in the same order, to the collector; it closes both
// channels when it stops.
func (im *run) read(dec *csvio.Decoder, work, ordered chan<- *chunk) error {
	defer func() {
		close(work)
		close(ordered)
	}()
	c := newChunk()
	send := func() {
		work <- c
		ordered <- c
		c = newChunk()
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
}

// collect takes validated chunks in file order: it checks the principal's
// scope, reports bad rows, and appends each good row to the temporary file
// and its entry to its bucket.
func (im *run) collect(ordered <-chan *chunk) error {
	w := &spoolWriter{sp: &im.spool, failed: &im.failed}
	p := im.opts.Principal
	n := 0
	for c := range ordered {
		<-c.done
		if w.err != nil {
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
			w.add(c.keys[i], row.Line, row.Status == prereg.StatusGranted, &row.Input)
		}
	}
	if err := w.close(); err != nil {
		return err
	}
	im.report.Rows = n
	return nil
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
func (im *run) pickWinners() {
	var dups []dupWarning
	total := 0
	keepFirst := func(limit int) {
		slices.SortFunc(dups, func(a, b dupWarning) int { return cmp.Compare(a.next, b.next) })
		dups = dups[:min(len(dups), limit)]
	}
	sp := &im.spool
	for bi, es := range sp.buckets {
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
		sp.buckets[bi] = out
		sp.winners += len(out)
	}
	keepFirst(prereg.MaxReportIssues)
	im.warnDuplicates(dups, total)
}
