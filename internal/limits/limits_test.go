package limits_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/limits"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

func TestAllowBurstAndRefill(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		wait      time.Duration // expected retryAfter once the burst is spent
	}{
		{"admin default", 100, 200, 10 * time.Millisecond},
		{"one per second", 1, 3, time.Second},
		{"slow", 0.5, 1, 2 * time.Second},
		{"burst zero raised to one", 2, 0, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			l := limits.New(tt.perSecond, tt.burst, 0, limits.WithClock(clk.now))
			burst := max(tt.burst, 1)
			for i := 0; i < burst; i++ {
				if ok, _ := l.Allow("k"); !ok {
					t.Fatalf("call %d of the burst refused", i+1)
				}
			}
			ok, retry := l.Allow("k")
			if ok {
				t.Fatal("call after the burst allowed")
			}
			if retry != tt.wait {
				t.Fatalf("retryAfter = %v, want %v", retry, tt.wait)
			}
			// A refused call spends nothing: the same wait remains.
			if _, again := l.Allow("k"); again != retry {
				t.Fatalf("second refusal retryAfter = %v, want %v", again, retry)
			}
			// Other keys are independent.
			if ok, _ := l.Allow("other"); !ok {
				t.Fatal("another key refused")
			}
			// rate.Limiter works in float64 seconds: check well before
			// the refill, not a nanosecond before.
			clk.add(retry / 2)
			if ok, r := l.Allow("k"); ok || r <= 0 || r > retry/2+time.Microsecond {
				t.Fatalf("half-way to refill: ok=%v retry=%v", ok, r)
			}
			clk.add(retry - retry/2)
			if ok, _ := l.Allow("k"); !ok {
				t.Fatal("refused after refill")
			}
		})
	}
}

func TestUnlimited(t *testing.T) {
	for _, l := range []*limits.KeyedLimiter{limits.New(0, 10, 0), limits.PerMinute(0), nil} {
		for i := 0; i < 1000; i++ {
			if ok, _ := l.Allow(strconv.Itoa(i % 3)); !ok {
				t.Fatal("unlimited limiter refused")
			}
			l.Fail("a")
		}
		if b, _ := l.Blocked("a"); b {
			t.Fatal("unlimited limiter blocked")
		}
		if !l.Unlimited() {
			t.Fatal("Unlimited() = false")
		}
	}
	if n := limits.New(0, 10, 0).Len(); n != 0 {
		t.Fatalf("unlimited limiter stored %d keys", n)
	}
}

func TestFailAndBlocked(t *testing.T) {
	clk := newClock()
	l := limits.PerMinute(60, limits.WithClock(clk.now))
	if b, _ := l.Blocked("198.51.100.1"); b {
		t.Fatal("unknown address blocked")
	}
	if l.Len() != 0 {
		t.Fatal("Blocked stored an unknown key")
	}
	for i := 0; i < 59; i++ {
		l.Fail("198.51.100.1")
	}
	if b, _ := l.Blocked("198.51.100.1"); b {
		t.Fatal("blocked after 59 of 60 failures")
	}
	l.Fail("198.51.100.1")
	b, retry := l.Blocked("198.51.100.1")
	if !b || retry != time.Second {
		t.Fatalf("after 60 failures: blocked=%v retry=%v, want true, 1s", b, retry)
	}
	// Blocked spends nothing and more failures do not dig deeper.
	l.Fail("198.51.100.1")
	if _, r := l.Blocked("198.51.100.1"); r != time.Second {
		t.Fatalf("retry after extra failure = %v, want 1s", r)
	}
	if b, _ := l.Blocked("198.51.100.2"); b {
		t.Fatal("another address blocked")
	}
	clk.add(time.Second)
	if b, _ := l.Blocked("198.51.100.1"); b {
		t.Fatal("still blocked after one refill period")
	}
	l.Fail("198.51.100.1")
	if b, _ := l.Blocked("198.51.100.1"); !b {
		t.Fatal("one token back, spent, must be blocked again")
	}
	clk.add(time.Minute)
	for i := 0; i < 60; i++ {
		if b, _ := l.Blocked("198.51.100.1"); b {
			t.Fatalf("blocked at failure %d after a full minute's refill", i)
		}
		l.Fail("198.51.100.1")
	}
}

