package console

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"time"

	"github.com/prereg/prereg/internal/bytesize"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// upload is a CSV file waiting, after its preview, for the confirmation.
type upload struct {
	path string
	name string
	at   time.Time
}

// uploadTTL is how long an upload waits for its confirmation.
const uploadTTL = prereg.SessionIdle

func (u *uploads) put(h [32]byte, up upload) {
	u.mu.Lock()
	old, ok := u.m[h]
	u.m[h] = up
	u.mu.Unlock()
	if ok {
		_ = os.Remove(old.path)
	}
}

// take removes and returns the session's upload, if still fresh.
func (u *uploads) take(h [32]byte, now time.Time) (upload, bool) {
	u.mu.Lock()
	up, ok := u.m[h]
	delete(u.m, h)
	u.mu.Unlock()
	if ok && now.Sub(up.at) > uploadTTL {
		_ = os.Remove(up.path)
		return up, false
	}
	return up, ok
}

func (u *uploads) drop(h [32]byte) {
	if up, ok := u.take(h, time.Time{}); ok {
		_ = os.Remove(up.path)
	}
}

func (u *uploads) clear() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for h, up := range u.m {
		_ = os.Remove(up.path)
		delete(u.m, h)
	}
}

type importData struct {
	Report    prereg.ImportReport
	File      string
	MaxBytes  string
	Cancelled bool
}

func (c *Console) importPage(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "import", importData{MaxBytes: bytesize.Format(c.cfg.MaxImportBytes), Cancelled: r.URL.Query().Get("cancelled") != ""})
}

// importPreview takes the uploaded file (multipart: the CSRF field, then
// the file), keeps it for the confirmation, and shows what importing it
// would do: the importer's dry run.
func (c *Console) importPreview(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	part, err := c.uploadPart(w, r, q)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	f, err := os.CreateTemp(c.cfg.TempDir, "prereg-console-upload-*.csv")
	if err != nil {
		c.errorPage(w, r, q, prereg.Wrap(prereg.Internal, err, "keep the upload"))
		return
	}
	_, err = io.Copy(f, part)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = prereg.Errorf(prereg.TooLarge, "the file is larger than %s (the service's --max-import-bytes)", bytesize.Format(c.cfg.MaxImportBytes))
		}
		c.errorPage(w, r, q, err)
		return
	}
	up := upload{path: f.Name(), name: part.FileName(), at: c.cfg.Now()}
	rep, err := c.runImport(r, q, up, httpapi.ImportOptions{DryRun: true})
	if err != nil {
		_ = os.Remove(up.path)
		c.errorPage(w, r, q, err)
		return
	}
	c.uploads.put(q.sess.Hash, up)
	c.render(w, r, q, http.StatusOK, "preview", importData{Report: rep, File: up.name})
}

func (c *Console) canImport(q *request) error {
	if q.p.ReadOnly {
		return prereg.Errorf(prereg.Forbidden, "this token is read-only")
	}
	if c.cfg.Importer == nil {
		return prereg.Errorf(prereg.Unavailable, "imports are not available")
	}
	return nil
}

// uploadPart checks the CSRF field that must come first and returns the
// file part after it, the body capped at MaxImportBytes.
func (c *Console) uploadPart(w http.ResponseWriter, r *http.Request, q *request) (*multipart.Part, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, prereg.Errorf(prereg.UnsupportedMedia, "send the file with the form on the import page")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, c.cfg.MaxImportBytes+maxFormBytes), params["boundary"])
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "csrf" {
		return nil, errCSRF
	}
	token, err := io.ReadAll(io.LimitReader(first, 200))
	if err != nil || !c.checkCSRF(r, q, string(token)) {
		return nil, errCSRF
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, prereg.Errorf(prereg.Invalid, "no file was sent: choose a CSV file")
		}
		if p.FormName() == "file" {
			return p, nil
		}
	}
}

var errCSRF = prereg.Errorf(prereg.Forbidden, "the form was not sent by this console page (missing or wrong CSRF token); reload the page and try again")

func (c *Console) runImport(r *http.Request, q *request, up upload, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	if c.cfg.ImportSlots != nil {
		release, ok := c.cfg.ImportSlots.TryAcquire(q.p.TokenID)
		if !ok {
			return prereg.ImportReport{}, prereg.Errorf(prereg.RateLimited, "an import of this token is already running, or the service runs as many as it allows; try again when it has finished")
		}
		defer release()
	}
	f, err := os.Open(up.path)
	if err != nil {
		return prereg.ImportReport{}, prereg.Wrap(prereg.Internal, err, "read the upload")
	}
	defer f.Close()
	return c.cfg.Importer.Run(r.Context(), f, q.p, o)
}

// importConfirm writes the previewed file, strict when asked, and shows
// the report.
func (c *Console) importConfirm(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	up, ok := c.uploads.take(q.sess.Hash, c.cfg.Now())
	if !ok {
		c.errorPage(w, r, q, prereg.Errorf(prereg.NotFound, "there is no previewed file waiting (it was imported, cancelled, or waited too long); upload it again"))
		return
	}
	defer os.Remove(up.path)
	rep, err := c.runImport(r, q, up, httpapi.ImportOptions{Strict: r.PostFormValue("strict") == "true"})
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "report", importData{Report: rep, File: up.name})
}

func (c *Console) importCancel(w http.ResponseWriter, r *http.Request, q *request) {
	c.uploads.drop(q.sess.Hash)
	http.Redirect(w, r, "/console/import?cancelled=1", http.StatusSeeOther)
}

type importsData struct {
	Items []prereg.ImportSummary
	Next  string
	Paged bool
}

func (c *Console) importList(w http.ResponseWriter, r *http.Request, q *request) {
	cursor := r.URL.Query().Get("cursor")
	items, next, err := c.st.Imports.Imports(r.Context(), prereg.ImportFilter{Viewer: q.p, Limit: pageSize, Cursor: cursor})
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "imports", importsData{Items: items, Next: next, Paged: cursor != ""})
}

func (c *Console) importReport(w http.ResponseWriter, r *http.Request, q *request) {
	rep, err := c.st.Imports.Import(r.Context(), r.PathValue("id"))
	if err == nil && !rep.VisibleTo(q.p) {
		err = prereg.Errorf(prereg.NotFound, "no import %s", prereg.Truncate(r.PathValue("id")))
	}
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "report", importData{Report: rep})
}
