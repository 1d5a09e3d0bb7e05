package etcdstore

import (
	"context"
	"testing"
	"time"
)

// An import's transactions get the long timeout, the hook path the short
// one: under load one late chunk must not fail a whole import, and a lost
// quorum must still answer a login within seconds.
func TestCallTimeouts(t *testing.T) {
	s := &Store{opts: Options{CallTimeout: 2 * time.Second}}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want time.Duration
	}{
		{"hook", context.Background(), 2 * time.Second},
		{"import", bulk(context.Background()), scanTimeout},
	} {
		ctx, cancel := s.call(tc.ctx)
		dl, ok := ctx.Deadline()
		cancel()
		if left := time.Until(dl); !ok || left > tc.want || left < tc.want-time.Second {
			t.Errorf("%s: deadline in %v, want %v", tc.name, left, tc.want)
		}
	}
}
