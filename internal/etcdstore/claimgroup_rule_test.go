package etcdstore

import (
	"fmt"
	"slices"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A request holds at most one claim per address and per user, within
// etcd's operations per transaction counted as it counts nested ones;
// what is left waits, in order, for the next.
func TestTakeClaims(t *testing.T) {
	claim := func(addr, user string, ops int) *groupClaim {
		c := &groupClaim{addr: addr, user: user, cmps: make([]clientv3.Cmp, 2)}
		for range ops {
			c.ops = append(c.ops, clientv3.OpGet("k"))
		}
		return c
	}
	name := func(cs []*groupClaim) (out []string) {
		for _, c := range cs {
			out = append(out, c.addr+"/"+c.user)
		}
		return out
	}
	many := func(n, ops int) (out []*groupClaim) {
		for i := range n {
			out = append(out, claim(fmt.Sprint("a", i), fmt.Sprint("u", i), ops))
		}
		return out
	}
	tests := []struct {
		name        string
		queue       []*groupClaim
		take, left  int
		wantTaken   []string
		wantLeftFst string
	}{
		{"distinct", []*groupClaim{claim("a", "u", 8), claim("b", "v", 8)}, 2, 0, []string{"a/u", "b/v"}, ""},
		{"same address", []*groupClaim{claim("a", "u", 8), claim("a", "v", 8), claim("b", "w", 8)}, 2, 1, []string{"a/u", "b/w"}, "a/v"},
		{"same user", []*groupClaim{claim("a", "u", 8), claim("b", "u", 8), claim("c", "v", 8)}, 2, 1, []string{"a/u", "c/v"}, "b/u"},
		{"one too large goes alone", []*groupClaim{claim("a", "u", 127), claim("b", "v", 8)}, 1, 1, []string{"a/u"}, "b/v"},
		// 8 claims of 14 operations: 112 plus 8 for the outer ones.
		{"operations bound", many(10, 14), 8, 2, nil, "a8/u8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, q := takeClaims(slices.Clone(tt.queue))
			if len(got) != tt.take || len(q) != tt.left {
				t.Fatalf("took %v, left %v", name(got), name(q))
			}
			if tt.wantTaken != nil && !slices.Equal(name(got), tt.wantTaken) {
				t.Errorf("took %v, want %v", name(got), tt.wantTaken)
			}
			if tt.left > 0 && name(q)[0] != tt.wantLeftFst {
				t.Errorf("left %v first, want %s", name(q), tt.wantLeftFst)
			}
		})
	}
}
