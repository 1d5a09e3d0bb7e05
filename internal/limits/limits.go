// Package limits holds the abuse limits of the service: per-key token buckets
// (admin calls per token, failed authentications per source address) with
// bounded memory, and a cap on requests in flight for the hook.
//
// It knows nothing of HTTP: the caller picks the key, and turns a refusal
// into 429 with Retry-After (RetryAfterSeconds) or 503.
package limits

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds the keys a KeyedLimiter tracks unless WithMaxKeys
// says otherwise, so that a flood of distinct keys costs bounded memory.
const DefaultMaxKeys = 100_000

// shardCount splits a limiter into independently locked parts, so that the
// check on every request does not serialise all requests on one mutex.
const shardCount = 16

// sweepPerCall is how many idle keys each call may drop: enough to shrink
// the table steadily after a burst of distinct keys, small enough to keep
// each call O(1).
const sweepPerCall = 2

// Option adjusts a KeyedLimiter.
type Option func(*KeyedLimiter)

// WithClock makes the limiter read time from now instead of time.Now, so
// that tests are deterministic.
func WithClock(now func() time.Time) Option {
	return func(l *KeyedLimiter) { l.now = now }
}

// WithMaxKeys bounds the number of keys tracked (at least one per shard).
func WithMaxKeys(n int) Option {
	return func(l *KeyedLimiter) { l.maxKeys = n }
}

// KeyedLimiter keeps one token bucket per key (golang.org/x/time/rate): each
// key may spend burst tokens at once, refilled at perSecond tokens a second.
//
// Memory is bounded: at most maxKeys keys are tracked. A key whose bucket has
// refilled completely is indistinguishable from an unknown key, so such idle
// keys are dropped as calls go by; when the table is full anyway, the least
// recently used key is dropped. That key's debt is forgotten: someone able to
// present more than maxKeys distinct keys within a refill period can escape
// the limit for their oldest keys, which is the price of a memory bound (for
// per-address limits, key IPv6 clients by /64 with netallow.LimitKey).
//
// A KeyedLimiter is safe for concurrent use.
type KeyedLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time
	seed    maphash.Seed
	shards  [shardCount]shard
	// sweepNext picks the shard each call tidies on the side, so that
	// shards nobody touches any more also shrink.
	sweepNext atomic.Uint32
}

type shard struct {
	mu      sync.Mutex
	entries map[string]*entry
	// LRU list: head is most recently used, tail least. Intrusive, so
	// that evicted entries can be reused without allocating.
	head, tail *entry
	max        int
}

type entry struct {
	key        string
	lim        *rate.Limiter
	prev, next *entry
}

