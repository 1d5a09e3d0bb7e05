package boltstore

import (
	"context"
	"time"
)

// recheckEvery is how often removals from pendingAddrs that were refused
// are tried again (recheckPending), when there are any: a write
// transaction each time, shared with claims when there are some.
var recheckEvery = time.Second

// recheckLoop runs recheckPending every d once the fill has settled,
// until Close.
func (s *Store) recheckLoop(d time.Duration) {
	s.every(d, func() bool {
		if s.pendingAddrs.settled.Load() {
			_ = s.recheckPending(context.Background())
		}
		s.rechecked.notify()
		return true
	})
}

// releaseLoop calls ReleaseMapped every ReleaseEvery after a transaction
// ran, until Close.
func (s *Store) releaseLoop() {
	s.every(s.opts.ReleaseEvery, func() bool {
		if s.used.Swap(false) {
			_ = s.ReleaseMapped()
		}
		return true
	})
}

// every calls fn every d until Close or until fn returns false.
func (s *Store) every(d time.Duration, fn func() (more bool)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-tick.C:
			if !fn() {
				return
			}
		}
	}
}

// markUsed notes a transaction for releaseLoop; a load first, so that
// concurrent readers do not all write one cache line.
func (s *Store) markUsed() {
	if !s.used.Load() {
		s.used.Store(true)
	}
}
