package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Backups copy the store while it serves.
type Backups interface {
	// Backup writes a consistent copy to w, calling size with its length
	// before the first byte.
	Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error)
	// Size is the size of the store's data, for the metrics.
	Size() int64
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
	n, err := s.stores.Backups.Backup(ctx, c.Writer, func(size int64) {
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
	if err := s.stores.Audit.Audit(ctx, p.TokenID, prereg.AuditBackup, "", "", fmt.Sprintf("backup of %d bytes taken", n)); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "audit entry not written",
			slog.String("request_id", requestID(c)), slog.String("action", string(prereg.AuditBackup)),
			slog.String("actor", p.TokenID), slog.String("error", err.Error()))
	}
}
