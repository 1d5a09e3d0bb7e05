package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Audit is the audit trail.
type Audit interface {
	AuditTrail(ctx context.Context, f prereg.AuditFilter) ([]prereg.AuditEntry, string, error)
	// Audit records an event that is not a registration write.
	Audit(ctx context.Context, actor string, action prereg.AuditAction, org, regID, summary string) error
}

func (s *Server) audit(c *gin.Context) {
	f := prereg.AuditFilter{Action: prereg.AuditAction(c.Query("action")), Cursor: c.Query("cursor")}
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
	items, next, err := s.stores.Audit.AuditTrail(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if items == nil {
		items = []prereg.AuditEntry{}
	}
	c.JSON(http.StatusOK, page[prereg.AuditEntry]{Items: items, NextCursor: next})
}
