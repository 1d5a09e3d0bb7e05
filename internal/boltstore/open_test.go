package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testfs"
)

// A store that cannot be opened says why, in the operating system's words.
func TestOpenErrorNamesTheCause(t *testing.T) {
	ro, roCause := testfs.ReadOnly(t)
	for name, c := range map[string]struct{ path, cause string }{
		"missing directory":  {filepath.Join(t.TempDir(), "nope", "prereg.db"), "no such file or directory"},
		"read-only location": {filepath.Join(ro, "prereg.db"), roCause},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := boltstore.Open(c.path, boltstore.Options{})
			want := "cannot open the store " + c.path + ": " + c.cause
			if msg := prereg.ErrorMessage(err); msg != want {
				t.Fatalf("got %q, want %q", msg, want)
			}
		})
	}
}
