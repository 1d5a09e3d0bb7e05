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
	for name, where := range map[string]func(t *testing.T) (path, cause string){
		"missing directory": func(t *testing.T) (string, string) {
			return filepath.Join(t.TempDir(), "nope", "prereg.db"), "no such file or directory"
		},
		"read-only location": func(t *testing.T) (string, string) {
			dir, cause := testfs.ReadOnly(t)
			return filepath.Join(dir, "prereg.db"), cause
		},
	} {
		t.Run(name, func(t *testing.T) {
			path, cause := where(t)
			_, err := boltstore.Open(path, boltstore.Options{})
			want := "cannot open the store " + path + ": " + cause
			if msg := prereg.ErrorMessage(err); msg != want {
				t.Fatalf("got %q, want %q", msg, want)
			}
		})
	}
}
