package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/prereg/prereg/internal/bytesize"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// upload is a CSV file waiting, after its preview, for the confirmation:
// a page without its script sends only the preview's ID back, so the file
// stays on the replica that showed the preview.
type upload struct {
	path     string
	name     string
	importID string
	at       time.Time
}

// uploadTTL is how long an upload (or a preview whose page keeps the
// file) waits for its confirmation.
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

// take removes and returns the session's upload of preview id, if still
// fresh; an upload of another preview (a later one in another tab) stays.
func (u *uploads) take(h [32]byte, id string, now time.Time) (upload, bool) {
	u.mu.Lock()
	up, ok := u.m[h]
	if ok && id != "" && up.importID != id {
		u.mu.Unlock()
		return upload{}, false
	}
	delete(u.m, h)
	u.mu.Unlock()
	if ok && now.Sub(up.at) > uploadTTL {
		_ = os.Remove(up.path)
		return up, false
	}
	return up, ok
}

func (u *uploads) drop(h [32]byte) {
	if up, ok := u.take(h, "", time.Time{}); ok {
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
	// Problem says why the file must be chosen again.
	Problem string
}

func (c *Console) importPage(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "import", importData{MaxBytes: bytesize.Format(c.cfg.MaxImportBytes), Cancelled: r.URL.Query().Get("cancelled") != ""})
}

// chooseAgain answers with the upload form and why the file must be
// chosen again.
func (c *Console) chooseAgain(w http.ResponseWriter, r *http.Request, q *request, err error) {
	c.render(w, r, q, httpapi.Status(err), "import", importData{MaxBytes: bytesize.Format(c.cfg.MaxImportBytes), Problem: prereg.ErrorMessage(err)})
}

// importPreview takes the uploaded file (multipart: the CSRF field, then
// the file) and shows what importing it would do: the importer's dry run,
// whose saved report names the file by its SHA-256. When the page's
// script keeps the file to send it again with the confirmation (the
// field held, before the file), nothing else is kept, and any replica
// can take the confirmation; otherwise the file waits here.
func (c *Console) importPreview(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	form, part, err := c.uploadPart(w, r, q)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	if form.Get("held") != "" {
		rep, err := c.runImport(r, q, part, httpapi.ImportOptions{DryRun: true})
		if err != nil {
			c.errorPage(w, r, q, c.uploadError(err))
			return
		}
		c.render(w, r, q, http.StatusOK, "preview", importData{Report: rep, File: part.FileName()})
		return
	}
	path, _, err := c.spool(part)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	up := upload{path: path, name: part.FileName(), at: c.cfg.Now()}
	rep, err := c.runFile(r, q, up.path, httpapi.ImportOptions{DryRun: true})
	if err != nil {
		_ = os.Remove(up.path)
		c.errorPage(w, r, q, err)
		return
	}
	up.importID = rep.ImportID
	c.uploads.put(q.sess.Hash, up)
	c.render(w, r, q, http.StatusOK, "preview", importData{Report: rep, File: up.name})
}

// spool copies an uploaded file to TempDir and returns its path and
// SHA-256 (hex).
func (c *Console) spool(part io.Reader) (path, sum string, err error) {
	f, err := os.CreateTemp(c.cfg.TempDir, "prereg-console-upload-*.csv")
	if err != nil {
		return "", "", prereg.Wrap(prereg.Internal, err, "keep the upload")
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), part)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", "", c.uploadError(err)
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// uploadError names an upload over the size limit as such.
func (c *Console) uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return prereg.Errorf(prereg.TooLarge, "the file is larger than %s (the service's --max-import-bytes)", bytesize.Format(c.cfg.MaxImportBytes))
	}
	return err
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

// maxUploadFields bounds the small fields sent before an upload's file.
const maxUploadFields = 8

