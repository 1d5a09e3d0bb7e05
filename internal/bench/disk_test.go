package bench

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// BenchmarkSyncedPages writes 64 pages of 4 KiB into a file and syncs it,
// as a bbolt commit writes its dirty pages: at scattered places (where
// bbolt reuses the pages freed by earlier commits, all over the file) or
// in one contiguous run. On the machine of the README's figures the
// scattered pages cost about ten times as much each, which is why a grant
// costs what it does: the pages it dirties, not the bytes.
//
//	go test -run '^$' -bench BenchmarkSyncedPages ./internal/bench/
func BenchmarkSyncedPages(b *testing.B) {
	const (
		pageSize  = 4096
		filePages = 16384 // 64 MiB
		pages     = 64
	)
	for _, layout := range []string{"scattered", "contiguous"} {
		b.Run(layout, func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "pages"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			// Write the whole file once so that every block is allocated,
			// as in a store file, and later writes overwrite in place.
			chunk := make([]byte, 1<<20)
			for off := int64(0); off < filePages*pageSize; off += int64(len(chunk)) {
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			page := make([]byte, pageSize)
			at := make([]int64, pages)
			b.ResetTimer()
			for b.Loop() {
				start := rand.Int64N(filePages - pages)
				for i := range at {
					if layout == "scattered" {
						at[i] = rand.Int64N(filePages)
					} else {
						at[i] = start + int64(i)
					}
				}
				slices.Sort(at) // bbolt writes its pages in page order too
				for _, p := range at {
					if _, err := f.WriteAt(page, p*pageSize); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*pages), "µs/page")
		})
	}
}
