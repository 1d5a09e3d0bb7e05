package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testfs"
)

func TestDiskFullFailsFastAndRecovers(t *testing.T) {
	dir := testfs.Tiny(t, "512k")
	s, err := boltstore.Open(filepath.Join(dir, "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	batch := func(from int) error {
		var items []prereg.Input
		for i := range 200 {
			items = append(items, prereg.Input{Email: fmt.Sprintf("fill%07d@example.com", from+i), Roles: []string{"a-fairly-long-role-name-to-fill-pages"}})
		}
		_, err := s.ApplyBatch(ctx, items, "import:imp_fill", "test", false)
		return err
	}
	written := 0
	for ; written < 100000; written += 200 {
		if err := batch(written); err != nil {
			if prereg.ErrorCode(err) != prereg.Unavailable {
				t.Fatalf("disk full answered %v, want unavailable", err)
			}
			break
		}
	}
	if s.Writable() {
		t.Fatalf("store still writable after %d rows on a 512k file system", written)
	}
	// Writes now fail at once, refused before any commit is tried (the
	// gate's error, not the file system's); reads still work.
	_, _, err = s.Put(ctx, prereg.Input{Email: "late@example.com", Roles: []string{"r"}}, "api", "test")
	if !errors.Is(err, boltstore.ErrUnwritableForTest) {
		t.Fatalf("write on full disk: %v, want the store's refusal", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded on a full disk")
	}
	if _, err := s.Get(ctx, prereg.RegistrationID("", "fill0000000@example.com")); err != nil {
		t.Fatalf("read on full disk: %v", err)
	}
	// Give the file system room: the store resumes by itself.
	testfs.Grow(t, dir, "64m")
	s.WaitWritableForTest(t)
	if _, _, err := s.Put(ctx, prereg.Input{Email: "late@example.com", Roles: []string{"r"}}, "api", "test"); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if errs := s.Check(); len(errs) > 0 {
		t.Fatalf("Tx.Check: %v", errs)
	}
	// Every batch that reported success is there.
	st, _ := s.Stats(ctx, prereg.StatsFilter{})
	if st.Overall.Total != int64(written)+1 {
		t.Fatalf("after recovery %d registrations, want %d", st.Overall.Total, written+1)
	}
}
