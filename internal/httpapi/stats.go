package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Stats counts registrations by status.
type Stats interface {
	Stats(ctx context.Context, f prereg.StatsFilter) (prereg.Stats, error)
}

func (s *Server) stats(c *gin.Context) {
	var f prereg.StatsFilter
	var none bool
	if f.OrganizationID, f.OrganizationSet, none = scope(c, principal(c)); none {
		c.JSON(http.StatusOK, prereg.Stats{ByOrganization: map[string]prereg.Counts{}})
		return
	}
	st, err := s.stores.Stats.Stats(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}
