package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// enqueue adds a sync job in the caller's transaction, so the job is
// durable exactly when the change it serves is. IDs sort by creation.
func enqueue(tx *bolt.Tx, job prereg.SyncJob, now time.Time) (prereg.SyncJob, error) {
	b := tx.Bucket(bJobs)
	seq, err := b.NextSequence()
	if err != nil {
		return job, err
	}
	job.ID = fmt.Sprintf("job_%016x", seq)
	job.CreatedAt = now
	job.NotBefore = now
	return job, putJSON(b, []byte(job.ID), job)
}

// DueJobs returns up to limit jobs whose NotBefore has come, oldest first.
func (s *Store) DueJobs(ctx context.Context, now time.Time, limit int) ([]prereg.SyncJob, error) {
	var out []prereg.SyncJob
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bJobs).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var j prereg.SyncJob
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("decode job %s: %w", k, err)
			}
			if !j.NotBefore.After(now) {
				out = append(out, j)
			}
		}
		return nil
	})
	return out, err
}

// PendingJobs counts the jobs in the queue, for metrics and the CLI.
func (s *Store) PendingJobs(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bJobs).Stats().KeyN
		return nil
	})
	return n, err
}

// FinishJob removes a job and records its result on the registration it
// served; a job that is gone already (finished by another worker) is not
// an error. A grant keeps every role ID any of its syncs assigned, so that
// a force-revoke removes them all.
func (s *Store) FinishJob(ctx context.Context, jobID string, out prereg.SyncOutcome) error {
	state, errMsg := out.State, out.Error
	return s.update(ctx, func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bJobs)
		var job prereg.SyncJob
		ok, err := getJSON(jobs, []byte(jobID), &job)
		if err != nil || !ok {
			return err
		}
		if err := jobs.Delete([]byte(jobID)); err != nil {
			return err
		}
		now := s.now().UTC()
		if job.Kind == prereg.JobGrant {
			t := s.regTx(tx)
			r, err := t.get(job.RegistrationID)
			if err != nil {
				return err
			}
			// Only a grant still owned by the job's user takes the result:
			// a revoke or erasure in between wins.
			if r != nil && r.Status == prereg.StatusGranted && r.GrantedTo == job.UserID {
				old := *r
				r.Sync, r.SyncError = state, prereg.Truncate(errMsg)
				if out.RoleIDs != nil {
					r.SyncedRoleIDs = prereg.MergeIDs(r.SyncedRoleIDs, out.RoleIDs)
				}
				if err := t.put(&old, r); err != nil {
					return err
				}
			}
		}
		summary := fmt.Sprintf("%s job %s for %s: %s", job.Kind, jobID, job.UserID, state)
		if errMsg != "" {
			summary += " (" + prereg.Truncate(errMsg) + ")"
		}
		return addAudit(tx, now, "sync", prereg.AuditSynced, job.OrganizationID, job.RegistrationID, summary)
	})
}

// RetryJob keeps a job for a later attempt.
func (s *Store) RetryJob(ctx context.Context, jobID string, notBefore time.Time, attempts int, errMsg string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		jobs := tx.Bucket(bJobs)
		var job prereg.SyncJob
		ok, err := getJSON(jobs, []byte(jobID), &job)
		if err != nil || !ok {
			return err
		}
		job.NotBefore, job.Attempts, job.LastError = notBefore.UTC(), attempts, prereg.Truncate(errMsg)
		return putJSON(jobs, []byte(jobID), job)
	})
}

// RetrySync re-queues the Auth0 sync of a granted registration whose sync
// failed (or is stuck), and returns the job.
func (s *Store) RetrySync(ctx context.Context, registrationID, actor string) (prereg.SyncJob, error) {
	var job prereg.SyncJob
	err := s.update(ctx, func(tx *bolt.Tx) error {
		t := s.regTx(tx)
		r, err := t.find(registrationID)
		if err != nil {
			return err
		}
		if r.Status != prereg.StatusGranted {
			return prereg.Errorf(prereg.Conflict, "registration %s is not granted; only grants are synced", r.ID)
		}
		if !s.opts.SyncEnabled {
			return prereg.Errorf(prereg.Conflict, "Auth0 sync is not configured")
		}
		now := s.now().UTC()
		old := *r
		r.Sync, r.SyncError = prereg.SyncPending, ""
		if err := t.put(&old, r); err != nil {
			return err
		}
		job, err = enqueue(tx, prereg.GrantJob(r), now)
		if err != nil {
			return err
		}
		return addAudit(tx, now, actor, prereg.AuditSynced, r.OrganizationID, r.ID, "sync retry requested")
	})
	return job, err
}

// MarkVerificationSent records that a verification email is being sent to
// userID and reports false if one was already sent within the last period,
// so Auth0 is asked at most once per user per period.
func (s *Store) MarkVerificationSent(ctx context.Context, userID string, period time.Duration) (bool, error) {
	send := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bVerify)
		now := s.now()
		if v := b.Get([]byte(userID)); v != nil {
			last := time.Unix(int64(beUint(v)), 0)
			if now.Sub(last) < period {
				return nil
			}
		}
		send = true
		return b.Put([]byte(userID), be64(uint64(now.Unix())))
	})
	return send, err
}

// ForgetVerificationSent drops the mark MarkVerificationSent left for
// userID, when the send failed, so that the next login tries again.
func (s *Store) ForgetVerificationSent(ctx context.Context, userID string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bVerify).Delete([]byte(userID))
	})
}
