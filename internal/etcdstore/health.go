package etcdstore

import (
	"context"
	"encoding/binary"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Ping proves the cluster commits a write now (readiness): without a
// quorum it fails within callTimeout. Each replica writes a key of its
// own, so probes never contend.
func (s *Store) Ping(ctx context.Context) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
	_, err := s.commit(ctx, nil, []clientv3.Op{clientv3.OpPut(s.k(kPing, s.id), string(v))})
	return err
}

// Writable reports whether writes are accepted; the cluster says so at
// each write (Ping is the probe), so the store keeps no flag.
func (s *Store) Writable() bool { return !s.closed.Load() }

// Size is the size of etcd's database as the first member that answers
// reports it, for metrics (0 when none does within a second).
func (s *Store) Size() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, ep := range s.cli.Endpoints() {
		if st, err := s.cli.Status(ctx, ep); err == nil {
			return st.DbSize
		}
	}
	return 0
}
