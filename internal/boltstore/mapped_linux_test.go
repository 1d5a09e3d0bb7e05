package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// statmShared is the process's resident file pages, in bytes.
func statmShared(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	var size, res, shared int64
	if _, err := fmt.Sscan(string(raw), &size, &res, &shared); err != nil {
		t.Fatal(err)
	}
	return shared * int64(os.Getpagesize())
}

// Reading the whole store maps its pages into the process; ReleaseMapped
// gives them back while readers keep reading the same data.
func TestReleaseMapped(t *testing.T) {
	s := open(t, boltstore.Options{NoSync: true})
	ctx := context.Background()
	var items []prereg.Input
	for i := range 40000 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), OrganizationID: "org_release", Roles: []string{"viewer", "billing-admin"}})
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_r", "t", false); err != nil {
		t.Fatal(err)
	}
	size := s.Size()
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		n := 0
		if err := s.Each(ctx, boltstore.Filter{}, func(prereg.Registration) error { n++; return nil }); err != nil || n != len(items) {
			t.Errorf("read %d records: %v", n, err)
		}
	}
	before := statmShared(t)
	readAll()
	mapped := statmShared(t)
	if mapped-before < size/2 {
		t.Fatalf("reading a %d-byte store mapped only %d bytes: the test measures nothing", size, mapped-before)
	}
	// Readers run while the pages are dropped under them.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(readAll)
	}
	for range 5 {
		if err := s.ReleaseMapped(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	after := statmShared(t)
	if after > before+size/4 {
		t.Fatalf("resident file pages: %d before reading, %d after, %d after release (store %d bytes)", before, mapped, after, size)
	}
	readAll() // the data is all still there
	if errs := s.Check(); len(errs) > 0 {
		t.Fatal(errs)
	}
}
