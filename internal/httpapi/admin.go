package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

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
	r, change, err := s.store.Put(c.Request.Context(), in, "api", p.TokenID)
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

// listFilter reads the list/export filters and confines a limited token to
// its organization.
func listFilter(c *gin.Context, p prereg.Principal) (boltstore.Filter, bool, error) {
	f := boltstore.Filter{
		Status: prereg.Status(c.Query("status")),
		Email:  c.Query("email"),
		Cursor: c.Query("cursor"),
	}
	if f.Status != "" && !prereg.ValidStatus(f.Status) {
		return f, false, &prereg.Error{Code: prereg.Invalid, Message: "unknown status",
			Details: []prereg.FieldError{{Field: "status", Message: "one of pending, granted, revoked, expired"}}}
	}
	switch st := prereg.SyncState(c.Query("sync")); st {
	case prereg.SyncNone:
	case prereg.SyncPending, prereg.SyncDone, prereg.SyncFailed:
		f.Sync = st
	default:
		return f, false, &prereg.Error{Code: prereg.Invalid, Message: "unknown sync state",
			Details: []prereg.FieldError{{Field: "sync", Message: "one of pending, done, failed"}}}
	}
	var none bool
	if f.OrganizationID, f.OrganizationSet, none = scope(c, p); none {
		return f, true, nil
	}
	var err error
	f.Limit, err = pageLimit(c)
	return f, false, err
}

// scope reads organization_id and confines a limited token to its own
// organization. none is true when a limited token asked for another one:
// the answer is then empty, so it cannot probe which organizations exist.
func scope(c *gin.Context, p prereg.Principal) (org string, set, none bool) {
	org, set = c.GetQuery("organization_id")
	org = strings.TrimSpace(org)
	if p.TenantWide() {
		return org, set, false
	}
	if set && org != p.OrganizationID {
		return "", false, true
	}
	return p.OrganizationID, true, false
}

// pageLimit reads limit (1 to 1000); 0 when absent, for the default.
func pageLimit(c *gin.Context) (int, error) {
	l := c.Query("limit")
	if l == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > 1000 {
		return 0, &prereg.Error{Code: prereg.Invalid, Message: "limit must be between 1 and 1000",
			Details: []prereg.FieldError{{Field: "limit", Message: "between 1 and 1000"}}}
	}
	return n, nil
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
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
	items, next, err := s.store.List(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[prereg.Registration]{Items: items, NextCursor: next})
}

// visible loads a registration the principal may see; anything else is
// not_found, so a limited token cannot learn another organization's IDs.
func (s *Server) visible(c *gin.Context) (prereg.Registration, bool) {
	r, err := s.store.Get(c.Request.Context(), c.Param("id"))
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
	r, jobs, err := s.store.Revoke(c.Request.Context(), r.ID, force, p.TokenID)
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
	if _, err := s.store.RetrySync(c.Request.Context(), r.ID, p.TokenID); err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Syncer != nil {
		s.cfg.Syncer.Wake()
	}
	r, err := s.store.Get(c.Request.Context(), r.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, r)
}

