// Package console is prereg's admin console: server-rendered pages under
// /console/ for help desks and tenant administrators. It calls the same
// stores and importer as the admin API and decides access with the same
// rules (prereg.Principal), so a page can never do more than the token
// behind its session could do through the API.
//
// A person signs in by pasting an admin token; the console keeps a session
// in the store (prereg.Session) under the SHA-256 of a random cookie value.
// Every form that changes anything carries the session's CSRF secret, and
// a POST without it is refused (403). Pages are plain forms that work
// without JavaScript; the one script only improves them (local times, the
// import preview's file check, copy to clipboard) and keeps an import's
// file in the page between its preview and the confirmation, so that any
// replica can take the confirmation. Nothing is loaded from another
// origin, which the Content-Security-Policy enforces.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Sessions keep console sign-ins (package boltstore, and every store).
type Sessions interface {
	// CreateSession stores s, stamped with the store's clock.
	CreateSession(ctx context.Context, s prereg.Session) (prereg.Session, error)
	// Session returns the live session of the cookie hash h, or not_found
	// once it has expired or its token was revoked.
	Session(ctx context.Context, h [32]byte) (prereg.Session, error)
	// DeleteSession ends a session (sign-out).
	DeleteSession(ctx context.Context, h [32]byte) error
}

// SyncBacklog counts the Auth0 sync jobs still to run.
type SyncBacklog interface {
	PendingJobs(ctx context.Context) (int, error)
}

// Stores are what the pages read and change: the API's own interfaces.
// Every one is required.
type Stores struct {
	Registrations httpapi.Registrations
	SyncQueue     httpapi.SyncQueue
	Stats         httpapi.Stats
	Audit         httpapi.Audit
	Imports       httpapi.Imports
	Tokens        httpapi.Tokens
	Sessions      Sessions
	Backlog       SyncBacklog
}

// Config is what the console is told at start.
type Config struct {
	// AdminToken is the configured admin token (may be empty).
	AdminToken string
	// Importer and Exporter are the API's (package importer, csvio).
	Importer httpapi.Importer
	Exporter httpapi.Exporter
	// MaxImportBytes bounds an uploaded CSV.
	MaxImportBytes int64
	// ImportSlots bounds the imports (previews included) running at once,
	// shared with the API's (httpapi.Config.ImportSlots). Optional.
	ImportSlots httpapi.Slots
	// TempDir holds the uploads of pages without their script between
	// the preview and the confirmation, and files sent again with a
	// confirmation while they are checked.
	TempDir string
	// FailureLimiter counts failed sign-ins with the API's failed
	// authentications, by ClientIP.
	FailureLimiter httpapi.FailureLimiter
	ClientIP       httpapi.ClientIPFunc
	// AdminLimiter is the API's per-token limit (--admin-rate-limit):
	// every signed-in request counts against its token, as an API call
	// of that token does. Optional.
	AdminLimiter httpapi.KeyedLimiter
	// HTTPS reports whether a request reached the service over HTTPS,
	// directly or through a trusted proxy: the cookie is then Secure.
	HTTPS func(r *http.Request) bool
	// Wake nudges the Auth0 sync worker after a revoke or retry. Optional.
	Wake   func()
	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves the pages; it is an http.Handler for /console/.
type Console struct {
	cfg     Config
	st      Stores
	mux     *http.ServeMux
	pages   map[string]*template.Template
	admin   *[32]byte
	uploads *uploads
}

// New builds the console over the stores.
func New(cfg Config, st Stores) *Console {
	for name, v := range map[string]any{"Registrations": st.Registrations, "SyncQueue": st.SyncQueue, "Stats": st.Stats,
		"Audit": st.Audit, "Imports": st.Imports, "Tokens": st.Tokens, "Sessions": st.Sessions, "Backlog": st.Backlog} {
		if v == nil {
			panic("console.New: Stores." + name + " is nil")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxImportBytes == 0 {
		cfg.MaxImportBytes = 256 << 20
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = func(r *http.Request) netip.Addr {
			ap, _ := netip.ParseAddrPort(r.RemoteAddr)
			return ap.Addr().Unmap()
		}
	}
	if cfg.HTTPS == nil {
		cfg.HTTPS = func(r *http.Request) bool { return r.TLS != nil }
	}
	c := &Console{cfg: cfg, st: st, pages: parsePages(), uploads: &uploads{dir: cfg.TempDir, m: map[[32]byte]upload{}}}
	if cfg.AdminToken != "" {
		h := prereg.HashSecret(cfg.AdminToken)
		c.admin = &h
	}
	c.mux = c.routes()
	return c
}

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/signin", c.signInPage)
	m.HandleFunc("POST /console/signin", c.signIn)
	m.HandleFunc("POST /console/signout", c.with(c.signOut))
	m.HandleFunc("GET /console/{$}", c.with(c.overview))
	m.HandleFunc("GET /console/registrations", c.with(c.registrations))
	m.HandleFunc("GET /console/registrations/{id}", c.with(c.registration))
	m.HandleFunc("GET /console/registrations/{id}/revoke", c.with(c.confirmRevoke))
	m.HandleFunc("POST /console/registrations/{id}/revoke", c.with(c.revoke))
	m.HandleFunc("POST /console/registrations/{id}/sync", c.with(c.retrySync))
	m.HandleFunc("GET /console/export", c.with(c.export))
	m.HandleFunc("GET /console/import", c.with(c.importPage))
	m.HandleFunc("POST /console/import", c.with(c.importPreview))
	m.HandleFunc("POST /console/import/confirm", c.with(c.importConfirm))
	m.HandleFunc("POST /console/import/cancel", c.with(c.importCancel))
	m.HandleFunc("GET /console/imports", c.with(c.importList))
	m.HandleFunc("GET /console/imports/{id}", c.with(c.importReport))
	m.HandleFunc("GET /console/audit", c.with(c.audit))
	m.HandleFunc("GET /console/tokens", c.with(c.tokens))
	m.HandleFunc("POST /console/tokens", c.with(c.createToken))
	m.HandleFunc("POST /console/tokens/{id}/revoke", c.with(c.revokeToken))
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, nil, prereg.Errorf(prereg.NotFound, "there is no such page"))
	})
	return m
}

// ServeHTTP sets the headers every answer carries and routes the request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// Close removes uploads still waiting for a confirmation.
func (c *Console) Close() { c.uploads.clear() }

// uploads are CSV files between their preview and the confirmation, one
// per session, kept on disk in TempDir.
type uploads struct {
	dir string
	mu  sync.Mutex
	m   map[[32]byte]upload
}
