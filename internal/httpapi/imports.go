package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// listImports answers the past imports the caller may see, newest first,
// paged like the registrations list.
func (s *Server) listImports(c *gin.Context) {
	limit, err := pageLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.store.Imports(c.Request.Context(), prereg.ImportFilter{Viewer: principal(c), Limit: limit, Cursor: c.Query("cursor")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[prereg.ImportSummary]{Items: items, NextCursor: next})
}
