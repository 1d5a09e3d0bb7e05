package console

import (
	"net/http"
	"slices"

	"github.com/prereg/prereg/internal/prereg"
)

type overviewData struct {
	Overall prereg.Counts
	Orgs    []orgCounts
	Backlog int
}

type orgCounts struct {
	Org string
	prereg.Counts
}

// overview shows the counts the session may see and the Auth0 sync
// backlog; an empty store says what to do first.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, q *request) {
	var f prereg.StatsFilter
	f.OrganizationID, f.OrganizationSet, _ = q.p.Scope("", false)
	st, err := c.st.Stats.Stats(r.Context(), f)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	d := overviewData{Overall: st.Overall}
	for org, n := range st.ByOrganization {
		d.Orgs = append(d.Orgs, orgCounts{Org: org, Counts: n})
	}
	slices.SortFunc(d.Orgs, func(a, b orgCounts) int {
		if a.Total != b.Total {
			return int(b.Total - a.Total)
		}
		return cmpString(a.Org, b.Org)
	})
	if d.Backlog, err = c.st.Backlog.PendingJobs(r.Context()); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "overview", d)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
