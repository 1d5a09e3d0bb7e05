package boltstore

import "sync"

// broadcast lets goroutines wait for the next time something happens in
// the store's background loops (tests wait on it instead of sleeping).
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// next returns a channel closed at the next notify.
func (b *broadcast) next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// notify wakes every waiter.
func (b *broadcast) notify() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
