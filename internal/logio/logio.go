// Package logio buffers the request log. One log line per request is a
// write system call per login when written straight to stderr; buffering
// lines and flushing them a few times a second takes that off the login
// path. Lines are whole: a line is never split across flushes.
package logio

import (
	"io"
	"sync"
	"time"
)

const (
	// flushAt is the buffered size at which the flusher is woken without
	// waiting for the timer, so a burst never holds much in memory.
	flushAt = 32 << 10
	// maxBuffered is the size at which a writer stops handing lines over
	// and writes them itself: the flusher is stuck behind a slow or
	// blocked output, and the log must slow its writers down rather than
	// grow without bound or drop lines.
	maxBuffered = 1 << 20
)

// Writer is a buffered, periodically flushed, concurrency-safe writer.
// Writers only append to a buffer; the output is written by the flusher
// goroutine (or by Flush and Close), never by a writer below maxBuffered,
// so no request writes to the output while holding the lock every other
// request's log line waits on.
type Writer struct {
	mu  sync.Mutex
	cur []byte // lines not yet handed to the output

	// out serialises writes to w, so lines leave in the order they came;
	// spare, owned by out's holder, is the buffer cur is swapped with.
	out   sync.Mutex
	w     io.Writer
	spare []byte

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New wraps w; buffered lines reach w at least every interval, and at Close.
func New(w io.Writer, interval time.Duration) *Writer {
	b := &Writer{w: w, cur: make([]byte, 0, 2*flushAt), spare: make([]byte, 0, 2*flushAt),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

func (b *Writer) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-b.kick:
		case <-b.stop:
			return
		}
		_ = b.Flush()
	}
}

// Write buffers p (slog writes one whole line per call).
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.cur = append(b.cur, p...)
	n := len(b.cur)
	b.mu.Unlock()
	switch {
	case n >= maxBuffered:
		if err := b.Flush(); err != nil {
			return 0, err
		}
	case n >= flushAt:
		select {
		case b.kick <- struct{}{}:
		default: // already woken
		}
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.out.Lock()
	defer b.out.Unlock()
	b.mu.Lock()
	lines := b.cur
	b.cur = b.spare[:0]
	b.mu.Unlock()
	if len(lines) == 0 {
		b.spare = lines
		return nil
	}
	_, err := b.w.Write(lines)
	if cap(lines) > 4*maxBuffered {
		lines = make([]byte, 0, 2*flushAt) // do not keep a burst's buffer for good
	}
	b.spare = lines[:0]
	return err
}

// Close stops the timer and flushes; later writes still work but are only
// flushed by an explicit Flush (or once maxBuffered is reached).
func (b *Writer) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
