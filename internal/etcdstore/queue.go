package etcdstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/prereg/prereg/internal/prereg"
)

// leaseID returns the lease of this replica's session, starting one when
// there is none or the last one ended (its lease expired or was revoked).
func (s *Store) leaseID(ctx context.Context) (clientv3.LeaseID, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.session != nil {
		select {
		case <-s.session.Done():
			s.session = nil
		default:
			return s.session.Lease(), nil
		}
	}
	// The lease is granted here, within the call timeout: without a
	// quorum, NewSession would wait for its grant forever.
	cctx, cancel := s.call(ctx)
	defer cancel()
	lease, err := s.cli.Grant(cctx, sessionTTL)
	if err != nil {
		return 0, translate(err)
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return 0, translate(err)
	}
	s.session = sess
	return sess.Lease(), nil
}

// DueJobs returns up to limit jobs whose NotBefore has come, oldest first,
// that no other replica holds: each is taken by writing its claim key on
// this replica's lease, if absent (doc.go, "Sync jobs"). A job this
// replica holds already is returned again.
func (s *Store) DueJobs(ctx context.Context, now time.Time, limit int) ([]prereg.SyncJob, error) {
	lease, err := s.leaseID(ctx)
	if err != nil {
		return nil, err
	}
	prefix := s.k(kDue)
	to := prefix + stamp(now.Add(time.Nanosecond))
	var out []prereg.SyncJob
	from := prefix
	for len(out) < limit {
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Get(cctx, from, clientv3.WithRange(to), clientv3.WithLimit(int64(limit)), clientv3.WithKeysOnly())
		cancel()
		if err != nil {
			return nil, translate(err)
		}
		for _, kv := range resp.Kvs {
			id := string(kv.Key[len(prefix)+12:])
			job, ok, err := s.takeJob(ctx, id, lease)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, job)
				if len(out) == limit {
					break
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return out, nil
}

// takeJob claims job id for this replica unless another holds it, and
// returns it.
func (s *Store) takeJob(ctx context.Context, id string, lease clientv3.LeaseID) (prereg.SyncJob, bool, error) {
	var job prereg.SyncJob
	own, jk := s.k(kOwn, id), s.k(kJob, id)
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Txn(cctx).
		If(clientv3.Compare(clientv3.CreateRevision(own), "=", 0), clientv3.Compare(clientv3.CreateRevision(jk), ">", 0)).
		Then(clientv3.OpPut(own, s.id, clientv3.WithLease(lease)), clientv3.OpGet(jk)).
		Else(clientv3.OpGet(own), clientv3.OpGet(jk)).Commit()
	if err != nil {
		return job, false, translate(err)
	}
	if !resp.Succeeded {
		o := resp.Responses[0].GetResponseRange().Kvs
		if len(o) == 0 || string(o[0].Value) != s.id || o[0].Lease != int64(lease) {
			return job, false, nil // another replica's, or gone
		}
	}
	kvs := resp.Responses[1].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return job, false, nil
	}
	if err := json.Unmarshal(kvs[0].Value, &job); err != nil {
		return job, false, fmt.Errorf("decode job %s: %w", id, err)
	}
	return job, true, nil
}

// PendingJobs counts the jobs in the queue, for metrics and the CLI.
func (s *Store) PendingJobs(ctx context.Context) (int, error) {
	n, err := s.count(ctx, s.k(kJob))
	return int(n), err
}

// count counts the keys under prefix without reading them.
func (s *Store) count(ctx context.Context, prefix string) (int64, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	resp, err := s.cli.Get(cctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, translate(err)
	}
	return resp.Count, nil
}

// jobOpsDelete are the operations that remove job (and this replica's
// claim on it).
func (s *Store) jobOpsDelete(job *prereg.SyncJob) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpDelete(s.k(kJob, job.ID)),
		clientv3.OpDelete(s.k(kDue, stamp(job.NotBefore), job.ID)),
		clientv3.OpDelete(s.k(kOwn, job.ID)),
	}
}

// FinishJob removes a job and records its result on the registration it
// served; a job that is gone already (finished by another worker) is not
// an error.
func (s *Store) FinishJob(ctx context.Context, jobID string, out prereg.SyncOutcome) error {
	return retry(ctx, "finish job", func() error {
		var job prereg.SyncJob
		ok, mod, err := s.getJSON(ctx, s.k(kJob, jobID), &job)
		if err != nil || !ok {
			return err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k(kJob, jobID)), "=", mod)}
		ops := s.jobOpsDelete(&job)
		now := s.now().UTC()
		if job.Kind == prereg.JobGrant {
			st, err := s.find(ctx, job.RegistrationID)
			if err != nil && prereg.ErrorCode(err) != prereg.NotFound {
				return err
			}
			cmps = append(cmps, s.unchanged(st))
			// Only a grant still owned by the job's user takes the
			// result: a revoke or erasure in between wins.
			if r := st.r; r != nil && r.Status == prereg.StatusGranted && r.GrantedTo == job.UserID {
				nr := *r
				nr.Sync, nr.SyncError = out.State, prereg.Truncate(out.Error)
				if out.RoleIDs != nil {
					nr.SyncedRoleIDs = prereg.MergeIDs(r.SyncedRoleIDs, out.RoleIDs)
				}
				pops, err := s.putOps(st.k, r, &nr)
				if err != nil {
					return err
				}
				ops = append(ops, pops...)
			}
		}
		summary := fmt.Sprintf("%s job %s for %s: %s", job.Kind, jobID, job.UserID, out.State)
		if out.Error != "" {
			summary += " (" + prereg.Truncate(out.Error) + ")"
		}
		ops = append(ops, s.auditOp(now, "sync", prereg.AuditSynced, job.OrganizationID, job.RegistrationID, summary))
		_, err = s.commit(ctx, cmps, ops)
		return err
	})
}

