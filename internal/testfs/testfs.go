// Package testfs gives tests a real, tiny file system, so "disk full" is
// the kernel's ENOSPC and not a mock.
package testfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Tiny mounts a tmpfs of the given size (e.g. "512k") in a temp dir and
// unmounts it at cleanup. It needs root, which CI has; elsewhere the test
// is skipped.
func Tiny(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// Grow resizes a tmpfs made by Tiny, freeing room without unmounting.
func Grow(t testing.TB, dir, size string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v %s", dir, err, out)
	}
}
