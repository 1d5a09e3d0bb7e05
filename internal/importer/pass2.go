package importer

import (
	"fmt"
	"slices"
	"sync"

	"github.com/prereg/prereg/internal/prereg"
)

// writeMode is how pass 2 walks the winners.
type writeMode int

const (
	// writeRows is the import's own walk: it writes (evaluates, in a dry
	// run), reports progress and frees each bucket once read.
	writeRows writeMode = iota
	// probeRows is a strict import's dry run before it writes: it leaves
	// the buckets for the walk that writes and reports no progress.
	probeRows
)

// write is pass 2: apply the winning rows. A strict import checks
// everything before the first write: bad rows from pass 1, then the
// store's verdict in a dry run, which counts into a report of its own.
func (im *run) write() error {
	if im.opts.Strict && im.bad > 0 {
		im.abortStrict()
		return nil
	}
	if im.opts.Strict && !im.opts.DryRun {
		probe := prereg.ImportReport{Errors: []prereg.RowError{}}
		if err := im.apply(probeRows, &probe); err != nil {
			return err
		}
		if probe.Rejected > 0 {
			im.takeRejections(probe)
			im.abortStrict()
			return nil
		}
	}
	if err := im.apply(writeRows, &im.report); err != nil {
		return err
	}
	if im.opts.Strict && im.opts.DryRun && im.report.Rejected > 0 {
		im.abortStrict()
	}
	return nil
}

// batch is a run of winning rows for one prepared batch, in key order.
type batch struct {
	items []prereg.Input
	keys  []prereg.Key
	lines []int
	prep  prereg.PreparedBatch // the store's preparation of items
	err   error
}

// apply sends the winning rows to the store in batches, in key order, and
// counts what the store did with each into rep. A goroutine reads the next
// batch's records from the temporary file and has the store prepare them
// while the store writes the current one.
func (im *run) apply(mode writeMode, rep *prereg.ImportReport) error {
	dryRun := im.opts.DryRun || mode == probeRows
	batches := make(chan batch, 1)
	quit := make(chan struct{})
	defer close(quit)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after close(quit)
	wg.Go(func() { im.feed(mode, batches, quit) })

	done := 0
	for b := range batches {
		if b.err != nil {
			return b.err
		}
		if err := im.ctx.Err(); err != nil {
			return err
		}
		res, err := b.prep.Apply(im.ctx, im.opts.Principal.TokenID, dryRun)
		if err != nil {
			return fmt.Errorf("import %s: write a batch of %d rows taken from lines %d to %d: %w", im.opts.ImportID, len(b.items), slices.Min(b.lines), slices.Max(b.lines), err)
		}
		if len(res) != len(b.items) {
			return fmt.Errorf("import %s: the store answered %d results for %d rows", im.opts.ImportID, len(res), len(b.items))
		}
		countResults(rep, b.lines, res)
		done += len(b.items)
		if mode == writeRows {
			im.progressWritten(done)
		}
	}
	if mode == writeRows {
		im.progressWritten(im.spool.winners)
	}
	return nil
}

// feed reads the winners back from the temporary file, bucket after
// bucket, has the store prepare them a batch at a time and sends the
// batches; it stops at the first error, which it sends as a batch, or
// when quit is closed.
func (im *run) feed(mode writeMode, batches chan<- batch, quit <-chan struct{}) {
	defer close(batches)
	source := "import:" + im.opts.ImportID
	send := func(b batch) bool {
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
	sp := &im.spool
	var buf []byte
	left := sp.winners
	newBatch := func() batch {
		n := min(left, im.opts.BatchSize)
		return batch{items: make([]prereg.Input, 0, n), keys: make([]prereg.Key, 0, n), lines: make([]int, 0, n)}
	}
	b := newBatch()
	for bi := range sp.buckets {
		if len(sp.buckets[bi]) > 0 {
			var err error
			if buf, err = sp.readBucket(bi, buf); err != nil {
				send(batch{err: err})
				return
			}
		}
		for _, e := range sp.buckets[bi] {
			in, err := decodeEntry(buf, e)
			if err != nil {
				send(batch{err: err})
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
		if mode == writeRows {
			sp.buckets[bi] = nil
		}
	}
	if len(b.items) > 0 {
		send(b)
	}
}
