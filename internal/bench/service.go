package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/logio"
	"github.com/prereg/prereg/internal/prereg"
)

// newHTTPServer has the timeouts and limits `prereg serve` uses, so the
// in-process service and the bare baseline are served like the real one.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelWarn),
	}
}

// ServeBare serves the bare handler on addr until ctx ends: the baseline
// of a run whose load generator is another process (Config.BareURL).
func ServeBare(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := newHTTPServer(BareHandler())
	l := &listening{URL: "http://" + ln.Addr().String(), srv: srv, ln: ln}
	go func() {
		<-ctx.Done()
		l.close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listening is an HTTP server on a loopback port.
type listening struct {
	URL string
	srv *http.Server
	ln  net.Listener
}

// serveLoopback serves h on a free 127.0.0.1 port.
func serveLoopback(h http.Handler) (*listening, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := newHTTPServer(h)
	go func() { _ = srv.Serve(ln) }()
	return &listening{URL: "http://" + ln.Addr().String(), srv: srv, ln: ln}, nil
}

func (l *listening) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = l.srv.Close()
	}
}

// service is prereg running in this process over a real store file.
type service struct {
	*listening
	store   *boltstore.Store
	logFile *os.File
	logBuf  *logio.Writer
}

// serviceOptions configure the in-process service.
type serviceOptions struct {
	HookSecret, AdminToken string
	// LogPath receives the per-request JSON log at info level, as
	// `prereg serve` writes it to stderr; empty discards the log (after
	// formatting it, so its CPU cost stays in the measurement).
	LogPath string
}

// APIStores hands a bbolt store to the HTTP API as each of its resources,
// as prereg serve does.
func APIStores(s *boltstore.Store) httpapi.Stores {
	return httpapi.Stores{Logins: s, Registrations: s, SyncQueue: s, Stats: s, Erasures: s,
		Audit: s, Backups: s, Imports: s, Tokens: s, Health: s}
}

// imports runs the API's imports with package importer over the store.
type imports struct{ store *boltstore.Store }

func (i imports) Run(ctx context.Context, r io.Reader, p prereg.Principal, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	return importer.Run(ctx, i.store, r, importer.Options{DryRun: o.DryRun, Strict: o.Strict, Principal: p})
}

// startService opens the store at path and serves prereg on loopback, wired
// as `prereg serve` wires it with the admin rate limit and the failed-auth
// limit off (a load test is one client hammering one token). It returns
// once /readyz answers 200, with the time from the call to that answer.
func startService(ctx context.Context, path string, o serviceOptions) (*service, StartTime, error) {
	var st StartTime
	t0 := time.Now()
	store, err := boltstore.Open(path, boltstore.Options{LoginSets: true, ReleaseEvery: boltstore.ServiceReleaseEvery})
	if err != nil {
		return nil, st, err
	}
	st.Open = since(t0)
	if _, _, err := store.Bootstrap(ctx, prereg.BootstrapOptions{}); err != nil {
		store.Close()
		return nil, st, err
	}
	var logOut io.Writer = io.Discard
	var logFile *os.File
	var logBuf *logio.Writer
	if o.LogPath != "" {
		if logFile, err = os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
			store.Close()
			return nil, st, fmt.Errorf("open request log: %w", err)
		}
		// Buffered as prereg serve buffers its stderr.
		logBuf = logio.New(logFile, 200*time.Millisecond)
		logOut = logBuf
	}
	cfg := httpapi.Config{
		HookSecrets: []string{o.HookSecret},
		AdminToken:  o.AdminToken,
		Importer:    imports{store},
		Logger:      slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Registry:    prometheus.NewRegistry(),
	}
	// The console is mounted as prereg serve mounts it (on by default).
	cfg.Console = console.New(console.Config{AdminToken: o.AdminToken, Importer: cfg.Importer, TempDir: filepath.Dir(path), Logger: cfg.Logger},
		console.Stores{Registrations: store, SyncQueue: store, Stats: store, Audit: store, Imports: store, Tokens: store, Sessions: store, Backlog: store})
	l, err := serveLoopback(httpapi.New(cfg, APIStores(store)).Handler())
	if err != nil {
		store.Close()
		if logFile != nil {
			logBuf.Close()
			logFile.Close()
		}
		return nil, st, err
	}
	svc := &service{listening: l, store: store, logFile: logFile, logBuf: logBuf}
	if err := waitReady(ctx, l.URL); err != nil {
		svc.close()
		return nil, st, err
	}
	st.Ready = since(t0)
	return svc, st, nil
}

func (s *service) close() {
	s.listening.close()
	_ = s.store.Close()
	if s.logFile != nil {
		_ = s.logBuf.Close()
		_ = s.logFile.Close()
	}
}

// waitReady polls /readyz until it answers 200 (at most 30 s).
func waitReady(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service at %s not ready: %w", base, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// bareReply is what the bare handler answers: a no_match answer of the
// hook's shape.
var bareReply = prereg.HookResult{Outcome: prereg.OutcomeNoMatch, EmailVerified: true, Roles: []string{}, Grants: []prereg.Grant{}}

// BareHandler is the physical limit of prereg's HTTP stack: gin with no
// middleware, one POST route that reads the body under the same cap,
// decodes the same JSON into prereg.Login and answers a fixed JSON reply.
// Everything prereg does beyond this (authentication, logging, metrics,
// the store) is what the prereg/bare ratio prices.
func BareHandler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.POST("/v1/hooks/post-login", func(c *gin.Context) {
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, httpapi.MaxHookBody))
		if err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		var l prereg.Login
		if err := json.Unmarshal(body, &l); err != nil || l.UserID == "" {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusOK, bareReply)
	})
	return r
}
