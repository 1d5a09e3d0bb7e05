package main

import (
	"context"
	"log/slog"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/prereg"
)

// serviceStore is what serve needs of a store, of either kind: every
// resource of the HTTP API, the importer's and the Auth0 sync's calls,
// and the secrets of a first start.
type serviceStore interface {
	httpapi.Logins
	httpapi.Registrations
	httpapi.SyncQueue
	httpapi.Stats
	httpapi.Erasures
	httpapi.Audit
	httpapi.Backups
	httpapi.Imports
	httpapi.Tokens
	httpapi.Health
	importer.Store
	auth0sync.Queue
	auth0sync.ReconcileStore
	console.Sessions
	console.SyncBacklog
	Bootstrap(ctx context.Context, o prereg.BootstrapOptions) (hookSecret, adminToken string, err error)
	GeneratedHookSecret(ctx context.Context) ([]byte, error)
	Close() error
}

// dumpStore is what copy, backup, restore and check need of a store of
// either kind: its whole contents as items, and its own consistency check.
type dumpStore interface {
	Dump(ctx context.Context, fn func(prereg.DumpItem) error) error
	Load(ctx context.Context, items []prereg.DumpItem) error
	DumpCounts(ctx context.Context) (prereg.DumpCounts, error)
	Clear(ctx context.Context) error
	Check() []error
	Close() error
}

// etcdStore is an etcd store as cmd/prereg uses it.
type etcdStore interface {
	serviceStore
	dumpStore
}

var (
	_ serviceStore = (*boltstore.Store)(nil)
	_ dumpStore    = (*boltstore.Store)(nil)
)

// etcdOpen is how a command opens an etcd store: as the service (Serve,
// with the Auth0 sync queue when SyncEnabled) or for one job.
type etcdOpen struct {
	SyncEnabled, Serve bool
	Logger             *slog.Logger
}

// openService opens the store serve runs on, as cfg.Store says.
func openService(ctx context.Context, cfg config.Serve, log *slog.Logger) (serviceStore, error) {
	if cfg.Store.Kind == config.StoreEtcd {
		log.Info("store: etcd", slog.Any("endpoints", cfg.Store.Etcd.Endpoints), slog.String("prefix", cfg.Store.Etcd.Prefix))
		return openEtcd(ctx, cfg.Store.Etcd, etcdOpen{SyncEnabled: cfg.Auth0Enabled(), Serve: true, Logger: log})
	}
	s, err := boltstore.Open(cfg.DB, boltstore.Options{SyncEnabled: cfg.Auth0Enabled(), LoginSets: true, ReleaseEvery: boltstore.ServiceReleaseEvery})
	if err != nil {
		return nil, err
	}
	return s, nil
}
