package httpapi

import (
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Exporter starts exports in the import format (package csvio).
type Exporter interface {
	NewEncoder(w io.Writer) Encoder
}

// Encoder writes registrations to one export; Flush ends it (an export
// of nothing is its header alone).
type Encoder interface {
	Write(r prereg.Registration) error
	Flush() error
}

// export streams the matching registrations as CSV from one read
// transaction (a consistent snapshot).
func (s *Server) export(c *gin.Context) {
	if s.cfg.Exporter == nil {
		s.fail(c, prereg.Errorf(prereg.Unavailable, "exports are not available"))
		return
	}
	f, empty, err := listFilter(c, principal(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="prereg-export.csv"`)
	c.Status(http.StatusOK)
	enc := s.cfg.Exporter.NewEncoder(c.Writer)
	if !empty {
		err = s.stores.Registrations.Each(c.Request.Context(), f, enc.Write)
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		s.log.Error("export failed", "request_id", requestID(c), "error", err.Error())
		c.Abort()
	}
}
