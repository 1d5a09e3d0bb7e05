package client

import (
	"context"
	"io"
	"net/url"
	"strconv"

	"github.com/prereg/prereg/internal/prereg"
)

// The typed calls below are the admin API in prereg's own types, so that
// the CLI works the same through them as on an open store.

// page is one page of a listing.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// pageQuery adds limit and cursor to q.
func pageQuery(q url.Values, limit int, cursor string) url.Values {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return q
}

// filterQuery is a registration filter as the API's query.
func filterQuery(f prereg.Filter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": string(f.Status), "email": f.Email, "sync": string(f.Sync)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.OrganizationSet {
		q.Set("organization_id", f.OrganizationID)
	}
	return pageQuery(q, f.Limit, f.Cursor)
}

// Put creates or updates one registration and says what the write did.
func (c *Client) Put(ctx context.Context, in prereg.Input) (prereg.Registration, prereg.Change, error) {
	body := map[string]any{"email": in.Email, "organization_id": in.OrganizationID, "roles": in.Roles, "connection": in.Connection}
	if in.ExpiresAt != nil {
		body["expires_at"] = prereg.FormatExpiry(in.ExpiresAt)
	}
	var r prereg.Registration
	h, err := c.JSONHeader(ctx, "POST", "/v1/registrations", nil, body, &r)
	if err != nil {
		return prereg.Registration{}, "", err
	}
	return r, prereg.Change(h.Get("X-Prereg-Change")), nil
}

// List returns one page of the registrations f selects.
func (c *Client) List(ctx context.Context, f prereg.Filter) ([]prereg.Registration, string, error) {
	var p page[prereg.Registration]
	err := c.JSON(ctx, "GET", "/v1/registrations", filterQuery(f), nil, &p)
	return p.Items, p.NextCursor, err
}

// Revoke revokes a registration; a granted one only with force.
func (c *Client) Revoke(ctx context.Context, id string, force bool) (prereg.Registration, error) {
	q := url.Values{}
	if force {
		q.Set("force", "true")
	}
	var r prereg.Registration
	err := c.JSON(ctx, "DELETE", "/v1/registrations/"+url.PathEscape(id), q, nil, &r)
	return r, err
}

// RetrySync queues the Auth0 sync of a granted registration again.
func (c *Client) RetrySync(ctx context.Context, id string) error {
	return c.JSON(ctx, "POST", "/v1/registrations/"+url.PathEscape(id)+"/sync", nil, nil, nil)
}

// Erase erases every registration and stored trace of an address.
func (c *Client) Erase(ctx context.Context, email string) (prereg.Erasure, error) {
	var out prereg.Erasure
	err := c.JSON(ctx, "POST", "/v1/erasures", nil, map[string]string{"email": email}, &out)
	return out, err
}

// Stats counts registrations by status.
func (c *Client) Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error) {
	q := url.Values{}
	if f.OrganizationSet {
		q.Set("organization_id", f.OrganizationID)
	}
	var st prereg.Stats
	err := c.JSON(ctx, "GET", "/v1/stats", q, nil, &st)
	return st, err
}

// AuditTrail returns one page of the audit trail, newest first.
func (c *Client) AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error) {
	q := url.Values{}
	if f.OrganizationSet {
		q.Set("organization_id", f.OrganizationID)
	}
	if f.Action != "" {
		q.Set("action", string(f.Action))
	}
	var p page[prereg.AuditEntry]
	err := c.JSON(ctx, "GET", "/v1/audit", pageQuery(q, f.Limit, f.Cursor), nil, &p)
	return p.Items, p.NextCursor, err
}

// CreateToken creates an admin token and returns it with its secret,
// which the service shows this once.
func (c *Client) CreateToken(ctx context.Context, req prereg.TokenRequest) (prereg.Token, string, error) {
	var out struct {
		prereg.Token
		Secret string `json:"token"`
	}
	err := c.JSON(ctx, "POST", "/v1/tokens", nil, req, &out)
	return out.Token, out.Secret, err
}

// Tokens lists the admin tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]prereg.Token, error) {
	var p page[prereg.Token]
	err := c.JSON(ctx, "GET", "/v1/tokens", nil, nil, &p)
	return p.Items, err
}

// RevokeToken revokes an admin token at once.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.JSON(ctx, "DELETE", "/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// Import sends a CSV of registrations and returns the import's report.
func (c *Client) Import(ctx context.Context, r io.Reader, opts prereg.ImportOptions) (prereg.ImportReport, error) {
	q := url.Values{}
	if opts.DryRun {
		q.Set("dry_run", "true")
	}
	if opts.Strict {
		q.Set("strict", "true")
	}
	if opts.Progress != nil {
		r = &counting{r: r, progress: opts.Progress}
	}
	var rep prereg.ImportReport
	err := c.Request(ctx, "POST", "/v1/imports", q, r, "text/csv", &rep)
	return rep, err
}

// counting reports the bytes read through it.
type counting struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.progress(c.n)
	}
	return n, err
}

// Imports returns one page of past imports, newest first (the service
// shows the ones the token may read, whatever f.Viewer says).
func (c *Client) Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error) {
	var p page[prereg.ImportSummary]
	err := c.JSON(ctx, "GET", "/v1/imports", pageQuery(url.Values{}, f.Limit, f.Cursor), nil, &p)
	return p.Items, p.NextCursor, err
}

// ImportReport returns a past import's report.
func (c *Client) ImportReport(ctx context.Context, id string) (prereg.ImportReport, error) {
	var rep prereg.ImportReport
	err := c.JSON(ctx, "GET", "/v1/imports/"+url.PathEscape(id), nil, nil, &rep)
	return rep, err
}

// Export writes the registrations f selects as CSV in the import format.
func (c *Client) Export(ctx context.Context, w io.Writer, f prereg.Filter) error {
	return c.Request(ctx, "GET", "/v1/exports", filterQuery(f), nil, "", w)
}

// Backup writes a consistent copy of the service's store to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.Request(ctx, "GET", "/v1/backup", nil, nil, "", w)
}

// Reconcile grants pending registrations whose address belongs to exactly
// one verified Auth0 user, with the service's Auth0 credentials.
func (c *Client) Reconcile(ctx context.Context, dryRun bool) (prereg.ReconcileReport, error) {
	q := url.Values{}
	if dryRun {
		q.Set("dry_run", "true")
	}
	var rep prereg.ReconcileReport
	err := c.JSON(ctx, "POST", "/v1/reconcile", q, nil, &rep)
	return rep, err
}
