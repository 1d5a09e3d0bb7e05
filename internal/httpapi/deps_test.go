package httpapi_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/httpapi"
)

// The HTTP layer speaks the domain and its own small interfaces: no store,
// importer, CSV or Auth0 package, so a second store changes nothing here.
func TestHTTPLayerImportsNoStore(t *testing.T) {
	allowed := map[string]bool{
		"github.com/prereg/prereg/internal/prereg":   true,
		"github.com/prereg/prereg/internal/limits":   true,
		"github.com/prereg/prereg/internal/netallow": true,
		"github.com/prereg/prereg/internal/bytesize": true, // sizes in messages
	}
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources: %v", err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/prereg/prereg/") && !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

// A store left out of the wiring stops New, naming it, instead of failing
// the first request that needs it.
func TestNewRefusesAMissingStore(t *testing.T) {
	e := newEnv(t)
	stores := storesOf(e.store)
	stores.Erasures = nil
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Erasures") {
			t.Fatalf("New with no Erasures: recovered %v", r)
		}
	}()
	httpapi.New(httpapi.Config{}, stores)
}
