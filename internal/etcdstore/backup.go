package etcdstore

import (
	"bufio"
	"context"
	"encoding/json"
	"io"

	"github.com/prereg/prereg/internal/prereg"
)

// writeDump writes the store's dump to w, one JSON item a line.
func writeDump(ctx context.Context, s *Store, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := s.Dump(ctx, func(item prereg.DumpItem) error { return enc.Encode(item) }); err != nil {
		return err
	}
	return bw.Flush()
}
