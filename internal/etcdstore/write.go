package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/prereg"
)

// Put creates or updates one registration (CONTRACT §1); in must be
// normalised and valid. A write that conflicts with a granted record
// returns a Conflict error and the stored record.
func (s *Store) Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error) {
	k := prereg.RegistrationKey(in.OrganizationID, in.Email)
	var (
		out    prereg.Registration
		change prereg.Change
	)
	err := retry(ctx, "write", func() error {
		st, err := s.load(ctx, k)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		r, c, err := prereg.ApplyKey(st.r, in, k, source, now)
		out, change = r, c
		if err != nil || c == prereg.Unchanged {
			return err
		}
		ops, err := s.putOps(k, st.r, &r)
		if err != nil {
			return err
		}
		ops = append(ops, s.writeAudit(now, actor, &r, c))
		_, err = s.commit(ctx, []clientv3.Cmp{s.unchanged(st)}, ops)
		return err
	})
	if err != nil && prereg.ErrorCode(err) == prereg.Conflict {
		return out.View(s.now()), prereg.Rejected, err
	}
	return out.View(s.now()), change, err
}

// writeAudit is the audit entry of a write that changed r.
func (s *Store) writeAudit(now time.Time, actor string, r *prereg.Registration, c prereg.Change) clientv3.Op {
	action := prereg.AuditCreated
	if c == prereg.Updated {
		action = prereg.AuditUpdated
	}
	summary := fmt.Sprintf("%s for %s with roles %s", c, prereg.MaskEmail(r.Email), strings.Join(r.Roles, "|"))
	return s.auditOp(now, actor, action, r.OrganizationID, r.ID, summary)
}

// Revoke revokes a registration and returns it. A granted one needs force
// (its granted_to is kept for the record, and with Auth0 sync on, a job
// removes the roles it assigned).
func (s *Store) Revoke(ctx context.Context, id string, force bool, actor string) (prereg.Registration, []prereg.SyncJob, error) {
	var (
		out  prereg.Registration
		jobs []prereg.SyncJob
	)
	err := retry(ctx, "revoke", func() error {
		jobs = nil
		st, err := s.find(ctx, id)
		if err != nil {
			return err
		}
		old := st.r
		now := s.now().UTC()
		out = *old
		var ops []clientv3.Op
		switch old.Status {
		case prereg.StatusRevoked:
			out = old.View(now)
			return nil
		case prereg.StatusGranted:
			if !force {
				return prereg.Errorf(prereg.Conflict, "registration %s is granted to a user; revoke with force=true to take it back", id)
			}
			// A synced grant gets its revoke job even from a store opened
			// without sync (a command): the service runs it later.
			if s.opts.SyncEnabled || old.Sync != prereg.SyncNone {
				job, jops := s.jobOps(prereg.RevokeJob(old), now)
				ops = append(ops, jops...)
				jobs = append(jobs, job)
			}
		}
		out.Status = prereg.StatusRevoked
		out.UpdatedAt = now
		pops, err := s.putOps(st.k, old, &out)
		if err != nil {
			return err
		}
		summary := "revoked"
		if old.Status == prereg.StatusGranted {
			summary = "force-revoked a grant to " + old.GrantedTo
		}
		ops = append(append(ops, pops...), s.auditOp(now, actor, prereg.AuditRevoked, out.OrganizationID, id, summary))
		_, err = s.commit(ctx, []clientv3.Cmp{s.unchanged(st)}, ops)
		return err
	})
	return out, jobs, err
}
