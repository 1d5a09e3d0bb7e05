package boltstore

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// prefixFor makes a 7-byte address prefix; shard and low bits chosen so
// that many land in one shard and collide on their home slot.
func prefixFor(shard byte, v uint64) []byte {
	p := make([]byte, prereg.EmailPrefixSize)
	p[0] = shard
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	copy(p[1:], b[2:])
	return p
}

// TestKeySetAgainstMap drives the hash set with random adds and
// removals, many of them in one crowded shard where runs wrap around the
// table's end, and compares every answer with a map.
func TestKeySetAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p := &keySet{}
	p.ready.Store(true)
	want := map[string]bool{}
	var keys [][]byte
	for range 200_000 {
		var k []byte
		switch {
		case len(keys) > 0 && rng.IntN(3) == 0:
			k = keys[rng.IntN(len(keys))]
		case rng.IntN(2) == 0:
			// Shard 7, values crowding a few home slots (the low bits
			// index the table): the first and the last ones, so that runs
			// are long and wrap around the table's end.
			home := uint64(rng.IntN(4))
			if rng.IntN(2) == 0 {
				home = 1<<20 - 1 - home
			}
			k = prefixFor(7, uint64(rng.IntN(64))<<20|home)
		default:
			k = prefixFor(byte(rng.IntN(256)), rng.Uint64()&(1<<48-1))
		}
		if rng.IntN(5) < 3 {
			p.add(prefixKey(k))
			want[string(k)] = true
			keys = append(keys, k)
		} else {
			p.removeIf(p.mark(prefixKey(k)))
			delete(want, string(k))
		}
	}
	for _, k := range keys {
		if got := p.has(prefixKey(k)); got != want[string(k)] {
			t.Fatalf("has(%x) = %v, want %v", k, got, want[string(k)])
		}
	}
	for range 10_000 {
		k := prefixFor(byte(rng.IntN(256)), rng.Uint64()&(1<<48-1)|1<<47)
		if p.has(prefixKey(k)) != want[string(k)] {
			t.Fatalf("has(%x) = %v for a prefix never added", k, p.has(prefixKey(k)))
		}
	}
	if p.size() != len(want) {
		t.Fatalf("size %d, want %d", p.size(), len(want))
	}
}

// TestKeySetRules covers the rules that keep the set a superset of the
// pending records: a removal loses to any add after its mark, a set not
// yet filled answers yes, and a nil set is disabled.
func TestKeySetRules(t *testing.T) {
	a, b := prefixKey(prefixFor(1, 10)), prefixKey(prefixFor(1, 11))
	// again: the keys a refused (or possibly undone) removal leaves to
	// recheckPending.
	tests := []struct {
		name  string
		run   func(p *keySet)
		a, b  bool
		again []uint64
	}{
		{"removed after mark", func(p *keySet) { p.add(a); p.removeIf(p.mark(a)) }, false, false, nil},
		{"added again after mark", func(p *keySet) { p.add(a); m := p.mark(a); p.add(a); p.removeIf(m) }, true, false, []uint64{a}},
		{"other prefix of the shard added after mark", func(p *keySet) { p.add(a); m := p.mark(a); p.add(b); p.removeIf(m) }, true, true, []uint64{a}},
		{"empty mark", func(p *keySet) { p.add(a); p.removeIf(keyMark{}) }, true, false, nil},
		{"absent prefix", func(p *keySet) { p.add(b); p.removeIf(p.mark(a)) }, false, true, nil},
		{"removed while filling", func(p *keySet) { p.ready.Store(false); p.add(a); p.removeIf(p.mark(a)); p.ready.Store(true) }, false, false, []uint64{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &keySet{}
			p.ready.Store(true)
			tt.run(p)
			if p.has(a) != tt.a || p.has(b) != tt.b {
				t.Fatalf("has(a)=%v has(b)=%v, want %v %v", p.has(a), p.has(b), tt.a, tt.b)
			}
			if got := p.takeRecheck(); !slices.Equal(got, tt.again) && len(got)+len(tt.again) > 0 {
				t.Fatalf("left to recheck %x, want %x", got, tt.again)
			}
			if got := p.takeRecheck(); len(got) != 0 {
				t.Fatalf("taken twice: %x", got)
			}
		})
	}
	p := &keySet{}
	if !p.has(a) {
		t.Fatal("a set not filled yet must answer yes")
	}
	var off *keySet
	off.add(a)
	off.removeIf(off.mark(a))
	if !off.has(a) {
		t.Fatal("a disabled set must answer yes")
	}
}

func TestRecordPending(t *testing.T) {
	now := time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, st := range []prereg.Status{prereg.StatusPending, prereg.StatusGranted, prereg.StatusRevoked} {
		r := prereg.Registration{ID: "reg_a", Email: "a@x.io", OrganizationID: "org_1", Roles: []string{"a", "b"}, Connection: "c", Status: st, CreatedAt: now, UpdatedAt: now}
		raw, err := encodeReg(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := recordPending(raw)
		if err != nil || got != (st == prereg.StatusPending) {
			t.Fatalf("%s: recordPending = %v, %v", st, got, err)
		}
		// Cut before the status ends: an error, never a guess.
		end := bytes.Index(raw, []byte(st)) + len(st)
		for i := range end {
			if _, err := recordPending(raw[:i]); err == nil {
				t.Fatalf("%s: truncated at %d read", st, i)
			}
		}
	}
	// A record form the store never writes (JSON, say) is an error.
	if got, err := recordPending([]byte(`{"i":"reg_a","e":"a@x.io","r":["x"],"s":"pending","ca":1,"ua":1}`)); err == nil {
		t.Fatalf("JSON record read as pending=%v", got)
	}
}

// FuzzRecordPending holds recordPending, which reads only up to the
// status, to what a full decode says, on any bytes: wherever decodeReg
// reads a record, recordPending reads the same status.
//
//	go test ./internal/boltstore -run '^$' -fuzz '^FuzzRecordPending$' -fuzztime 1m
func FuzzRecordPending(f *testing.F) {
	now := time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, st := range []prereg.Status{prereg.StatusPending, prereg.StatusGranted, prereg.StatusRevoked} {
		raw, err := encodeReg(&prereg.Registration{ID: "reg_a", Email: "a@x.io", OrganizationID: "org_1", Roles: []string{"a", "b"}, Status: st, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"i":"reg_a","e":"a@x.io","r":["x"],"s":"pending","ca":1,"ua":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := recordPending(raw)
		r, derr := decodeReg(raw)
		if derr != nil {
			return // a record the store never wrote; recordPending may read its prefix
		}
		if err != nil || got != (r.Status == prereg.StatusPending) {
			t.Fatalf("recordPending = %v, %v; decodeReg status %q", got, err, r.Status)
		}
	})
}
