package console

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/prereg/prereg/internal/prereg"
)

type auditData struct {
	Action, Org string
	Actions     []prereg.AuditAction
	Items       []prereg.AuditEntry
	Next        string
	Paged       bool
	Query       template.URL
}

var auditActions = []prereg.AuditAction{prereg.AuditCreated, prereg.AuditUpdated, prereg.AuditRevoked, prereg.AuditImported,
	prereg.AuditGranted, prereg.AuditSynced, prereg.AuditTokenCreated, prereg.AuditTokenRevoked, prereg.AuditBackup, prereg.AuditErased}

// audit pages through the trail, newest first, within what the session
// may see.
func (c *Console) audit(w http.ResponseWriter, r *http.Request, q *request) {
	qs := r.URL.Query()
	d := auditData{Action: qs.Get("action"), Org: strings.TrimSpace(qs.Get("organization_id")), Actions: auditActions, Paged: qs.Get("cursor") != ""}
	f := prereg.AuditFilter{Action: prereg.AuditAction(d.Action), Cursor: qs.Get("cursor"), Limit: pageSize}
	var none bool
	f.OrganizationID, f.OrganizationSet, none = q.p.Scope(d.Org, d.Org != "")
	v := qs
	v.Del("cursor")
	d.Query = template.URL(v.Encode()) // safe: built by url.Values
	if !none {
		var err error
		if d.Items, d.Next, err = c.st.Audit.AuditTrail(r.Context(), f); err != nil {
			c.errorPage(w, r, q, err)
			return
		}
	}
	c.render(w, r, q, http.StatusOK, "audit", d)
}
