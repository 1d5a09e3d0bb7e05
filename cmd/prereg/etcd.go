package main

import (
	"context"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/etcdstore"
)

var _ etcdStore = (*etcdstore.Store)(nil)

// openEtcd connects to the etcd cluster c names.
func openEtcd(ctx context.Context, c config.Etcd, o etcdOpen) (etcdStore, error) {
	s, err := etcdstore.Open(ctx, etcdstore.Config{
		Endpoints: c.Endpoints, Prefix: c.Prefix,
		CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile,
		Username: c.Username, Password: c.Password, DialTimeout: c.DialTimeout,
	}, etcdstore.Options{SyncEnabled: o.SyncEnabled, Serve: o.Serve, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return s, nil
}