func (s *Server) stats(c *gin.Context) {
	org, only, none := scope(c, principal(c))
	if none {
		c.JSON(http.StatusOK, boltstore.Stats{ByOrganization: map[string]boltstore.Counts{}})
		return
	}
	st, err := s.store.Stats(c.Request.Context(), org, only)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (s *Server) erase(c *gin.Context) {
	p := principal(c)
	body, err := readBody(c, MaxAdminBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	var b struct {
		Email string `json:"email"`
	}
	if err := decodeJSON(body, &b, true); err != nil {
		s.fail(c, err)
		return
	}
	if p.ReadOnly {
		s.fail(c, prereg.Errorf(prereg.Forbidden, "this token is read-only"))
		return
	}
	// Erase refuses anything but a valid address (prereg.ValidateEmail).
	out, err := s.store.Erase(c.Request.Context(), b.Email, p.OrganizationID, p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) audit(c *gin.Context) {
	f := boltstore.AuditFilter{Action: prereg.AuditAction(c.Query("action")), Cursor: c.Query("cursor")}
	var none bool
	if f.OrganizationID, f.OrganizationSet, none = scope(c, principal(c)); none {
		c.JSON(http.StatusOK, page[prereg.AuditEntry]{Items: []prereg.AuditEntry{}})
		return
	}
	var err error
	if f.Limit, err = pageLimit(c); err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.store.AuditTrail(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if items == nil {
		items = []prereg.AuditEntry{}
	}
	c.JSON(http.StatusOK, page[prereg.AuditEntry]{Items: items, NextCursor: next})
}

func (s *Server) backup(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	name := fmt.Sprintf("prereg-%s.db", time.Now().UTC().Format("20060102T150405Z"))
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	n, err := s.store.Backup(ctx, c.Writer, func(size int64) {
		c.Header("Content-Length", strconv.FormatInt(size, 10))
		c.Status(http.StatusOK)
	})
	if err != nil {
		if !c.Writer.Written() {
			s.fail(c, err)
		} else {
			c.Abort() // headers are out: the short body tells the client
		}
		return
	}
	// The copy is already with the client: a lost audit entry cannot change
	// the answer any more, but the operator must learn of it.
	if err := s.store.Audit(ctx, p.TokenID, prereg.AuditBackup, "", "", fmt.Sprintf("backup of %d bytes taken", n)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit entry not written",
			slog.String("request_id", requestID(c)), slog.String("action", string(prereg.AuditBackup)),
			slog.String("actor", p.TokenID), slog.String("error", err.Error()))
	}
}

type createdToken struct {
	ID             string    `json:"id"`
	Token          string    `json:"token"`
	Name           string    `json:"name"`
	OrganizationID string    `json:"organization_id"`
	ReadOnly       bool      `json:"read_only"`
	CreatedAt      time.Time `json:"created_at"`
}

type tokenBody struct {
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"`
	ReadOnly       bool   `json:"read_only"`
}

func (s *Server) createToken(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	body, err := readBody(c, MaxAdminBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	var b tokenBody
	if err := decodeJSON(body, &b, true); err != nil {
		s.fail(c, err)
		return
	}
	b.Name, b.OrganizationID = strings.TrimSpace(b.Name), strings.TrimSpace(b.OrganizationID)
	var details []prereg.FieldError
	if b.Name == "" || len(b.Name) > 100 {
		details = append(details, prereg.FieldError{Field: "name", Message: "1 to 100 characters"})
	}
	if b.OrganizationID != "" && !prereg.ValidOrganizationID(b.OrganizationID) {
		details = append(details, prereg.FieldError{Field: "organization_id", Message: "not an Auth0 organization ID: expected org_ followed by 1 to 64 letters and digits"})
	}
	if details != nil {
		s.fail(c, &prereg.Error{Code: prereg.Invalid, Message: "the token request is not valid", Details: details})
		return
	}
	tok, secret, err := s.store.CreateToken(c.Request.Context(), b.Name, b.OrganizationID, b.ReadOnly, p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	// The secret is shown this once; the store keeps only its hash.
	c.JSON(http.StatusCreated, createdToken{ID: tok.ID, Token: secret, Name: tok.Name, OrganizationID: tok.OrganizationID, ReadOnly: tok.ReadOnly, CreatedAt: tok.CreatedAt})
}

func (s *Server) listTokens(c *gin.Context) {
	if err := principal(c).CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	toks, err := s.store.Tokens(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": toks})
}

func (s *Server) revokeToken(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	tok, err := s.store.RevokeToken(c.Request.Context(), c.Param("id"), p.TokenID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, tok)
}

func (s *Server) reconcile(c *gin.Context) {
	p := principal(c)
	if err := p.CheckTenantAdmin(); err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Reconciler == nil {
		s.fail(c, prereg.Errorf(prereg.Unavailable, "Auth0 sync is not configured (AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET)"))
		return
	}
	rep, err := s.cfg.Reconciler(c.Request.Context(), c.Query("dry_run") == "true")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
