package etcdstore

import (
	"context"
	"io"

	"github.com/prereg/prereg/internal/dumpio"
)

// writeDump writes the store's dump to w as a dump stream (package
// dumpio), which prereg restore reads into either kind of store.
func writeDump(ctx context.Context, s *Store, w io.Writer) error {
	dw := dumpio.NewWriter(w)
	if err := s.Dump(ctx, dw.Write); err != nil {
		return err
	}
	return dw.Close()
}