// RetryJob keeps a job for a later attempt, and lets any replica take it
// when it is due. A job another replica took over meanwhile (this one's
// lease ended) is that replica's: it is left alone.
func (s *Store) RetryJob(ctx context.Context, jobID string, notBefore time.Time, attempts int, errMsg string) error {
	own := s.k(kOwn, jobID)
	return retry(ctx, "retry job", func() error {
		var job prereg.SyncJob
		ok, mod, err := s.getJSON(ctx, s.k(kJob, jobID), &job)
		if err != nil || !ok {
			return err
		}
		cctx, cancel := s.call(ctx)
		o, err := s.cli.Get(cctx, own)
		cancel()
		if err != nil {
			return translate(err)
		}
		var ownMod int64
		if len(o.Kvs) == 1 {
			if string(o.Kvs[0].Value) != s.id {
				return nil
			}
			ownMod = o.Kvs[0].ModRevision
		}
		ops := s.jobOpsDelete(&job)
		job.NotBefore, job.Attempts, job.LastError = notBefore.UTC(), attempts, prereg.Truncate(errMsg)
		ops = append(ops[1:], // the job is put again, not deleted
			clientv3.OpPut(s.k(kJob, jobID), mustJSON(job)),
			clientv3.OpPut(s.k(kDue, stamp(job.NotBefore), jobID), ""))
		if ops[0].KeyBytes() != nil && string(ops[0].KeyBytes()) == s.k(kDue, stamp(job.NotBefore), jobID) {
			ops = ops[1:] // same due key: put only
		}
		_, err = s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.k(kJob, jobID)), "=", mod), clientv3.Compare(clientv3.ModRevision(own), "=", ownMod)}, ops)
		return err
	})
}

// RetrySync re-queues the Auth0 sync of a granted registration whose sync
// failed (or is stuck), and returns the job.
func (s *Store) RetrySync(ctx context.Context, registrationID, actor string) (prereg.SyncJob, error) {
	var job prereg.SyncJob
	err := retry(ctx, "retry sync", func() error {
		st, err := s.find(ctx, registrationID)
		if err != nil {
			return err
		}
		r := st.r
		if r.Status != prereg.StatusGranted {
			return prereg.Errorf(prereg.Conflict, "registration %s is not granted; only grants are synced", r.ID)
		}
		if !s.opts.SyncEnabled {
			return prereg.Errorf(prereg.Conflict, "Auth0 sync is not configured")
		}
		now := s.now().UTC()
		nr := *r
		nr.Sync, nr.SyncError = prereg.SyncPending, ""
		ops, err := s.putOps(st.k, r, &nr)
		if err != nil {
			return err
		}
		var jops []clientv3.Op
		job, jops = s.jobOps(prereg.GrantJob(&nr), now)
		ops = append(append(ops, jops...), s.auditOp(now, actor, prereg.AuditSynced, r.OrganizationID, r.ID, "sync retry requested"))
		_, err = s.commit(ctx, []clientv3.Cmp{s.unchanged(st)}, ops)
		return err
	})
	return job, err
}

// MarkVerificationSent records that a verification email is being sent to
// userID and reports false if one was already sent within the last period,
// so Auth0 is asked at most once per user per period.
func (s *Store) MarkVerificationSent(ctx context.Context, userID string, period time.Duration) (bool, error) {
	send := false
	k := s.k(kVerify, userID)
	err := retry(ctx, "verification mark", func() error {
		cctx, cancel := s.call(ctx)
		resp, err := s.cli.Get(cctx, k)
		cancel()
		if err != nil {
			return translate(err)
		}
		now := s.now()
		var mod int64
		if len(resp.Kvs) == 1 {
			mod = resp.Kvs[0].ModRevision
			if v := resp.Kvs[0].Value; len(v) == 8 && now.Sub(time.Unix(int64(binary.BigEndian.Uint64(v)), 0)) < period {
				send = false
				return nil
			}
		}
		val := binary.BigEndian.AppendUint64(nil, uint64(now.Unix()))
		_, err = s.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k), "=", mod)}, []clientv3.Op{clientv3.OpPut(k, string(val))})
		send = err == nil
		return err
	})
	return send, err
}

// ForgetVerificationSent drops the mark MarkVerificationSent left for
// userID, when the send failed, so that the next login tries again.
func (s *Store) ForgetVerificationSent(ctx context.Context, userID string) error {
	cctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.cli.Delete(cctx, s.k(kVerify, userID))
	return translate(err)
}

// EndSession revokes this replica's lease, as its death would after the
// lease's time to live: its claims on jobs go at once.
func (s *Store) EndSession(ctx context.Context) error {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.session == nil {
		return nil
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	_, err := s.cli.Revoke(cctx, s.session.Lease())
	s.session.Orphan()
	s.session = nil
	return translate(err)
}
