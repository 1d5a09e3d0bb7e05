package storetest_test

import (
	"go/build"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/storetest"
)

// The suite's Store covers every interface the layers above a store call,
// so a store that passes it can be wired in wherever the bbolt one is.
var (
	_ httpapi.Logins           = storetest.Store(nil)
	_ httpapi.Registrations    = storetest.Store(nil)
	_ httpapi.SyncQueue        = storetest.Store(nil)
	_ httpapi.Stats            = storetest.Store(nil)
	_ httpapi.Erasures         = storetest.Store(nil)
	_ httpapi.Audit            = storetest.Store(nil)
	_ httpapi.Backups          = storetest.Store(nil)
	_ httpapi.Imports          = storetest.Store(nil)
	_ httpapi.Tokens           = storetest.Store(nil)
	_ httpapi.Health           = storetest.Store(nil)
	_ importer.Store           = storetest.Store(nil)
	_ auth0sync.Queue          = storetest.Store(nil)
	_ auth0sync.ReconcileStore = storetest.Store(nil)
)

// The suite speaks the domain only: no store package, so that every store
// is held to it alike.
func TestSuiteImportsNoStore(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range pkg.Imports {
		if strings.HasPrefix(path, "github.com/prereg/prereg/") && path != "github.com/prereg/prereg/internal/prereg" {
			t.Errorf("the suite imports %s", path)
		}
	}
}
