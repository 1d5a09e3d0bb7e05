package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/csvio"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

// wireExtras plugs the optional parts (limits, signatures, allow-lists,
// CSV, Auth0 sync) into the API config. It returns a function that stops
// whatever it started.
func wireExtras(ctx context.Context, cfg config.Serve, store *boltstore.Store, api *httpapi.Config, log *slog.Logger) (func(), error) {
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

// wireCSV plugs in the importer and exporter.
func wireCSV(cfg config.Serve, store *boltstore.Store, api *httpapi.Config) {
	// The importer's temporary copy holds addresses: keep it beside the
	// store (same protection, and not in a RAM-backed /tmp).
	api.Importer = csvImporter{store: store, tmp: filepath.Dir(cfg.DB)}
	api.Exporter = csvExporter{}
}

// The bbolt store serves every resource of the HTTP API.
var (
	_ httpapi.Logins        = (*boltstore.Store)(nil)
	_ httpapi.Registrations = (*boltstore.Store)(nil)
	_ httpapi.SyncQueue     = (*boltstore.Store)(nil)
	_ httpapi.Stats         = (*boltstore.Store)(nil)
	_ httpapi.Erasures      = (*boltstore.Store)(nil)
	_ httpapi.Audit         = (*boltstore.Store)(nil)
	_ httpapi.Backups       = (*boltstore.Store)(nil)
	_ httpapi.Imports       = (*boltstore.Store)(nil)
	_ httpapi.Tokens        = (*boltstore.Store)(nil)
	_ httpapi.Health        = (*boltstore.Store)(nil)
)

// apiStores hands the bbolt store to the API as each of its resources.
func apiStores(s *boltstore.Store) httpapi.Stores {
	return httpapi.Stores{Logins: s, Registrations: s, SyncQueue: s, Stats: s, Erasures: s,
		Audit: s, Backups: s, Imports: s, Tokens: s, Health: s}
}

// csvImporter runs the API's imports with package importer over the store;
// its temporary copies go to tmp.
type csvImporter struct {
	store *boltstore.Store
	tmp   string
}

func (c csvImporter) Run(ctx context.Context, r io.Reader, p prereg.Principal, o httpapi.ImportOptions) (prereg.ImportReport, error) {
	return importer.Run(ctx, c.store, r, importer.Options{DryRun: o.DryRun, Strict: o.Strict, Principal: p, TempDir: c.tmp})
}

// csvExporter writes the API's exports with package csvio.
type csvExporter struct{}

func (csvExporter) NewEncoder(w io.Writer) httpapi.Encoder { return csvio.NewEncoder(w) }

// exportCSV writes the registrations f selects from the store in the
// import format, from one read transaction.
func exportCSV(ctx context.Context, w io.Writer, regs *boltstore.Store, f prereg.Filter) error {
	enc := csvio.NewEncoder(w)
	if err := regs.Each(ctx, f, enc.Write); err != nil {
		return err
	}
	return enc.Flush()
}

// reconciler runs prereg reconcile for the API and wakes the sync worker
// for the grants it made.
type reconciler struct {
	store  *boltstore.Store
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
