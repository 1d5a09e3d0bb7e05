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
		api.Reconciler = func(ctx context.Context, dryRun bool) (any, error) {
			rep, err := auth0sync.Reconcile(ctx, store, client, dryRun)
			if err == nil && len(rep.Jobs) > 0 {
				syncer.Wake()
			}
			return rep, err
		}
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
	tmp := filepath.Dir(cfg.DB)
	api.Importer = func(ctx context.Context, r io.Reader, p prereg.Principal, dryRun, strict bool) (prereg.ImportReport, error) {
		return importer.Run(ctx, store, r, importer.Options{DryRun: dryRun, Strict: strict, Principal: p, TempDir: tmp})
	}
	api.Exporter = exportCSV
}

// exportCSV writes registrations in the import format.
func exportCSV(w io.Writer, each func(fn func(prereg.Registration) error) error) error {
	enc := csvio.NewEncoder(w)
	if err := each(enc.Write); err != nil {
		return err
	}
	return enc.Flush()
}
