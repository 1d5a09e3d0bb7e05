package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/etcdtest"
)

// A write through one member is read through every other.
func TestStartThreeMembers(t *testing.T) {
	c := etcdtest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eps := c.Endpoints()
	if len(eps) != 3 {
		t.Fatalf("endpoints %v", eps)
	}
	if _, err := c.ClientOf(t, eps[0]).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps[1:] {
		got, err := c.ClientOf(t, ep).Get(ctx, "k")
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v" {
			t.Fatalf("read through %s: %v %v", ep, got, err)
		}
	}
}