// New returns a limiter allowing perSecond events a second per key with the
// given burst, tracking at most maxKeys keys (0: DefaultMaxKeys). perSecond
// 0 (or less) means unlimited: every call is allowed and nothing is stored.
// A burst below one is raised to one.
func New(perSecond float64, burst int, maxKeys int, opts ...Option) *KeyedLimiter {
	l := &KeyedLimiter{
		limit:   rate.Limit(perSecond),
		burst:   max(burst, 1),
		maxKeys: maxKeys,
		now:     time.Now,
		seed:    maphash.MakeSeed(),
	}
	for _, o := range opts {
		o(l)
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	per := max(l.maxKeys/shardCount, 1)
	for i := range l.shards {
		l.shards[i].entries = make(map[string]*entry)
		l.shards[i].max = per
	}
	return l
}

// PerMinute returns a limiter allowing n events a minute per key, all of
// which may come at once: a bucket of n tokens refilled at n/60 a second.
// PerMinute(60) is the default failed-authentication limit: 60 failures at
// once, then one a second. n 0 means unlimited.
func PerMinute(n int, opts ...Option) *KeyedLimiter {
	return New(float64(n)/60, n, 0, opts...)
}

// Unlimited reports whether the limiter lets everything through.
func (l *KeyedLimiter) Unlimited() bool { return l == nil || l.limit <= 0 }

func (l *KeyedLimiter) shard(key string) *shard {
	return &l.shards[maphash.String(l.seed, key)%shardCount]
}

// Allow spends one token of key's bucket. When the bucket is empty it
// spends nothing and returns false with the time until a token is back
// (always > 0).
func (l *KeyedLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l.Unlimited() {
		return true, 0
	}
	now := l.now()
	s := l.shard(key)
	s.mu.Lock()
	e := s.get(key, now, l, true)
	ok = e.lim.AllowN(now, 1)
	if !ok {
		retryAfter = l.wait(e, now)
	}
	s.mu.Unlock()
	l.sweepOther(now)
	return ok, retryAfter
}

// Fail records one failure for key (a failed authentication from an
// address): it spends a token if one is left. Use with Blocked.
func (l *KeyedLimiter) Fail(key string) {
	if l.Unlimited() {
		return
	}
	now := l.now()
	s := l.shard(key)
	s.mu.Lock()
	e := s.get(key, now, l, true)
	e.lim.AllowN(now, 1)
	s.mu.Unlock()
	l.sweepOther(now)
}

// Blocked reports whether key has spent its whole budget, and if so how long
// until it may try again (always > 0). It spends nothing, and an unknown key
// is not stored, so checking every request's address costs no memory.
//
// With the failed-authentication limiter the service checks Blocked before
// authenticating any request and answers 429 while it is true, even to
// requests that carry valid credentials: the bucket cannot tell the
// attacker's next guess from a legitimate caller at the same address, and
// refusing both is what makes guessing pointless.
func (l *KeyedLimiter) Blocked(key string) (blocked bool, retryAfter time.Duration) {
	if l.Unlimited() {
		return false, 0
	}
	now := l.now()
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.get(key, now, l, false)
	if e == nil || e.lim.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, l.wait(e, now)
}

// Len returns the number of keys currently tracked, for metrics and tests.
func (l *KeyedLimiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

// wait is the time until e has one token again.
func (l *KeyedLimiter) wait(e *entry, now time.Time) time.Duration {
	missing := 1 - e.lim.TokensAt(now)
	d := time.Duration(math.Ceil(missing / float64(l.limit) * float64(time.Second)))
	return max(d, time.Nanosecond)
}

// get finds key's entry and marks it used. When create is set, a missing
// key gets a full bucket, reusing the least recently used entry if the shard
// is full. Before that it drops up to sweepPerCall idle (refilled) entries
// from the cold end, so that the table shrinks back after a burst.
func (s *shard) get(key string, now time.Time, l *KeyedLimiter, create bool) *entry {
	s.sweep(now, l.burst, key)
	if e, ok := s.entries[key]; ok {
		s.unlink(e)
		s.pushFront(e)
		return e
	}
	if !create {
		return nil
	}
	var e *entry
	if len(s.entries) >= s.max {
		e = s.tail
		s.unlink(e)
		delete(s.entries, e.key)
	} else {
		e = new(entry)
	}
	e.key = key
	// A fresh limiter starts with a full bucket; rate.Limiter has no way
	// to refill a reused one.
	e.lim = rate.NewLimiter(l.limit, l.burst)
	s.entries[key] = e
	s.pushFront(e)
	return e
}

// sweep drops up to sweepPerCall least recently used entries whose bucket
// has refilled: they hold no information. It stops at keep, the key about to
// be used, which would only be created again.
func (s *shard) sweep(now time.Time, burst int, keep string) {
	for i := 0; i < sweepPerCall && s.tail != nil && s.tail.key != keep; i++ {
		if s.tail.lim.TokensAt(now) < float64(burst) {
			return
		}
		old := s.tail
		s.unlink(old)
		delete(s.entries, old.key)
	}
}

// sweepOther tidies one other shard in turn, skipping it if it is busy.
func (l *KeyedLimiter) sweepOther(now time.Time) {
	s := &l.shards[l.sweepNext.Add(1)%shardCount]
	if s.mu.TryLock() {
		s.sweep(now, l.burst, "")
		s.mu.Unlock()
	}
}

func (s *shard) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (s *shard) pushFront(e *entry) {
	e.next = s.head
	if s.head != nil {
		s.head.prev = e
	}
	s.head = e
	if s.tail == nil {
		s.tail = e
	}
}

// RetryAfterSeconds turns a wait into the value of a Retry-After header:
// whole seconds, rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// InFlight caps the number of requests being served at once. TryAcquire
// never waits: when the cap is reached the caller answers 503 at once, so a
// slow store or a flood cannot pile up goroutines and memory without bound.
type InFlight struct {
	max int64
	n   atomic.Int64
}

// NewInFlight returns a cap of n concurrent holders; n <= 0 means no cap.
func NewInFlight(n int) *InFlight {
	return &InFlight{max: int64(n)}
}

func noop() {}

// TryAcquire takes a slot if one is free. release gives it back; calling it
// more than once has no further effect.
func (f *InFlight) TryAcquire() (release func(), ok bool) {
	if f == nil || f.max <= 0 {
		return noop, true
	}
	if f.n.Add(1) > f.max {
		f.n.Add(-1)
		return nil, false
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			f.n.Add(-1)
		}
	}, true
}

// InUse returns the number of slots held, for metrics.
func (f *InFlight) InUse() int {
	if f == nil {
		return 0
	}
	return int(f.n.Load())
}

// Slots caps work that holds a slot for a long time (an import): at most
// total at once, and at most perKey for any one key, so that one caller
// cannot take every slot and lock the others out. TryAcquire never waits.
type Slots struct {
	total, perKey int
	mu            sync.Mutex
	used          int
	byKey         map[string]int
}

// NewSlots returns total slots, at most perKey of them per key; a value
// <= 0 means no cap of that kind.
func NewSlots(total, perKey int) *Slots {
	return &Slots{total: total, perKey: perKey, byKey: make(map[string]int)}
}

// TryAcquire takes a slot for key if one is free for it. release gives it
// back; calling it more than once has no further effect.
func (s *Slots) TryAcquire(key string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if (s.total > 0 && s.used >= s.total) || (s.perKey > 0 && s.byKey[key] >= s.perKey) {
		return nil, false
	}
	s.used++
	s.byKey[key]++
	var once sync.Once
	return func() { once.Do(func() { s.release(key) }) }, true
}

func (s *Slots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used--
	if s.byKey[key]--; s.byKey[key] <= 0 {
		delete(s.byKey, key) // the map holds only keys with a slot
	}
}
