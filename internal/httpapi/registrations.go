package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Registrations are the stored registrations (package boltstore).
type Registrations interface {
	Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error)
	Get(ctx context.Context, id string) (prereg.Registration, error)
	List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error)
	// Each calls fn for every registration f selects, from one snapshot.
	Each(ctx context.Context, f prereg.Filter, fn func(prereg.Registration) error) error
	Revoke(ctx context.Context, id string, force bool, actor string) (prereg.Registration, []prereg.SyncJob, error)
}

// SyncQueue is the durable queue of Auth0 sync jobs.
type SyncQueue interface {
	// RetrySync queues the sync of a granted registration again.
	RetrySync(ctx context.Context, registrationID, actor string) (prereg.SyncJob, error)
}

// registrationBody is a registration as written through the API. The
// read-only fields of the record are accepted (so a record read can be
// posted back) and ignored; any other unknown field is an error.
type registrationBody struct {
	Email          string          `json:"email"`
	OrganizationID string          `json:"organization_id"`
	Roles          []string        `json:"roles"`
	Connection     string          `json:"connection"`
	ExpiresAt      *string         `json:"expires_at"`
	ID             json.RawMessage `json:"id"`
	Status         json.RawMessage `json:"status"`
	GrantedTo      json.RawMessage `json:"granted_to"`
	GrantedAt      json.RawMessage `json:"granted_at"`
	CreatedAt      json.RawMessage `json:"created_at"`
	UpdatedAt      json.RawMessage `json:"updated_at"`
	Source         json.RawMessage `json:"source"`
	Sync           json.RawMessage `json:"sync"`
	SyncError      json.RawMessage `json:"sync_error"`
}

func (s *Server) createRegistration(c *gin.Context) {
	p := principal(c)
	body, err := readBody(c, MaxAdminBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	var b registrationBody
	if err := decodeJSON(body, &b, true); err != nil {
		s.fail(c, err)
		return
	}
	in := prereg.Input{Email: b.Email, OrganizationID: b.OrganizationID, Roles: b.Roles, Connection: b.Connection}
	if b.ExpiresAt != nil {
		t, err := prereg.ParseExpiry(*b.ExpiresAt)
		if err != nil {
			s.fail(c, &prereg.Error{Code: prereg.Invalid, Message: prereg.ErrorMessage(err),
				Details: []prereg.FieldError{{Field: "expires_at", Message: "not an RFC 3339 time or a date"}}})
			return
		}
		in.ExpiresAt = t
	}
	in = in.Normalize()
	if err := in.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	if err := p.CheckWrite(in.OrganizationID); err != nil {
		s.fail(c, err)
		return
	}
	r, change, err := s.stores.Registrations.Put(c.Request.Context(), in, "api", p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	status := http.StatusOK
	if change == prereg.Created {
		status = http.StatusCreated
	}
	c.Header("X-Prereg-Change", string(change))
	c.JSON(status, r)
}

func (s *Server) listRegistrations(c *gin.Context) {
	f, empty, err := listFilter(c, principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	if empty {
		c.JSON(http.StatusOK, page[prereg.Registration]{Items: []prereg.Registration{}})
		return
	}
	items, next, err := s.stores.Registrations.List(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[prereg.Registration]{Items: items, NextCursor: next})
}

// visible loads a registration the principal may see; anything else is
// not_found, so a limited token cannot learn another organization's IDs.
func (s *Server) visible(c *gin.Context) (prereg.Registration, bool) {
	r, err := s.stores.Registrations.Get(c.Request.Context(), c.Param("id"))
	if err == nil && !principal(c).CanSee(r.OrganizationID) {
		err = prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(c.Param("id")))
	}
	if err != nil {
		s.fail(c, err)
		return r, false
	}
	return r, true
}

func (s *Server) getRegistration(c *gin.Context) {
	if r, ok := s.visible(c); ok {
		c.JSON(http.StatusOK, r)
	}
}

// changeable loads a registration the principal may see and change.
func (s *Server) changeable(c *gin.Context) (prereg.Registration, prereg.Principal, bool) {
	p := principal(c)
	r, ok := s.visible(c)
	if !ok {
		return r, p, false
	}
	if err := p.CheckWrite(r.OrganizationID); err != nil {
		s.fail(c, err)
		return r, p, false
	}
	return r, p, true
}

func (s *Server) revokeRegistration(c *gin.Context) {
	r, p, ok := s.changeable(c)
	if !ok {
		return
	}
	force := c.Query("force") == "true"
	r, jobs, err := s.stores.Registrations.Revoke(c.Request.Context(), r.ID, force, p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(jobs) > 0 && s.cfg.Syncer != nil {
		s.cfg.Syncer.Wake()
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) retrySync(c *gin.Context) {
	r, p, ok := s.changeable(c)
	if !ok {
		return
	}
	if _, err := s.stores.SyncQueue.RetrySync(c.Request.Context(), r.ID, p.TokenID); err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Syncer != nil {
		s.cfg.Syncer.Wake()
	}
	r, err := s.stores.Registrations.Get(c.Request.Context(), r.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, r)
}
