package etcdstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// coalescer sends the requests of concurrent logins to etcd in groups,
// as the bolt store's group commit shares a commit: a caller that finds
// nothing in flight sends at once; callers arriving meanwhile queue, and
// the next group is sent as soon as the one in flight returns, or once it
// has been in flight for handoff, whichever comes first: a group held up
// by a member that stopped answering (being defragmented, or lost) holds
// up its own callers only. Each group is sent after its callers queued
// and answered before they return, which is what keeps grouped reads and
// claims linearizable (readgroup.go, claimgroup.go); groups in flight at
// once are independent requests, as ungrouped ones would be.
type coalescer[T any] struct {
	mu      sync.Mutex
	queue   []T
	running bool
	sent    atomic.Int64 // groups sent, for the tests
	shared  atomic.Int64 // of them, those of more than one caller
}

// handoff is how long a group is in flight before the next is sent
// beside it: hedgeDelay, after which a member is taken for stalled.
const handoff = hedgeDelay

// join queues x and reports whether the caller must start sending
// (nothing was in flight).
func (c *coalescer[T]) join(x T) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, x)
	first := !c.running
	c.running = true
	return first
}

// run sends a group taken from the queue by take (which returns the group
// and what stays queued, and always takes something) with send; what
// was queued meanwhile is sent next, from a goroutine of its own so that
// no caller waits for another's group.
func (c *coalescer[T]) run(take func([]T) (group, left []T), send func([]T)) {
	c.mu.Lock()
	group, left := take(c.queue)
	c.queue = left
	c.mu.Unlock()

	c.sent.Add(1)
	if len(group) > 1 {
		c.shared.Add(1)
	}
	var handed atomic.Bool
	next := func() {
		if !handed.CompareAndSwap(false, true) {
			return
		}
		c.mu.Lock()
		more := len(c.queue) > 0
		c.running = more
		c.mu.Unlock()
		if more {
			go c.run(take, send)
		}
	}
	late := time.AfterFunc(handoff, next)
	send(group)
	late.Stop()
	next()
}
