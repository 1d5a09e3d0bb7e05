package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/logio"
	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/webhook"
)

func serveCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the service (login hook and admin API)",
		Long: `Run the service. With no hook secret and no admin token configured, the
first start generates both, keeps their hashes in the store and prints them
once (only after every setting was checked and the address bound). One value
given as two kinds of secret is refused. A lost admin token: stop the
service, then prereg tokens create --db PATH --name NAME.

With --store etcd the data lives in an etcd cluster (--etcd-endpoints) instead
of the --db file, and any number of replicas may serve from it; the first
replica to find --etcd-prefix empty initializes it.

Environment:
  PREREG_<FLAG>        every flag, upper-cased with _ for - (PREREG_DB,
                       PREREG_ADDR, PREREG_HOOK_SECRETS, PREREG_MAX_IMPORT_BYTES…);
                       the flag wins
  PREREG_HOOK_SECRETS_FILE, PREREG_ADMIN_TOKEN_FILE, PREREG_SIGNING_SECRETS_FILE
                       read that secret from a file instead
  PREREG_ETCD_PASSWORD_FILE  the etcd password, from a file
Writing grants into Auth0 (Management API) is on when these are set:
` + auth0EnvHelp,
		Example: `  prereg serve --db /data/prereg.db --addr :8080
  PREREG_HOOK_SECRETS_FILE=/run/secrets/hook prereg serve --tls-cert cert.pem --tls-key key.pem
  prereg serve --max-import-bytes 64MiB --metrics-addr 127.0.0.1:9090
  prereg serve --store etcd --etcd-endpoints https://etcd-0:2379,https://etcd-1:2379,https://etcd-2:2379 --etcd-ca-file ca.pem`,
		Args: noArgs,
	}
	b := config.Bind(cmd.Flags())
	byteFlags(cmd.Flags(), "max-import-bytes")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := b.Resolve(pflagLookup{cmd.Flags()}, e.getenv)
		if err != nil {
			return err
		}
		return serve(cmd.Context(), cfg, e)
	}
	return cmd
}

// serve runs until ctx ends (SIGTERM/SIGINT), then lets in-flight requests
// finish and closes the store cleanly.
func serve(ctx context.Context, cfg config.Serve, e *env) error {
	log, closeLog := newLogger(e, cfg.LogLevel)
	defer closeLog()
	store, err := openService(ctx, cfg, log)
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
	if cfg.Console {
		// One bound on imports for the API and the console.
		api.ImportSlots = limits.NewSlots(httpapi.DefaultMaxConcurrentImports, 1)
		con, err := wireConsole(cfg, store, api)
		if err != nil {
			return err
		}
		defer con.Close()
		api.Console = con
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

// newLogger logs JSON lines to stderr through a buffer flushed on a short
// timer and at close, so the request log costs no system call per login.
func newLogger(e *env, level string) (*slog.Logger, func()) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	out := logio.New(e.stderr, 200*time.Millisecond)
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lv})), func() { _ = out.Close() }
}

// wireExtras plugs the optional parts (limits, signatures, allow-lists,
// CSV, Auth0 sync) into the API config. It returns a function that stops
// whatever it started.
func wireExtras(ctx context.Context, cfg config.Serve, store serviceStore, api *httpapi.Config, log *slog.Logger) (func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if err := wireSecurity(cfg, api); err != nil {
		return stop, err
	}
	wireCSV(cfg, store, api)
	if cfg.Auth0Enabled() {
		client, err := auth0sync.New(auth0sync.Config{Domain: cfg.Auth0Domain, ClientID: cfg.Auth0ClientID, ClientSecret: cfg.Auth0ClientSecret, Audience: cfg.Auth0Audience})
		if err != nil {
			return stop, err
		}
		syncer := auth0sync.NewSyncer(auth0sync.SyncerConfig{Queue: store, Client: client, Logger: log})
		sctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = syncer.Run(sctx)
		}()
		stops = append(stops, func() { cancel(); wg.Wait() })
		api.Syncer = syncer
		api.Reconciler = reconciler{store: store, users: client, syncer: syncer}
		if cfg.SendVerification {
			api.Verification = client
		}
		log.Info("Auth0 sync on", slog.String("domain", cfg.Auth0Domain))
	}
	return stop, nil
}

