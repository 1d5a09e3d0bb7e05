package etcdstore

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// eachKV calls fn for every key under prefix, in key order, in pages read
// at one revision (rev, or the first page's when 0); it returns that
// revision.
func (s *Store) eachKV(ctx context.Context, prefix string, rev int64, fn func(*mvccKV) error) error {
	_, err := s.eachKVRev(ctx, prefix, rev, false, fn)
	return err
}

func (s *Store) eachKVRev(ctx context.Context, prefix string, rev int64, keysOnly bool, fn func(*mvccKV) error) (int64, error) {
	from, to := prefix, end(prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(to), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		if keysOnly {
			opts = append(opts, clientv3.WithKeysOnly())
		}
		cctx, cancel := context.WithTimeout(ctx, scanTimeout)
		resp, err := s.cli.Get(cctx, from, opts...)
		cancel()
		if err != nil {
			return rev, translate(err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return rev, err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
