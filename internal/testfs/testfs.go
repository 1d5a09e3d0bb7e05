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

// ReadOnly returns a directory no store can be created in: a read-only
// tmpfs when running as root (whom permissions do not stop), otherwise a
// directory without write permission. It returns the error text expected.
func ReadOnly(t testing.TB) (dir, cause string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return dir, "permission denied"
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a read-only tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir, "read-only file system"
}
