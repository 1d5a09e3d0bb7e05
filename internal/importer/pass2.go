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

// part is a run of winning rows for one prepared batch, in key order.
type part struct {
	items []prereg.Input
	keys  []prereg.Key
	lines []int
	prep  prereg.PreparedBatch // the store's preparation of items
}

func (p *part) add(in prereg.Input, k prereg.Key, line int) {
	p.items = append(p.items, in)
	p.keys = append(p.keys, k)
	p.lines = append(p.lines, line)
}

// batch is a run of winning rows: those to write, and those with status
// granted, which are only checked (a dry run: their keys are not among
// the written ones, so the order of the two applies does not matter).
type batch struct {
	write, check part
	err          error
}

func (b *batch) len() int { return len(b.write.items) + len(b.check.items) }

// add puts the row of entry e, read back as in, in the part it belongs to.
func (b *batch) add(in prereg.Input, e entry) {
	if e.granted {
		b.check.add(in, e.key, int(e.line))
	} else {
		b.write.add(in, e.key, int(e.line))
	}
}

// prepare has the store prepare the batch's parts that hold rows.
func (b *batch) prepare(store Store, source string) {
	for _, p := range []*part{&b.write, &b.check} {
		if len(p.items) > 0 {
			p.prep = store.PrepareBatch(p.items, p.keys, source)
		}
	}
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
		res, err := im.applyPart(&b.write, dryRun)
		if err != nil {
			return err
		}
		countResults(rep, b.write.lines, res)
		if res, err = im.applyPart(&b.check, true); err != nil {
			return err
		}
		checkGranted(rep, b.check.lines, res)
		done += b.len()
		if mode == writeRows {
			im.progressWritten(done)
		}
	}
	if mode == writeRows {
		im.progressWritten(im.spool.winners)
	}
	return nil
}

// applyPart has the store apply one prepared part of a batch; an empty
// part has nothing to apply.
func (im *run) applyPart(p *part, dryRun bool) ([]prereg.WriteResult, error) {
	if len(p.items) == 0 {
		return nil, nil
	}
	res, err := p.prep.Apply(im.ctx, im.opts.Principal.TokenID, dryRun)
	if err != nil {
		return nil, fmt.Errorf("import %s: write a batch of %d rows taken from lines %d to %d: %w", im.opts.ImportID, len(p.items), slices.Min(p.lines), slices.Max(p.lines), err)
	}
	if len(res) != len(p.items) {
		return nil, fmt.Errorf("import %s: the store answered %d results for %d rows", im.opts.ImportID, len(res), len(p.items))
	}
	return res, nil
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
			b.prepare(im.store, source)
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
		return batch{write: part{items: make([]prereg.Input, 0, n), keys: make([]prereg.Key, 0, n), lines: make([]int, 0, n)}}
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
			b.add(in, e)
			left--
			if b.len() == im.opts.BatchSize {
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
	if b.len() > 0 {
		send(b)
	}
}
