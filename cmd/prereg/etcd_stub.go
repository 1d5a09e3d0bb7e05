//go:build !etcdstore

package main

import (
	"context"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/prereg"
)

// openEtcd awaits package etcdstore.
func openEtcd(context.Context, config.Etcd, etcdOpen) (etcdStore, error) {
	return nil, prereg.Errorf(prereg.Unavailable, "this build of prereg has no etcd store")
}
