package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/storetest"
)

// TestConformance runs the behavioural suite every store must pass on a
// real bbolt file; each store is checked (Tx.Check, indexes, login sets,
// grant cache) when its test ends.
func TestConformance(t *testing.T) {
	storetest.Run(t, openConformance)
}

// TestLinearizable checks concurrent histories against the sequential
// model of CONTRACT §1-3 (storetest.Linearizable). It runs for a few
// seconds by default; for minutes by hand:
//
//	PREREG_LINEARIZABILITY_DURATION=5m go test -run TestLinearizable -timeout 0 ./internal/boltstore/
func TestLinearizable(t *testing.T) {
	storetest.Linearizable(t, openConformance)
}

// conformed is a bbolt store as the suite sees it, which checks its own
// invariants when asked (storetest.Checker).
type conformed struct{ *boltstore.Store }

func (c conformed) CheckInvariants() error { return checkStore(c.Store) }

var _ storetest.Checker = conformed{}

// openConformance opens a store as the suite asks, in o.Dir when set.
func openConformance(t *testing.T, o storetest.Options) storetest.Store {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	opts := boltstore.Options{Now: o.Now, SyncEnabled: o.SyncEnabled, LoginSets: o.Serve}
	if o.Serve {
		opts.ReleaseEvery = boltstore.ServiceReleaseEvery
	}
	return conformed{openPath(t, filepath.Join(dir, "prereg.db"), opts)}
}
