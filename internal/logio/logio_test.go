package logio_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/logio"
	"github.com/prereg/prereg/internal/testio"
)

func TestLinesArriveWholeAndOnTime(t *testing.T) {
	// Buffered: with a timer that cannot fire during the test, a line
	// waits for Close (a short timer could fire before the check).
	held := &testio.Buffer{}
	hw := logio.New(held, time.Hour)
	if _, err := hw.Write([]byte("held\n")); err != nil {
		t.Fatal(err)
	}
	if held.String() != "" {
		t.Fatal("written through at once: not buffered")
	}
	if err := hw.Close(); err != nil || held.String() != "held\n" {
		t.Fatalf("after Close: %q %v", held.String(), err)
	}
	out := &testio.Buffer{}
	w := logio.New(out, 20*time.Millisecond)
	if _, err := w.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	testio.WaitFor(t, 5*time.Second, "the flush after the interval", func() bool { return out.String() != "" })
	if out.String() != "first\n" {
		t.Fatalf("after the interval: %q", out.String())
	}
	// Concurrent writers: every line whole, none lost, all out after Close.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(w, "g%d line %d %s\n", g, i, strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 1+8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 1+8*500)
	}
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "g") || !strings.HasSuffix(l, strings.Repeat("x", 100)) {
			t.Fatalf("torn line %q", l)
		}
	}
}

// gate is an output whose writes wait until it is opened.
type gate struct {
	testio.Buffer
	entered chan struct{}
	open    chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), open: make(chan struct{})} }

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	return g.Buffer.Write(p)
}

// A request never writes the log itself: with the output stuck, writers go
// on buffering (up to the cap), and nothing is lost or reordered.
func TestWritersNeverWaitForTheOutput(t *testing.T) {
	out := newGate()
	w := logio.New(out, time.Hour) // only the size trigger wakes the flusher
	var release sync.Once
	unblock := func() { release.Do(func() { close(out.open) }) }
	t.Cleanup(unblock)
	line := func(i int) string { return fmt.Sprintf("line %06d %s\n", i, strings.Repeat("x", 90)) }
	i := 0
	// writeTo writes lines up to n in a goroutine and reports whether they
	// all went through within 5 s.
	writeTo := func(n int) bool {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ; i < n; i++ {
				if _, err := w.Write([]byte(line(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		select {
		case <-done:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	// Past 32 KiB the flusher is woken and blocks in the output.
	if !writeTo(400) {
		t.Fatal("a writer waited for the output")
	}
	select {
	case <-out.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the flusher was not woken past the size trigger")
	}
	// The output is blocked; another 500 KiB of lines still go through.
	if !writeTo(5400) {
		t.Fatal("writers waited for a blocked output below the cap")
	}
	unblock()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != i {
		t.Fatalf("%d lines out, %d written", len(lines), i)
	}
	for n, l := range lines {
		if l+"\n" != line(n) {
			t.Fatalf("line %d is %q", n, l)
		}
	}
}

// Past the cap a writer writes the buffer itself, so a stuck output slows
// the log's writers down instead of growing memory without bound.
func TestWritersWaitPastTheCap(t *testing.T) {
	out := newGate()
	w := logio.New(out, time.Hour)
	chunk := []byte(strings.Repeat("y", 1023) + "\n")
	done := make(chan int)
	go func() {
		n := 0
		for ; n < 2048; n++ { // 2 MiB
			if _, err := w.Write(chunk); err != nil {
				t.Error(err)
				break
			}
		}
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("%d KiB buffered with the output blocked", n)
	case <-time.After(300 * time.Millisecond):
	}
	close(out.open)
	if n := <-done; n != 2048 {
		t.Fatalf("wrote %d lines", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(out.String()); got != 2048*len(chunk) {
		t.Fatalf("%d bytes out, want %d", got, 2048*len(chunk))
	}
}
