package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/logio"
	"github.com/prereg/prereg/internal/prereg"
)

func serveCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the service (login hook and admin API)",
		Long: `Run the service. Every flag can also be set as PREREG_<FLAG> in the environment
(e.g. PREREG_HOOK_SECRETS); the flag wins. Secrets may come from files:
PREREG_HOOK_SECRETS_FILE, PREREG_ADMIN_TOKEN_FILE, PREREG_SIGNING_SECRETS_FILE.
With no hook secret and no admin token configured, the first start generates
both, keeps their hashes in the store and prints them once (only after every
setting was checked and the address bound). One value given as two kinds of
secret is refused. A lost admin token: stop the service, then
prereg tokens create --db PATH --name NAME.

Writing grants into Auth0 (Management API) is on when these are set:
` + auth0EnvHelp,
		Args: cobra.NoArgs,
	}
	b := config.Bind(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := b.Resolve(pflagLookup{cmd.Flags()}, e.getenv)
		if err != nil {
			return err
		}
		return serve(cmd.Context(), cfg, e)
	}
	return cmd
}

// newLogger logs JSON lines to stderr through a buffer flushed every
// 200 ms (and at close), so the request log costs no system call per login.
func newLogger(e *env, level string) (*slog.Logger, func()) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	out := logio.New(e.stderr, 200*time.Millisecond)
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lv})), func() { _ = out.Close() }
}

// serve runs until ctx ends (SIGTERM/SIGINT), then lets in-flight requests
// finish and closes the store cleanly.
func serve(ctx context.Context, cfg config.Serve, e *env) error {
	log, closeLog := newLogger(e, cfg.LogLevel)
	defer closeLog()
	store, err := boltstore.Open(cfg.DB, boltstore.Options{SyncEnabled: cfg.Auth0Enabled(), LoginSets: true, ReleaseEvery: boltstore.ServiceReleaseEvery})
	if err != nil {
		return err
	}
	defer store.Close()

	api := httpapi.Config{
		HookSecrets:        cfg.HookSecrets,
		AdminToken:         cfg.AdminToken,
		TrustedConnections: cfg.TrustedConnections,
		RequireSignature:   cfg.RequireSignature,
		SyncBudget:         cfg.SyncBudget,
		MaxImportBytes:     cfg.MaxImportBytes,
		Logger:             log,
		Registry:           prometheus.NewRegistry(),
	}
	stopExtras, err := wireExtras(ctx, cfg, store, &api, log)
	if err != nil {
		return err
	}
	defer stopExtras()

	api.MetricsElsewhere = cfg.MetricsAddr != ""
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		// Imports stream large bodies; slow clients are still cut off.
		ReadTimeout:    10 * time.Minute,
		WriteTimeout:   10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 32 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
		tlsCfg, stopTLS, err := tlsConfig(ctx, cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			return err
		}
		defer stopTLS()
		srv.TLSConfig = tlsCfg
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	var mln net.Listener
	if cfg.MetricsAddr != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (--metrics-addr): %w", cfg.MetricsAddr, err)
		}
	}
	// Only now, every setting valid and the addresses ours, may a first
	// start generate secrets: printed by a start that then fails, they
	// would be lost with it, and never generated again.
	if err := bootstrap(ctx, cfg, store, &api, e.stdout); err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		return err
	}
	h := httpapi.New(api, apiStores(store))
	srv.Handler = h.Handler()
	serveFn := func() error { return srv.Serve(ln) }
	if srv.TLSConfig != nil {
		serveFn = func() error { return srv.ServeTLS(ln, "", "") }
	}
	if mln != nil {
		defer serveMetrics(mln, h.MetricsHandler(), log, e)()
	}
	errc := make(chan error, 1)
	go func() { errc <- serveFn() }()
	addr := ln.Addr().String()
	log.Info("listening", slog.String("addr", addr), slog.String("version", version))
	fmt.Fprintf(e.stdout, "prereg listening on %s://%s\n", scheme, addr)
	if e.ready != nil {
		e.ready(scheme + "://" + addr)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("shutdown", slog.String("error", err.Error()))
		return nil
	}
	// Every handler has returned: what they left running (a verification
	// email being sent) finishes before the store closes.
	h.Wait()
	return nil
}

// bootstrap generates, stores and prints the secrets a first start needs
// (those not configured), and accepts the generated hook secret.
func bootstrap(ctx context.Context, cfg config.Serve, store *boltstore.Store, api *httpapi.Config, stdout io.Writer) error {
	hookSecret, adminToken, err := store.Bootstrap(ctx, prereg.BootstrapOptions{HookSecret: len(cfg.HookSecrets) == 0, AdminToken: cfg.AdminToken == ""})
	if err != nil {
		return err
	}
	if hookSecret != "" || adminToken != "" {
		fmt.Fprintln(stdout, "First start: generated secrets (shown this once; only their hashes are stored):")
		if hookSecret != "" {
			fmt.Fprintf(stdout, "  hook secret (PREREG_SECRET of the Action): %s\n", hookSecret)
		}
		if adminToken != "" {
			fmt.Fprintf(stdout, "  admin token (tenant-wide, read-write):     %s\n", adminToken)
		}
	}
	if len(cfg.HookSecrets) == 0 {
		h, err := store.GeneratedHookSecret(ctx)
		if err != nil {
			return err
		}
		if h != nil {
			api.HookSecretHashes = [][]byte{h}
		}
	}
	return nil
}
