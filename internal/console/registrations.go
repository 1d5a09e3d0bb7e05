package console

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// listQuery is the registrations page's filters, as typed into its form.
type listQuery struct {
	Status, Org, Email, Sync string
	OrgSet                   bool
}

func readListQuery(r *http.Request) listQuery {
	q := r.URL.Query()
	org, set := strings.TrimSpace(q.Get("organization_id")), q.Get("organization_id") != ""
	return listQuery{Status: q.Get("status"), Org: org, OrgSet: set, Email: strings.TrimSpace(q.Get("email")), Sync: q.Get("sync")}
}

// filter is the store filter for p; none is true when p may see nothing
// it asked for (a limited token naming another organization).
func (l listQuery) filter(p prereg.Principal, cursor string) (f prereg.Filter, none bool, err error) {
	f = prereg.Filter{Status: prereg.Status(l.Status), Email: l.Email, Sync: prereg.SyncState(l.Sync), Cursor: cursor, Limit: pageSize}
	if err := f.Validate(); err != nil {
		return f, false, err
	}
	f.OrganizationID, f.OrganizationSet, none = p.Scope(l.Org, l.OrgSet)
	return f, none, nil
}

// Encode is the query string of the filters, for paging and export links.
func (l listQuery) Encode() template.URL {
	v := url.Values{}
	for k, s := range map[string]string{"status": l.Status, "organization_id": l.Org, "email": l.Email, "sync": l.Sync} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return template.URL(v.Encode()) // safe: built by url.Values
}

type listData struct {
	Q        listQuery
	Items    []prereg.Registration
	Next     string
	Paged    bool
	Statuses []prereg.Status
}

func (c *Console) registrations(w http.ResponseWriter, r *http.Request, q *request) {
	lq := readListQuery(r)
	f, none, err := lq.filter(q.p, r.URL.Query().Get("cursor"))
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	d := listData{Q: lq, Paged: f.Cursor != "", Statuses: []prereg.Status{prereg.StatusPending, prereg.StatusGranted, prereg.StatusRevoked, prereg.StatusExpired}}
	if !none {
		if d.Items, d.Next, err = c.st.Registrations.List(r.Context(), f); err != nil {
			c.errorPage(w, r, q, err)
			return
		}
	}
	c.render(w, r, q, http.StatusOK, "registrations", d)
}

// visible loads a registration the session may see; anything else is
// not found, as in the API.
func (c *Console) visible(r *http.Request, q *request) (prereg.Registration, error) {
	reg, err := c.st.Registrations.Get(r.Context(), r.PathValue("id"))
	if err == nil && !q.p.CanSee(reg.OrganizationID) {
		err = prereg.Errorf(prereg.NotFound, "no registration %s", prereg.Truncate(r.PathValue("id")))
	}
	return reg, err
}

type registrationData struct {
	R        prereg.Registration
	Why      []string
	Audit    []prereg.AuditEntry
	Partial  bool
	CanWrite bool
	Done     string
}

// auditScan bounds how many of an organization's newest audit entries a
// registration page reads for its own: the trail has no index by
// registration.
const auditScan = 5000

func (c *Console) registration(w http.ResponseWriter, r *http.Request, q *request) {
	reg, err := c.visible(r, q)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	now := c.cfg.Now()
	d := registrationData{R: reg.View(now), Why: explain(reg, now), CanWrite: q.p.CheckWrite(reg.OrganizationID) == nil, Done: r.URL.Query().Get("done")}
	d.Audit, d.Partial, err = c.auditOf(r, reg)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "registration", d)
}

// auditOf returns the registration's entries among the newest auditScan
// entries of its organization; partial says older ones were not read.
func (c *Console) auditOf(r *http.Request, reg prereg.Registration) ([]prereg.AuditEntry, bool, error) {
	f := prereg.AuditFilter{OrganizationID: reg.OrganizationID, OrganizationSet: true, Limit: 1000}
	var out []prereg.AuditEntry
	for read := 0; read < auditScan; {
		items, next, err := c.st.Audit.AuditTrail(r.Context(), f)
		if err != nil {
			return nil, false, err
		}
		for _, e := range items {
			if e.RegistrationID == reg.ID {
				out = append(out, e)
			}
		}
		read += len(items)
		if next == "" {
			return out, false, nil
		}
		f.Cursor = next
	}
	return out, true, nil
}

// writable loads a registration the session may change.
func (c *Console) writable(w http.ResponseWriter, r *http.Request, q *request) (prereg.Registration, bool) {
	reg, err := c.visible(r, q)
	if err == nil {
		err = q.p.CheckWrite(reg.OrganizationID)
	}
	if err != nil {
		c.errorPage(w, r, q, err)
		return reg, false
	}
	return reg, true
}

type revokeData struct {
	R     prereg.Registration
	Force bool
}

// confirmRevoke asks before revoking; a grant needs the force-revoke,
// which also takes the roles back in Auth0.
func (c *Console) confirmRevoke(w http.ResponseWriter, r *http.Request, q *request) {
	reg, ok := c.writable(w, r, q)
	if !ok {
		return
	}
	reg = reg.View(c.cfg.Now())
	c.render(w, r, q, http.StatusOK, "revoke", revokeData{R: reg, Force: reg.Status == prereg.StatusGranted})
}

func (c *Console) revoke(w http.ResponseWriter, r *http.Request, q *request) {
	reg, ok := c.writable(w, r, q)
	if !ok {
		return
	}
	_, jobs, err := c.st.Registrations.Revoke(r.Context(), reg.ID, r.PostFormValue("force") == "true", q.p.TokenID)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	if len(jobs) > 0 && c.cfg.Wake != nil {
		c.cfg.Wake()
	}
	http.Redirect(w, r, "/console/registrations/"+url.PathEscape(reg.ID)+"?done=revoked", http.StatusSeeOther)
}

func (c *Console) retrySync(w http.ResponseWriter, r *http.Request, q *request) {
	reg, ok := c.writable(w, r, q)
	if !ok {
		return
	}
	if _, err := c.st.SyncQueue.RetrySync(r.Context(), reg.ID, q.p.TokenID); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	if c.cfg.Wake != nil {
		c.cfg.Wake()
	}
	http.Redirect(w, r, "/console/registrations/"+url.PathEscape(reg.ID)+"?done=sync", http.StatusSeeOther)
}

// export downloads the registrations the filters select, in the import
// format, as the API's export does.
func (c *Console) export(w http.ResponseWriter, r *http.Request, q *request) {
	if c.cfg.Exporter == nil {
		c.errorPage(w, r, q, prereg.Errorf(prereg.Unavailable, "exports are not available"))
		return
	}
	f, none, err := readListQuery(r).filter(q.p, "")
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	f.Limit = 0
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="prereg-export.csv"`)
	enc := c.cfg.Exporter.NewEncoder(w)
	if !none {
		err = c.st.Registrations.Each(r.Context(), f, enc.Write)
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		c.cfg.Logger.Error("console export failed", "error", err.Error())
	}
}
