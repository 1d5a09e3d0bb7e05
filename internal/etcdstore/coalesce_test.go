package etcdstore

import (
	"testing"
	"time"
)

// A group that gets no answer (its member stopped answering) does not
// hold up the callers queued behind it: their group is sent beside it.
func TestCoalescerHandsOffAStuckGroup(t *testing.T) {
	var c coalescer[string]
	sent := make(chan []string, 4)
	release := make(chan struct{})
	takeAll := func(q []string) ([]string, []string) { return q, nil }
	send := func(g []string) {
		sent <- g
		if g[0] == "stuck" {
			<-release
		}
	}
	wait := func() []string {
		select {
		case g := <-sent:
			return g
		case <-time.After(30 * time.Second):
			t.Fatal("no group sent")
			return nil
		}
	}
	go func() {
		if c.join("stuck") {
			c.run(takeAll, send)
		}
	}()
	if g := wait(); g[0] != "stuck" {
		t.Fatalf("first group %v", g)
	}
	// Queued while the first is in flight: not the one to send it.
	if c.join("next") {
		t.Fatal("a caller found nothing in flight while a group was")
	}
	if g := wait(); len(g) != 1 || g[0] != "next" {
		t.Fatalf("second group %v", g)
	}
	close(release)
}
