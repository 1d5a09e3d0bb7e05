package httpapi

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/bytesize"
	"github.com/prereg/prereg/internal/prereg"
)

// importCSV streams the body into the importer: text/csv as is, or the one
// file part of a multipart/form-data upload (browsers). The body is never
// buffered whole; its size is capped.
func (s *Server) importCSV(c *gin.Context) {
	p := principal(c)
	if p.ReadOnly {
		s.fail(c, prereg.Errorf(prereg.Forbidden, "this token is read-only"))
		return
	}
	if s.cfg.Importer == nil {
		s.fail(c, prereg.Errorf(prereg.Unavailable, "imports are not available"))
		return
	}
	release, ok := s.imports.TryAcquire(p.TokenID)
	if !ok {
		s.failRetry(c, prereg.Errorf(prereg.RateLimited, "an import of this token is already running, or the service runs as many as it allows; retry when it has finished"), 5*time.Second)
		return
	}
	defer release()
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxImportBytes)
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil {
		mt = ""
	}
	var r io.Reader
	switch mt {
	case "text/csv", "text/plain", "application/csv":
		r = body
	case "multipart/form-data":
		part, err := firstFilePart(multipart.NewReader(body, params["boundary"]))
		if err != nil {
			s.fail(c, err)
			return
		}
		r = part
	default:
		s.fail(c, prereg.Errorf(prereg.UnsupportedMedia, "send the file as text/csv (or multipart/form-data with one file part)"))
		return
	}
	report, err := s.cfg.Importer(c.Request.Context(), r, p, c.Query("dry_run") == "true", c.Query("strict") == "true")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = prereg.Errorf(prereg.TooLarge, "the file is larger than %s (the service's --max-import-bytes)", bytesize.Format(s.cfg.MaxImportBytes))
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, report)
}

func firstFilePart(mr *multipart.Reader) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, prereg.Errorf(prereg.Invalid, "the multipart body has no file part")
		}
		if err != nil {
			return nil, prereg.Wrap(prereg.Invalid, err, "the multipart body is malformed")
		}
		if part.FileName() != "" || strings.EqualFold(part.FormName(), "file") {
			return part, nil
		}
	}
}

func (s *Server) getImport(c *gin.Context) {
	r, err := s.store.Import(c.Request.Context(), c.Param("id"))
	if err == nil && !r.VisibleTo(principal(c)) {
		err = prereg.Errorf(prereg.NotFound, "no import %s", prereg.Truncate(c.Param("id")))
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
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
	err = s.cfg.Exporter(c.Writer, func(fn func(prereg.Registration) error) error {
		if empty {
			return nil
		}
		return s.store.Each(c.Request.Context(), f, fn)
	})
	if err != nil {
		s.log.Error("export failed", "request_id", requestID(c), "error", err.Error())
		c.Abort()
	}
}
