package dumpio

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/prereg/prereg/internal/prereg"
)

// Writer writes a dump stream. Close writes the end line, without which a
// reader refuses the stream; it does not close the underlying writer.
type Writer struct {
	w       *bufio.Writer
	counts  prereg.DumpCounts
	rank    int
	started bool
	closed  bool
	err     error
}

// NewWriter returns a Writer that writes the stream's header before the
// first item (or at Close, for an empty store).
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), counts: prereg.DumpCounts{}}
}

// Write adds one item; items must come in prereg.DumpKinds order.
func (w *Writer) Write(it prereg.DumpItem) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("dumpio: write after Close")
	}
	l, err := toLine(it)
	if err != nil {
		return fmt.Errorf("dumpio: %w", err)
	}
	rank := kindRank(it.Kind)
	if rank < w.rank {
		return fmt.Errorf("dumpio: a %s item after %s items: kinds must come in the order of prereg.DumpKinds", it.Kind, prereg.DumpKinds[w.rank])
	}
	w.rank = rank
	if err := w.writeLine(l); err != nil {
		return err
	}
	w.counts[it.Kind]++
	return nil
}

// Close writes the end line with the counts and flushes.
func (w *Writer) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	w.closed = true
	counts := prereg.DumpCounts{}
	for _, k := range prereg.DumpKinds {
		counts[k] = w.counts[k] // every kind, zeros too: the end line says what a reader must find
	}
	if err := w.writeLine(line{Kind: endKind, Counts: counts}); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("dumpio: %w", err)
	}
	return w.err
}

func (w *Writer) writeLine(v any) error {
	if !w.started {
		w.started = true
		if err := w.encode(header{Format: formatName, Version: version}); err != nil {
			return err
		}
	}
	return w.encode(v)
}

func (w *Writer) encode(v any) error {
	b, err := json.Marshal(v)
	if err == nil {
		b = append(b, '\n')
		_, err = w.w.Write(b)
	}
	if err != nil {
		w.err = fmt.Errorf("dumpio: %w", err)
	}
	return w.err
}
