package main

import (
	"context"
	"log/slog"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/httpapi"
)

// wireExtras plugs the optional parts (limits, signatures, allow-lists,
// CSV, Auth0 sync) into the API config. It returns a function that stops
// whatever it started.
func wireExtras(ctx context.Context, cfg config.Serve, store *boltstore.Store, api *httpapi.Config, log *slog.Logger) (func(), error) {
	return func() {}, nil
}
