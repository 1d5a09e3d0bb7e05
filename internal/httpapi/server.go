// Package httpapi is prereg's HTTP face on gin: the login hook, the admin
// API, health and metrics. Handlers bind, call one store method and write
// the answer; the rules live in package prereg.
package httpapi

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/prereg"
)

// Stores are the resources the API serves, one small interface each (the
// bbolt store implements them all). Every one is required.
type Stores struct {
	Logins        Logins
	Registrations Registrations
	SyncQueue     SyncQueue
	Stats         Stats
	Erasures      Erasures
	Audit         Audit
	Backups       Backups
	Imports       Imports
	Tokens        Tokens
	Health        Health
}

// check panics naming a missing store: a wiring mistake must stop
// the start, not fail the first request that needs it.
func (st Stores) check() {
	for name, v := range map[string]any{"Logins": st.Logins, "Registrations": st.Registrations, "SyncQueue": st.SyncQueue,
		"Stats": st.Stats, "Erasures": st.Erasures, "Audit": st.Audit, "Backups": st.Backups, "Imports": st.Imports,
		"Tokens": st.Tokens, "Health": st.Health} {
		if v == nil {
			panic("httpapi.New: Stores." + name + " is nil")
		}
	}
}

// Syncer pushes grants into Auth0 (package auth0sync). Optional.
type Syncer interface {
	// RunNow runs jobs at once and waits at most budget; it returns the
	// state of each job that finished in time.
	RunNow(ctx context.Context, jobs []prereg.SyncJob, budget time.Duration) map[string]prereg.SyncState
	// Wake nudges the background worker (after a revoke or retry).
	Wake()
}

// VerificationSender asks Auth0 to send a verification email. Optional.
type VerificationSender interface {
	SendVerificationEmail(ctx context.Context, userID string) error
}

// SignatureVerifier checks Standard Webhooks signatures (package webhook).
type SignatureVerifier interface {
	Verify(id, timestamp, signature string, body []byte) error
}

// KeyedLimiter is a per-key rate limiter (package limits).
type KeyedLimiter interface {
	Allow(key string) (bool, time.Duration)
}

// FailureLimiter counts failed authentications per source address.
type FailureLimiter interface {
	Blocked(key string) (bool, time.Duration)
	Fail(key string)
}

// Slots caps work running at once, overall and per key (package limits).
type Slots interface {
	TryAcquire(key string) (release func(), ok bool)
}

// InFlight caps concurrent hook requests.
type InFlight interface {
	TryAcquire() (release func(), ok bool)
}

// AddrSet is a set of source addresses (package netallow).
type AddrSet interface {
	Contains(addr netip.Addr) bool
}

// ClientIPFunc finds a request's source address (package netallow).
type ClientIPFunc func(r *http.Request) netip.Addr

// Config is everything the HTTP layer is told at start.
type Config struct {
	// HookSecrets are the accepted hook secrets (several during rotation).
	HookSecrets []string
	// HookSecretHashes are SHA-256 hashes of further accepted hook secrets
	// (the one generated at first start is kept only as a hash).
	HookSecretHashes [][]byte
	// AdminToken is the configured bootstrap admin token (tenant-wide,
	// read-write); tokens in the store are accepted too.
	AdminToken string
	// TrustedConnections count their emails as verified.
	TrustedConnections []string
	// Signatures verifies hook signatures when set; RequireSignature
	// refuses unsigned hook calls.
	Signatures       SignatureVerifier
	RequireSignature bool
	// HookAllow, when set, admits hook calls only from these sources.
	HookAllow AddrSet
	ClientIP  ClientIPFunc

	AdminLimiter   KeyedLimiter
	FailureLimiter FailureLimiter
	HookInFlight   InFlight

	Syncer             Syncer
	SyncBudget         time.Duration
	Verification       VerificationSender
	VerificationPeriod time.Duration

	// Reconciler runs prereg reconcile through the service. Optional.
	Reconciler Reconciler

	// Importer and Exporter serve CSV imports and exports. Optional.
	Importer       Importer
	Exporter       Exporter
	MaxImportBytes int64
	// MaxConcurrentImports bounds imports running at once; each token may
	// run one at a time.
	MaxConcurrentImports int
	// ImportSlots, when set, replaces that bound with slots shared with
	// another importer of the service (the console's).
	ImportSlots Slots

	// Console, when set, serves everything under /console/ (package
	// console); it sees the request after the request ID and log line.
	Console http.Handler

	Logger   *slog.Logger
	Registry *prometheus.Registry
	// MetricsElsewhere leaves /metrics off the router: the caller serves
	// MetricsHandler on a listener of its own (--metrics-addr).
	MetricsElsewhere bool
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
}