// wireSecurity plugs in rate limits, signatures, the source allow-list and
// the trusted-proxy rule for client addresses.
func wireSecurity(cfg config.Serve, api *httpapi.Config) error {
	if cfg.AdminRateLimit > 0 {
		api.AdminLimiter = limits.New(cfg.AdminRateLimit, int(2*cfg.AdminRateLimit), 0)
	}
	if cfg.AuthFailureLimit > 0 {
		api.FailureLimiter = limits.PerMinute(cfg.AuthFailureLimit)
	}
	if cfg.HookMaxInFlight > 0 {
		api.HookInFlight = limits.NewInFlight(cfg.HookMaxInFlight)
	}
	if len(cfg.SigningSecrets) > 0 {
		keys, err := webhook.ParseSecrets(strings.Join(cfg.SigningSecrets, ","))
		if err != nil {
			return err
		}
		for i, k := range keys {
			if len(k) < webhook.StrongKeyLen && !cfg.InsecureDev {
				return prereg.Errorf(prereg.Invalid, "signing secret #%d has a %d-byte key; at least %d are required (generate one with: echo whsec_$(openssl rand -base64 32)), or pass --insecure-dev", i+1, len(k), webhook.StrongKeyLen)
			}
		}
		api.Signatures = &webhook.Verifier{Secrets: keys}
	}
	proxies, err := netallow.Parse(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	if proxies.Len() > 0 {
		header := cfg.ProxyHeader
		api.ClientIP = func(r *http.Request) netip.Addr {
			return netallow.ClientIP(r.RemoteAddr, r.Header, header, proxies)
		}
	}
	allow, err := netallow.Parse(cfg.HookAllowCIDRs)
	if err != nil {
		return err
	}
	prefixes := allow.Prefixes()
	if cfg.HookAllowFile != "" {
		f, err := os.Open(cfg.HookAllowFile)
		if err != nil {
			return prereg.Wrap(prereg.Invalid, err, "--hook-allow-file: "+err.Error())
		}
		more, err := netallow.LoadAuth0IPs(f, cfg.HookAllowRegions...)
		f.Close()
		if err != nil {
			return err
		}
		prefixes = append(prefixes, more...)
	}
	if len(prefixes) > 0 {
		api.HookAllow = netallow.New(prefixes...)
	}
	return nil
}

// importTempDir is where imports and the console's uploads keep their
// temporary copies, which hold addresses: beside the store file (same
// protection, and not in a RAM-backed /tmp); with etcd, in the temporary
// directory (a volume of its own on Kubernetes).
func importTempDir(cfg config.Serve) string {
	if cfg.Store.Kind == config.StoreEtcd {
		return ""
	}
	return filepath.Dir(cfg.DB)
}

// wireCSV plugs in the importer and exporter.
func wireCSV(cfg config.Serve, store serviceStore, api *httpapi.Config) {
	api.Importer = csvImporter{store: store, tmp: importTempDir(cfg)}
	api.Exporter = csvExporter{}
}

// wireConsole builds the admin console over the store, with the API's
// importer, exporter, failure limit and per-token limit (api must be fully
// wired).
func wireConsole(cfg config.Serve, store serviceStore, api httpapi.Config) (*console.Console, error) {
	proxies, err := netallow.Parse(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	c := console.Config{
		AdminToken: api.AdminToken, Importer: api.Importer, Exporter: api.Exporter, MaxImportBytes: cfg.MaxImportBytes, ImportSlots: api.ImportSlots,
		TempDir: importTempDir(cfg), FailureLimiter: api.FailureLimiter, AdminLimiter: api.AdminLimiter, ClientIP: api.ClientIP,
		HTTPS: func(r *http.Request) bool { return netallow.HTTPS(r, proxies) }, Logger: api.Logger,
	}
	if api.Syncer != nil {
		c.Wake = api.Syncer.Wake
	}
	return console.New(c, console.Stores{Registrations: store, SyncQueue: store, Stats: store, Audit: store,
		Imports: store, Tokens: store, Sessions: store, Backlog: store}), nil
}

// apiStores hands the store to the API as each of its resources.
func apiStores(s serviceStore) httpapi.Stores {
	return httpapi.Stores{Logins: s, Registrations: s, SyncQueue: s, Stats: s, Erasures: s,
		Audit: s, Backups: s, Imports: s, Tokens: s, Health: s}
}

// csvImporter runs the API's imports with package importer over the store;
// its temporary copies go to tmp.
type csvImporter struct {
	store serviceStore
	tmp   string
}

func (c csvImporter) Run(ctx context.Context, r io.Reader, p prereg.Principal, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	return importer.Run(ctx, c.store, r, importer.Options{DryRun: o.DryRun, Strict: o.Strict, Principal: p, TempDir: c.tmp})
}

// csvExporter writes the API's exports with package csvio.
type csvExporter struct{}

func (csvExporter) NewEncoder(w io.Writer) httpapi.Encoder { return csvio.NewEncoder(w) }

// reconciler runs prereg reconcile for the API and wakes the sync worker
// for the grants it made.
type reconciler struct {
	store  serviceStore
	users  auth0sync.UserLookup
	syncer *auth0sync.Syncer
}

func (r reconciler) Reconcile(ctx context.Context, dryRun bool) (prereg.ReconcileReport, error) {
	rep, err := auth0sync.Reconcile(ctx, r.store, r.users, dryRun)
	if err == nil && len(rep.Jobs) > 0 {
		r.syncer.Wake()
	}
	return rep, err
}

// bootstrap generates, stores and prints the secrets a first start needs
// (those not configured), and accepts the generated hook secret.
func bootstrap(ctx context.Context, cfg config.Serve, store serviceStore, api *httpapi.Config, stdout io.Writer) error {
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

// serveMetrics serves /metrics alone on a listener of its own
// (--metrics-addr), so the scrape can stay on an internal address while the
// main listener faces Auth0. It is plain HTTP. stop shuts it down.
func serveMetrics(ln net.Listener, h http.Handler, log *slog.Logger, e *env) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", slog.String("error", err.Error()))
		}
	}()
	bound := ln.Addr().String()
	log.Info("metrics listening", slog.String("addr", bound))
	fmt.Fprintf(e.stdout, "prereg metrics on http://%s/metrics\n", bound)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}
