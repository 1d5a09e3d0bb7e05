package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// view is what every page's template gets: the layout's part (title,
// navigation, who is signed in, the CSRF secret for its forms) and the
// page's own Data.
type view struct {
	Title    string
	Page     string
	SignedIn bool
	P        prereg.Principal
	CSRF     string
	Data     any
}

// CanWrite reports whether the signed-in token may change registrations:
// read-only sessions are shown no control that writes.
func (v view) CanWrite() bool { return v.SignedIn && !v.P.ReadOnly }

// TenantAdmin reports whether the session may manage tokens.
func (v view) TenantAdmin() bool { return v.SignedIn && v.P.CheckTenantAdmin() == nil }

// titles are the pages' headings, by template name.
var titles = map[string]string{
	"signin": "Sign in", "overview": "Overview", "registrations": "Registrations", "registration": "Registration",
	"revoke": "Revoke a registration", "import": "Import a CSV", "preview": "Import preview", "report": "Import report",
	"imports": "Past imports", "audit": "Audit trail", "tokens": "Tokens", "error": "Problem",
}

var funcs = template.FuncMap{
	"time":   timeHTML,
	"mask":   prereg.MaskEmail,
	"join":   strings.Join,
	"orDash": func(s string) string { return map[bool]string{true: "—", false: s}[s == ""] },
}

// timeHTML shows a time as UTC text in a <time> element; the script
// rewrites it in the reader's time zone and keeps UTC in its title.
func timeHTML(v any) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	}
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `">` + t.Format("2006-01-02 15:04 UTC") + `</time>`)
}

// parsePages parses each page with the layout, once at start.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || name == "summary" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/summary.html", n))
	}
	return pages
}

// render writes page name with data; q is nil when nobody is signed in.
func (c *Console) render(w http.ResponseWriter, r *http.Request, q *request, status int, name string, data any) {
	v := view{Title: titles[name], Page: name, Data: data}
	if q != nil {
		v.SignedIn, v.P, v.CSRF = true, q.p, q.sess.CSRF
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.cfg.Logger.Error("console render", "page", name, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorPage answers err with the API's status and a page saying what is
// wrong; the cause of an internal error goes only to the log.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, q *request, err error) {
	status := httpapi.Status(err)
	if status >= 500 {
		c.cfg.Logger.Error("console request failed", "path", r.URL.Path, "error", err.Error())
	}
	c.render(w, r, q, status, "error", prereg.ErrorMessage(err))
}
