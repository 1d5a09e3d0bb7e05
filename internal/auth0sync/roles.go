package auth0sync

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auth0/go-auth0/management"

	"github.com/prereg/prereg/internal/prereg"
)

// roleIDPattern is what an Auth0 role ID looks like; anything else is a
// name to resolve.
var roleIDPattern = regexp.MustCompile(`^rol_[A-Za-z0-9]+$`)

// roleCache remembers resolved role names for a while. Unknown names are
// not remembered: an admin who creates the missing role should not wait.
type roleCache struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	ids      map[string]cachedRole
	inflight map[string]*roleLookup
}

type cachedRole struct {
	id      string
	expires time.Time
}

// roleLookup lets concurrent resolutions of one name share one request.
type roleLookup struct {
	done chan struct{}
	id   string
	err  error
}

func newRoleCache(ttl time.Duration, now func() time.Time) *roleCache {
	return &roleCache{ttl: ttl, now: now, ids: map[string]cachedRole{}, inflight: map[string]*roleLookup{}}
}

// resolveRoles maps each role to its ID. Names Auth0 does not know are
// returned separately; any other failure is an error.
func (c *Client) resolveRoles(ctx context.Context, roles []string) (ids, unknown []string, err error) {
	for _, r := range roles {
		if roleIDPattern.MatchString(r) {
			ids = appendUnique(ids, r)
			continue
		}
		id, err := c.resolveRole(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		if id == "" {
			unknown = append(unknown, r)
			continue
		}
		ids = appendUnique(ids, id)
	}
	return ids, unknown, nil
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// resolveRole returns the ID of the role with this name, "" when Auth0
// has none.
func (c *Client) resolveRole(ctx context.Context, name string) (string, error) {
	rc := c.roles
	rc.mu.Lock()
	if e, ok := rc.ids[name]; ok && rc.now().Before(e.expires) {
		rc.mu.Unlock()
		return e.id, nil
	}
	if l, ok := rc.inflight[name]; ok {
		rc.mu.Unlock()
		select {
		case <-l.done:
			return l.id, l.err
		case <-ctx.Done():
			return "", prereg.Wrap(prereg.Unavailable, ctx.Err(), "Auth0 role lookup: no answer in time")
		}
	}
	l := &roleLookup{done: make(chan struct{})}
	rc.inflight[name] = l
	rc.mu.Unlock()

	l.id, l.err = c.lookupRole(ctx, name)

	rc.mu.Lock()
	delete(rc.inflight, name)
	if l.err == nil && l.id != "" {
		rc.ids[name] = cachedRole{id: l.id, expires: rc.now().Add(rc.ttl)}
	}
	rc.mu.Unlock()
	close(l.done)
	return l.id, l.err
}

// lookupRole asks Auth0. name_filter matches substrings, case-insensitively,
// so the answer is checked for the exact name; when no role has exactly
// this name, a single role whose name differs only in case is accepted.
// Several such roles are ambiguous, hence an error.
func (c *Client) lookupRole(ctx context.Context, name string) (string, error) {
	var folded []string
	for page := 0; page < maxRoleLookupPages; page++ {
		var list *management.RoleList
		err := c.call(ctx, "role lookup", func(ctx context.Context) error {
			var err error
			list, err = c.api.Role.List(ctx, management.Parameter("name_filter", name), management.Page(page), management.PerPage(100))
			return err
		})
		if err != nil {
			return "", err
		}
		for _, r := range list.Roles {
			switch {
			case r.GetName() == name:
				return r.GetID(), nil
			case strings.EqualFold(r.GetName(), name):
				folded = appendUnique(folded, r.GetID())
			}
		}
		if !list.HasNext() || len(list.Roles) == 0 {
			break
		}
	}
	switch len(folded) {
	case 0:
		return "", nil
	case 1:
		return folded[0], nil
	}
	return "", prereg.Errorf(prereg.Invalid, "role name %s matches %d Auth0 roles that differ only in case; use the role ID", strconv.Quote(name), len(folded))
}

// unknownRolesError is the permanent failure of a job naming roles Auth0
// does not have.
func unknownRolesError(unknown []string) error {
	q := make([]string, len(unknown))
	for i, u := range unknown {
		q[i] = strconv.Quote(prereg.Truncate(u))
	}
	noun := "role"
	if len(q) > 1 {
		noun = "roles"
	}
	return prereg.Errorf(prereg.Invalid, "unknown Auth0 %s %s: create it in Auth0 or register the role ID", noun, strings.Join(q, ", "))
}

// SyncGrant writes one grant into Auth0: a tenant-wide grant assigns the
// roles to the user; an organization grant makes the user a member and
// assigns the roles as member roles. Known roles are assigned even when
// some names are unknown; the unknown ones are then reported as an
// Invalid error naming them, which fails the job for good. It returns the
// role IDs it assigned (or tried to), for a later revoke to remove.
func (c *Client) SyncGrant(ctx context.Context, job prereg.SyncJob) ([]string, error) {
	if job.UserID == "" {
		return nil, prereg.Errorf(prereg.Invalid, "sync job %s has no user_id", job.ID)
	}
	ids, unknown, err := c.resolveRoles(ctx, job.Roles)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, c.assign(ctx, job, ids, unknown)
}

// assign makes the calls of SyncGrant for resolved roles.
func (c *Client) assign(ctx context.Context, job prereg.SyncJob, ids, unknown []string) error {
	var err error
	if job.OrganizationID == "" {
		if len(ids) > 0 {
			err = c.call(ctx, "role assignment", func(ctx context.Context) error {
				return c.api.User.AssignRoles(ctx, job.UserID, roleRefs(ids))
			})
		}
	} else {
		err = c.call(ctx, "organization membership", func(ctx context.Context) error {
			return c.api.Organization.AddMembers(ctx, job.OrganizationID, []string{job.UserID})
		})
		if err == nil && len(ids) > 0 {
			err = c.call(ctx, "organization role assignment", func(ctx context.Context) error {
				return c.api.Organization.AssignMemberRoles(ctx, job.OrganizationID, job.UserID, ids)
			})
		}
	}
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return unknownRolesError(unknown)
	}
	return nil
}

// RevokeGrant removes the roles a grant assigned: the user's roles, or the
// member roles of the organization (the membership stays, since other
// grants or Auth0 itself may rely on it), then the grant from the user's
// app_metadata. A user or organization Auth0 no longer has is treated as
// done: there is nothing left to remove. Both steps are idempotent, so a
// retry simply runs both again.
func (c *Client) RevokeGrant(ctx context.Context, job prereg.SyncJob) error {
	if job.UserID == "" {
		return prereg.Errorf(prereg.Invalid, "sync job %s has no user_id", job.ID)
	}
	err := c.removeRoles(ctx, job)
	if err != nil && !permanent(prereg.ErrorCode(err)) {
		return err
	}
	// A role that cannot be removed for good still lets the grant leave
	// app_metadata; the role error is reported after.
	if job.RegistrationID != "" {
		if merr := c.forgetGrant(ctx, job.UserID, job.RegistrationID); merr != nil {
			return merr
		}
	}
	return err
}

// removeRoles is RevokeGrant's first step.
func (c *Client) removeRoles(ctx context.Context, job prereg.SyncJob) error {
	ids, unknown, err := c.resolveRoles(ctx, job.Roles)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		if job.OrganizationID == "" {
			err = c.call(ctx, "role removal", func(ctx context.Context) error {
				return c.api.User.RemoveRoles(ctx, job.UserID, roleRefs(ids))
			})
		} else {
			err = c.call(ctx, "organization role removal", func(ctx context.Context) error {
				return c.api.Organization.DeleteMemberRoles(ctx, job.OrganizationID, job.UserID, ids)
			})
		}
	}
	if prereg.ErrorCode(err) == prereg.NotFound {
		err = nil
	}
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return unknownRolesError(unknown)
	}
	return nil
}

func roleRefs(ids []string) []*management.Role {
	out := make([]*management.Role, len(ids))
	for i := range ids {
		out[i] = &management.Role{ID: &ids[i]}
	}
	return out
}

// String keeps secrets out of accidental %v prints of a Client.
func (c *Client) String() string { return fmt.Sprintf("auth0sync.Client(%p)", c) }