// uploadPart checks the CSRF field that must come first, reads the small
// fields after it, and returns them and the file part that follows, the
// body capped at MaxImportBytes.
func (c *Console) uploadPart(w http.ResponseWriter, r *http.Request, q *request) (url.Values, *multipart.Part, error) {
	mr, err := multipartReader(w, r, c.cfg.MaxImportBytes+maxFormBytes)
	if err != nil {
		return nil, nil, err
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "csrf" {
		return nil, nil, errCSRF
	}
	token, err := io.ReadAll(io.LimitReader(first, 200))
	if err != nil || !c.checkCSRF(r, q, string(token)) {
		return nil, nil, errCSRF
	}
	form := url.Values{}
	for range maxUploadFields {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FormName() == "file" {
			return form, p, nil
		}
		v, err := io.ReadAll(io.LimitReader(p, 200))
		if err != nil {
			break
		}
		form.Add(p.FormName(), string(v))
	}
	return nil, nil, prereg.Errorf(prereg.Invalid, "no file was sent: choose a CSV file")
}

// multipartReader reads r's multipart/form-data body, capped at limit.
func multipartReader(w http.ResponseWriter, r *http.Request, limit int64) (*multipart.Reader, error) {
	if !isMultipart(r) {
		return nil, prereg.Errorf(prereg.UnsupportedMedia, "send the file with the form on the import page")
	}
	_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return multipart.NewReader(http.MaxBytesReader(w, r.Body, limit), params["boundary"]), nil
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

var errCSRF = prereg.Errorf(prereg.Forbidden, "the form was not sent by this console page (missing or wrong CSRF token); reload the page and try again")

// runImport runs the importer over in, in one of the import slots.
func (c *Console) runImport(r *http.Request, q *request, in io.Reader, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	if c.cfg.ImportSlots != nil {
		release, ok := c.cfg.ImportSlots.TryAcquire(q.p.TokenID)
		if !ok {
			return prereg.ImportReport{}, prereg.Errorf(prereg.RateLimited, "an import of this token is already running, or the service runs as many as it allows; try again when it has finished")
		}
		defer release()
	}
	return c.cfg.Importer.Run(r.Context(), in, q.p, o)
}

// runFile runs the importer over a kept upload.
func (c *Console) runFile(r *http.Request, q *request, path string, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return prereg.ImportReport{}, prereg.Wrap(prereg.Internal, err, "read the upload")
	}
	defer f.Close()
	return c.runImport(r, q, f, o)
}

// importConfirm writes the previewed file, strict when asked, and shows
// the report. The page's script sends the file again (multipart, the
// preview's ID before it): it is written only if it is the very file
// previewed, by its SHA-256 in the preview's report. A form without the
// file confirms the upload waiting on this replica.
func (c *Console) importConfirm(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.canImport(q); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	if isMultipart(r) {
		c.confirmSent(w, r, q)
		return
	}
	up, ok := c.uploads.take(q.sess.Hash, r.PostFormValue("import_id"), c.cfg.Now())
	if !ok {
		c.chooseAgain(w, r, q, prereg.Errorf(prereg.Conflict, "The previewed file is not kept on this server: it was already imported or cancelled, waited more than %d minutes, or the preview was shown by another of the service's servers. Nothing was written; choose the file again.", int(uploadTTL/time.Minute)))
		return
	}
	defer os.Remove(up.path)
	o := httpapi.ImportOptions{Strict: r.PostFormValue("strict") == "true"}
	rep, err := c.runFile(r, q, up.path, o)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "report", importData{Report: rep, File: up.name})
}

// confirmSent writes a file sent again with its preview's ID.
func (c *Console) confirmSent(w http.ResponseWriter, r *http.Request, q *request) {
	form, part, err := c.uploadPart(w, r, q)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	id := form.Get("import_id")
	prev, err := c.st.Imports.Import(r.Context(), id)
	if err != nil && prereg.ErrorCode(err) != prereg.NotFound {
		c.errorPage(w, r, q, err)
		return
	}
	if err != nil || !prev.DryRun || prev.Actor != q.p.TokenID || prev.SHA256 == "" || c.cfg.Now().Sub(prev.FinishedAt) > uploadTTL {
		c.chooseAgain(w, r, q, prereg.Errorf(prereg.Conflict, "There is no preview %s of this token waiting for its confirmation (a preview waits %d minutes). Nothing was written; choose the file again.", prereg.Truncate(id), int(uploadTTL/time.Minute)))
		return
	}
	path, sum, err := c.spool(part)
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	defer os.Remove(path)
	if subtle.ConstantTimeCompare([]byte(sum), []byte(prev.SHA256)) != 1 {
		c.chooseAgain(w, r, q, prereg.Errorf(prereg.Conflict, "%s is not the file previewed (its content differs, SHA-256 %.12s… instead of %.12s…). Nothing was written; choose the file again to see its own preview.", prereg.Truncate(part.FileName()), sum, prev.SHA256))
		return
	}
	rep, err := c.runFile(r, q, path, httpapi.ImportOptions{Strict: form.Get("strict") == "true"})
	if err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.render(w, r, q, http.StatusOK, "report", importData{Report: rep, File: part.FileName()})
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