// DefaultMaxConcurrentImports is how many imports run at once unless
// Config says otherwise.
const DefaultMaxConcurrentImports = 2

// Limits on request bodies.
const (
	MaxHookBody  = 16 << 10
	MaxAdminBody = 64 << 10
)

// Server is the HTTP API.
type Server struct {
	cfg        Config
	stores     Stores
	log        *slog.Logger
	engine     *gin.Engine
	hookHashes [][32]byte
	adminHash  *[32]byte
	trusted    prereg.TrustedConnections
	metrics    *metrics
	imports    Slots
	ready      readiness
	// background holds the work a request leaves running after its
	// answer (verification sends), for Wait.
	background sync.WaitGroup
}

// New builds the router over the stores. It registers its metrics on
// cfg.Registry.
func New(cfg Config, stores Stores) *Server {
	stores.check()
	gin.SetMode(gin.ReleaseMode)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.SyncBudget == 0 {
		cfg.SyncBudget = time.Second
	}
	if cfg.VerificationPeriod == 0 {
		cfg.VerificationPeriod = 24 * time.Hour
	}
	if cfg.MaxImportBytes == 0 {
		cfg.MaxImportBytes = 256 << 20
	}
	if cfg.MaxConcurrentImports == 0 {
		cfg.MaxConcurrentImports = DefaultMaxConcurrentImports
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, stores: stores, log: cfg.Logger, trusted: prereg.NewTrustedConnections(cfg.TrustedConnections), imports: cfg.ImportSlots}
	if s.imports == nil {
		s.imports = limits.NewSlots(cfg.MaxConcurrentImports, 1)
	}
	for _, sec := range cfg.HookSecrets {
		s.hookHashes = append(s.hookHashes, prereg.HashSecret(sec))
	}
	for _, h := range cfg.HookSecretHashes {
		var a [32]byte
		copy(a[:], h)
		s.hookHashes = append(s.hookHashes, a)
	}
	if cfg.AdminToken != "" {
		h := prereg.HashSecret(cfg.AdminToken)
		s.adminHash = &h
	}
	s.metrics = newMetrics(cfg.Registry, stores.Backups)
	s.engine = s.routes()
	return s
}

// Handler is the root http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Wait waits for the work requests left running after their answer (a
// verification email being sent, and the store write recording it): call
// it after the HTTP server has shut down and before closing the store.
func (s *Server) Wait() { s.background.Wait() }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	_ = r.SetTrustedProxies(nil) // the source address comes from ClientIP
	r.Use(s.recoverer(), s.requestIDAndLog())
	r.NoRoute(func(c *gin.Context) { s.fail(c, prereg.Errorf(prereg.NotFound, "no such route")) })
	// gin has set the Allow header by the time NoMethod runs.
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, prereg.Errorf(prereg.MethodNotAllowed, "%s is not allowed on this route; allowed: %s", c.Request.Method, c.Writer.Header().Get("Allow")))
	})

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	if !s.cfg.MetricsElsewhere {
		r.GET("/metrics", gin.WrapH(s.metrics.handler))
	}
	r.GET("/v1/openapi.json", openapiDoc)

	r.POST("/v1/hooks/post-login", s.hookAuth(), s.hook)
	if s.cfg.Console != nil {
		r.Any("/console/*path", gin.WrapH(s.cfg.Console))
		r.GET("/console", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/console/") })
	}

	a := r.Group("/v1", s.adminAuth())
	a.POST("/registrations", s.createRegistration)
	a.GET("/registrations", s.listRegistrations)
	a.GET("/registrations/:id", s.getRegistration)
	a.DELETE("/registrations/:id", s.revokeRegistration)
	a.POST("/registrations/:id/sync", s.retrySync)
	a.POST("/imports", s.importCSV)
	a.GET("/imports", s.listImports)
	a.GET("/imports/:id", s.getImport)
	a.GET("/exports", s.export)
	a.GET("/stats", s.stats)
	a.POST("/erasures", s.erase)
	a.GET("/audit", s.audit)
	a.GET("/backup", s.backup)
	a.POST("/tokens", s.createToken)
	a.GET("/tokens", s.listTokens)
	a.DELETE("/tokens/:id", s.revokeToken)
	a.POST("/reconcile", s.reconcile)
	return r
}

func remoteIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// matchHash compares h with every candidate in constant time, without an
// early exit, so timing says nothing about which (or whether one) matched.
func matchHash(h [32]byte, candidates [][32]byte) bool {
	ok := 0
	for i := range candidates {
		ok |= subtle.ConstantTimeCompare(h[:], candidates[i][:])
	}
	return ok == 1
}
