package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Reconciler grants pending registrations to existing Auth0 users
// (package auth0sync).
type Reconciler interface {
	// Reconcile runs once; with dryRun it only reports what it would grant.
	Reconcile(ctx context.Context, dryRun bool) (prereg.ReconcileReport, error)
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
	rep, err := s.cfg.Reconciler.Reconcile(c.Request.Context(), c.Query("dry_run") == "true")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rep)
}
