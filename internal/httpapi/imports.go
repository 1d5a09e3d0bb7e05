package httpapi

import (
	"context"
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

// Imports are the reports of past imports.
type Imports interface {
	// Import returns one report by ID.
	Import(ctx context.Context, id string) (prereg.ImportReport, error)
	// Imports returns one page of summaries, newest first.
	Imports(ctx context.Context, f prereg.ImportFilter) ([]prereg.ImportSummary, string, error)
}

// Importer runs one CSV import for the HTTP endpoint (package importer).
type Importer interface {
	Run(ctx context.Context, r io.Reader, p prereg.Principal, o ImportOptions) (prereg.ImportReport, error)
}

// ImportOptions are the choices of one import that the caller makes.
type ImportOptions struct {
	// DryRun reports what the import would do and writes nothing.
	DryRun bool
	// Strict writes nothing at all when any row is rejected.
	Strict bool
}

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
	o := ImportOptions{DryRun: c.Query("dry_run") == "true", Strict: c.Query("strict") == "true"}
	report, err := s.cfg.Importer.Run(c.Request.Context(), r, p, o)
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
	r, err := s.stores.Imports.Import(c.Request.Context(), c.Param("id"))
	if err == nil && !r.VisibleTo(principal(c)) {
		err = prereg.Errorf(prereg.NotFound, "no import %s", prereg.Truncate(c.Param("id")))
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// listImports answers the past imports the caller may see, newest first,
// paged like the registrations list.
func (s *Server) listImports(c *gin.Context) {
	limit, err := pageLimit(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.stores.Imports.Imports(c.Request.Context(), prereg.ImportFilter{Viewer: principal(c), Limit: limit, Cursor: c.Query("cursor")})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page[prereg.ImportSummary]{Items: items, NextCursor: next})
}
