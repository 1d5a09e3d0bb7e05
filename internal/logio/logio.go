// Package logio buffers the request log. One log line per request is a
// write system call per login when written straight to stderr; buffering
// lines and flushing them a few times a second takes that off the login
// path. Lines are whole: a line is never split across flushes.
package logio

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// flushAt is the buffered size that triggers a flush without waiting for
// the timer, so a burst never holds much in memory.
const flushAt = 32 << 10

// Writer is a buffered, periodically flushed, concurrency-safe writer.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New wraps w; buffered lines reach w at least every interval, and at Close.
func New(w io.Writer, interval time.Duration) *Writer {
	b := &Writer{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
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
			_ = b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p (slog writes one whole line per call).
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if err == nil && b.buf.Buffered() >= flushAt {
		err = b.buf.Flush()
	}
	return n, err
}

// Flush writes out what is buffered.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the timer and flushes; later writes still work but are only
// flushed by the size trigger or an explicit Flush.
func (b *Writer) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