func TestMemoryBound(t *testing.T) {
	clk := newClock()
	const maxKeys = 1600
	l := limits.New(1, 5, maxKeys, limits.WithClock(clk.now))
	for i := 0; i < 50_000; i++ {
		l.Allow("key-" + strconv.Itoa(i))
		if i%10_000 == 0 && l.Len() > maxKeys {
			t.Fatalf("%d keys tracked after %d distinct keys, bound %d", l.Len(), i, maxKeys)
		}
	}
	if n := l.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("tracked %d keys, want about %d", n, maxKeys)
	}
	// The most recent keys keep their state.
	for i := 0; i < 4; i++ {
		l.Allow("key-49999")
	}
	if ok, _ := l.Allow("key-49999"); ok {
		t.Fatal("recent key lost its state: sixth call in a burst of 5 allowed")
	}
	// Idle keys whose buckets refilled are swept as calls go by.
	clk.add(10 * time.Second)
	for i := 0; i < 2000; i++ {
		l.Allow("hot")
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d keys still tracked after all went idle, want the table to shrink", n)
	}
}

func TestActiveKeyNotSwept(t *testing.T) {
	clk := newClock()
	// Room for two keys in every shard: "busy" and "idle" may hash into
	// the same one (with 16 keys, one a shard, "idle" then filled it and
	// evicted "busy" as the least recently used, as documented, in about
	// one run in sixteen).
	l := limits.New(1, 2, 32, limits.WithClock(clk.now))
	l.Allow("busy")
	l.Allow("busy")
	// Plenty of other traffic that does not fill the table.
	for i := 0; i < 100; i++ {
		l.Allow("idle")
	}
	if ok, _ := l.Allow("busy"); ok {
		t.Fatal("a key with an empty bucket was forgotten")
	}
}

func TestConcurrentAllow(t *testing.T) {
	clk := newClock()
	l := limits.New(10, 100, 0, limits.WithClock(clk.now))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if ok, _ := l.Allow("shared"); ok {
					allowed.Add(1)
				}
				l.Allow("g" + strconv.Itoa(i))
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("allowed %d of 800 concurrent calls with a burst of 100 and a frozen clock", allowed.Load())
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{
		time.Nanosecond:               1,
		10 * time.Millisecond:         1,
		time.Second:                   1,
		time.Second + time.Nanosecond: 2,
		90 * time.Second:              90,
		0:                             1,
	} {
		if got := limits.RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestInFlight(t *testing.T) {
	f := limits.NewInFlight(2)
	r1, ok1 := f.TryAcquire()
	r2, ok2 := f.TryAcquire()
	_, ok3 := f.TryAcquire()
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("acquire = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if f.InUse() != 2 {
		t.Fatalf("InUse = %d", f.InUse())
	}
	r1()
	r1() // a second release must not free another slot
	if f.InUse() != 1 {
		t.Fatalf("InUse after double release = %d, want 1", f.InUse())
	}
	r4, ok4 := f.TryAcquire()
	_, ok5 := f.TryAcquire()
	if !ok4 || ok5 {
		t.Fatalf("after release: %v %v, want true false", ok4, ok5)
	}
	r2()
	r4()
	if f.InUse() != 0 {
		t.Fatalf("InUse = %d, want 0", f.InUse())
	}

	unl := limits.NewInFlight(0)
	for i := 0; i < 1000; i++ {
		if r, ok := unl.TryAcquire(); !ok {
			t.Fatal("uncapped refused")
		} else {
			defer r()
		}
	}
}

func TestInFlightConcurrent(t *testing.T) {
	const cap = 5
	f := limits.NewInFlight(cap)
	var cur, peak, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < 200; i++ {
				release, ok := f.TryAcquire()
				if !ok {
					refused.Add(1)
					continue
				}
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				cur.Add(-1)
				release()
			}
		}()
	}
	close(start)
	wg.Wait()
	if peak.Load() > cap {
		t.Fatalf("peak in flight %d exceeds cap %d", peak.Load(), cap)
	}
	if f.InUse() != 0 {
		t.Fatalf("InUse = %d after all released", f.InUse())
	}
}

func TestSlots(t *testing.T) {
	s := limits.NewSlots(2, 1)
	relA, ok := s.TryAcquire("a")
	if !ok {
		t.Fatal("first slot of a refused")
	}
	if _, ok := s.TryAcquire("a"); ok {
		t.Fatal("a took a second slot")
	}
	relB, ok := s.TryAcquire("b")
	if !ok {
		t.Fatal("b refused while a holds one of two slots")
	}
	if _, ok := s.TryAcquire("c"); ok {
		t.Fatal("c took a third slot of two")
	}
	relA()
	relA() // a second release gives nothing more back
	if _, ok := s.TryAcquire("c"); !ok {
		t.Fatal("c refused after a released")
	}
	if _, ok := s.TryAcquire("a"); ok {
		t.Fatal("a double release freed two slots")
	}
	relB()
	if _, ok := s.TryAcquire("a"); !ok {
		t.Fatal("a refused after b released")
	}
}
