package boltstore_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

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

// seedRelease writes 40 000 registrations, a store of a few megabytes.
func seedRelease(t *testing.T, s *boltstore.Store) []prereg.Input {
	t.Helper()
	var items []prereg.Input
	for i := range 40000 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), OrganizationID: "org_release", Roles: []string{"viewer", "billing-admin"}})
	}
	if _, err := s.ApplyBatch(context.Background(), items, "import:imp_r", "t", false); err != nil {
		t.Fatal(err)
	}
	return items
}

// Reading the whole store maps its pages into the process; ReleaseMapped
// gives them back while readers keep reading the same data.
func TestReleaseMapped(t *testing.T) {
	s := open(t, boltstore.Options{NoSync: true})
	ctx := context.Background()
	items := seedRelease(t, s)
	size := s.Size()
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		n := 0
		if err := s.Each(ctx, prereg.Filter{}, func(prereg.Registration) error { n++; return nil }); err != nil || n != len(items) {
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

// With ReleaseEvery, the service's store gives back what a read mapped by
// itself, shortly after the reads stop, and the fill of the login sets
// leaves nothing mapped behind it.
func TestReleaseEvery(t *testing.T) {
	path := t.TempDir() + "/prereg.db"
	s, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	items := seedRelease(t, s)
	size := s.Size()
	s.Close()
	before := statmShared(t)

	s = openPath(t, path, boltstore.Options{LoginSets: true, ReleaseEvery: 20 * time.Millisecond})
	waitReleased := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); statmShared(t) > before+size/4; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: resident file pages %d, %d before (store %d bytes)", what, statmShared(t), before, size)
			}
		}
	}
	waitReleased("after the fill")
	n := 0
	if err := s.Each(ctx, prereg.Filter{}, func(prereg.Registration) error { n++; return nil }); err != nil || n != len(items) {
		t.Fatalf("read %d records: %v", n, err)
	}
	if mapped := statmShared(t); mapped-before < size/2 {
		// The ticker may have run in between; it did its job then.
		t.Logf("reading mapped %d bytes only", mapped-before)
	}
	waitReleased("after reading everything")
}
