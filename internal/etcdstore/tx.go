package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// maxOps bounds the operations of one transaction: etcd refuses more
// than --max-txn-ops (128 by default) compares or operations.
const maxOps = 128

// maxAttempts bounds the retries of a write whose compares failed
// (another replica wrote the same keys in between): contention that
// lasts that long is answered as Unavailable, to be retried later.
const maxAttempts = 50

// errRetry makes retry read again and run the write once more.
var errRetry = fmt.Errorf("etcdstore: compare failed")

// retry runs attempt until it returns anything but errRetry: the
// optimistic concurrency of doc.go, "Writes".
func retry(ctx context.Context, what string, attempt func() error) error {
	for range maxAttempts {
		err := attempt()
		if err != errRetry {
			return err
		}
		if ctx.Err() != nil {
			return translate(ctx.Err())
		}
	}
	return prereg.Errorf(prereg.Unavailable, "%s: too much contention on the same keys; try again", what)
}

// commit runs one transaction of cmps and ops (plus reads, whose answers
// it returns) and reports errRetry when a compare failed.
func (s *Store) commit(ctx context.Context, cmps []clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	if len(ops) > maxOps || len(cmps) > maxOps {
		return nil, prereg.Errorf(prereg.Internal, "a transaction of %d compares and %d operations is beyond etcd's limit", len(cmps), len(ops))
	}
	ctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.writer().Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return nil, translate(err)
	}
	if !resp.Succeeded {
		return resp, errRetry
	}
	return resp, nil
}

// auditOp is the operation that appends an entry to the audit trail, in
// the transaction of the change it records.
func (s *Store) auditOp(at time.Time, actor string, action prereg.AuditAction, org, regID, summary string) clientv3.Op {
	id := s.orderedID()
	e := prereg.AuditEntry{ID: "aud_" + id, At: at.UTC(), Actor: actor, Action: action, OrganizationID: org, RegistrationID: regID, Summary: summary}
	raw, _ := json.Marshal(e)
	return clientv3.OpPut(s.k(kAud, id), string(raw))
}

// jobOps are the operations that enqueue job, in the transaction of the
// change it serves, and the job as queued.
func (s *Store) jobOps(job prereg.SyncJob, now time.Time) (prereg.SyncJob, []clientv3.Op) {
	job.ID = "job_" + s.orderedID()
	job.CreatedAt, job.NotBefore = now, now
	raw, _ := json.Marshal(job)
	return job, []clientv3.Op{
		clientv3.OpPut(s.k(kJob, job.ID), string(raw)),
		clientv3.OpPut(s.k(kDue, stamp(job.NotBefore), job.ID), ""),
	}
}

// getJSON reads key into v; false when there is no such key.
func (s *Store) getJSON(ctx context.Context, key string, v any) (bool, int64, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return false, 0, translate(err)
	}
	if len(resp.Kvs) == 0 {
		return false, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return false, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, resp.Kvs[0].ModRevision, nil
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // prereg's own types always encode
	}
	return string(raw)
}
