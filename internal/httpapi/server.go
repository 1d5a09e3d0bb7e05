// Package httpapi is prereg's HTTP face on gin: the login hook, the admin
// API, health and metrics. Handlers bind, call one store method and write
// the answer; the rules live in package prereg.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/prereg"
)

// Store is what the HTTP layer needs from storage.
type Store interface {
	Login(ctx context.Context, l prereg.Login, verified bool) (boltstore.LoginResult, error)
	Put(ctx context.Context, in prereg.Input, source, actor string) (prereg.Registration, prereg.Change, error)
	Get(ctx context.Context, id string) (prereg.Registration, error)
	List(ctx context.Context, f boltstore.Filter) ([]prereg.Registration, string, error)
	Each(ctx context.Context, f boltstore.Filter, fn func(prereg.Registration) error) error
	Revoke(ctx context.Context, id string, force bool, actor string) (prereg.Registration, []prereg.SyncJob, error)
	RetrySync(ctx context.Context, registrationID, actor string) (prereg.SyncJob, error)
	Stats(ctx context.Context, org string, onlyOrg bool) (boltstore.Stats, error)
	Erase(ctx context.Context, email, limitOrg, actor string) (boltstore.Erasure, error)
	AuditTrail(ctx context.Context, f boltstore.AuditFilter) ([]prereg.AuditEntry, string, error)
	Audit(ctx context.Context, actor string, action prereg.AuditAction, org, regID, summary string) error
	Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error)
	Import(ctx context.Context, id string) (prereg.ImportReport, error)
	Imports(ctx context.Context, f boltstore.ImportFilter) ([]prereg.ImportSummary, string, error)
	CreateToken(ctx context.Context, name, org string, readOnly bool, actor string) (prereg.Token, string, error)
	Tokens(ctx context.Context) ([]prereg.Token, error)
	RevokeToken(ctx context.Context, id, actor string) (prereg.Token, error)
	Authenticate(ctx context.Context, h [32]byte) (prereg.Token, bool, error)
	MarkVerificationSent(ctx context.Context, userID string, period time.Duration) (bool, error)
	ForgetVerificationSent(ctx context.Context, userID string) error
	Ping(ctx context.Context) error
	Size() int64
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

// InFlight caps concurrent hook requests.
type InFlight interface {
	TryAcquire() (release func(), ok bool)
}

// Importer runs one CSV import for the HTTP endpoint (package importer).
type Importer func(ctx context.Context, r io.Reader, p prereg.Principal, dryRun, strict bool) (prereg.ImportReport, error)

// Exporter writes registrations in the import format (package csvio).
type Exporter func(w io.Writer, each func(fn func(prereg.Registration) error) error) error

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
	HookAllow func(netip.Addr) bool
	ClientIP  ClientIPFunc

	AdminLimiter   KeyedLimiter
	FailureLimiter FailureLimiter
	HookInFlight   InFlight

	Syncer             Syncer
	SyncBudget         time.Duration
	Verification       VerificationSender
	VerificationPeriod time.Duration

	// Reconciler runs prereg reconcile through the service. Optional.
	Reconciler func(ctx context.Context, dryRun bool) (any, error)

	Importer       Importer
	Exporter       Exporter
	MaxImportBytes int64
	// MaxConcurrentImports bounds imports running at once; each token may
	// run one at a time.
	MaxConcurrentImports int

	Logger   *slog.Logger
	Registry *prometheus.Registry
	// MetricsElsewhere leaves /metrics off the router: the caller serves
	// MetricsHandler on a listener of its own (--metrics-addr).
	MetricsElsewhere bool
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
}

// Limits on request bodies.
const (
	MaxHookBody  = 16 << 10
	MaxAdminBody = 64 << 10
)

// Server is the HTTP API.
type Server struct {
	cfg        Config
	store      Store
	log        *slog.Logger
	engine     *gin.Engine
	hookHashes [][32]byte
	adminHash  *[32]byte
	trusted    map[string]bool
	metrics    *metrics
	imports    *limits.Slots
	ready      readiness
	// background holds the work a request leaves running after its
	// answer (verification sends), for Wait.
	background sync.WaitGroup
}

// New builds the router. It registers its metrics on cfg.Registry.
func New(cfg Config, store Store) *Server {
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
		cfg.MaxConcurrentImports = 2
	}
	if cfg.ClientIP == nil {
		cfg.ClientIP = remoteIP
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, store: store, log: cfg.Logger, trusted: map[string]bool{}, imports: limits.NewSlots(cfg.MaxConcurrentImports, 1)}
	for _, sec := range cfg.HookSecrets {
		s.hookHashes = append(s.hookHashes, sha256.Sum256([]byte(sec)))
	}
	for _, h := range cfg.HookSecretHashes {
		var a [32]byte
		copy(a[:], h)
		s.hookHashes = append(s.hookHashes, a)
	}
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminHash = &h
	}
	for _, c := range cfg.TrustedConnections {
		s.trusted[c] = true
	}
	s.metrics = newMetrics(cfg.Registry, store)
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

func (s *Server) readyz(c *gin.Context) {
	if err := s.ready.check(c.Request.Context(), s.store, s.cfg.Now); err != nil {
		s.fail(c, prereg.Wrap(prereg.Unavailable, err, "the store is not writable"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// readiness keeps the last store probe for readyEvery: each probe commits
// a write, and probes are cheap to ask for, so however often /readyz is
// called the store sees at most one probe a second. Callers that arrive
// during a probe wait for it and share its result.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const readyEvery = time.Second

func (r *readiness) check(ctx context.Context, store Store, now func() time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := now(); !r.at.IsZero() && t.Sub(r.at) < readyEvery && !t.Before(r.at) {
		return r.err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r.err = store.Ping(pctx)
	r.at = now()
	return r.err
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
