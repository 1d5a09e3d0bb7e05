package etcdstore_test

import (
	"reflect"
	"testing"

	"github.com/prereg/prereg/internal/auth0sync"
	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/importer"
	"github.com/prereg/prereg/internal/storetest"
)

var (
	_ storetest.Store          = (*etcdstore.Store)(nil)
	_ storetest.Checker        = (*etcdstore.Store)(nil)
	_ importer.Store           = (*etcdstore.Store)(nil)
	_ auth0sync.Queue          = (*etcdstore.Store)(nil)
	_ auth0sync.ReconcileStore = (*etcdstore.Store)(nil)
)

// boltOnly are the methods that are about bbolt's file.
var boltOnly = map[string]bool{"Path": true, "ReleaseMapped": true}

// The service and the commands can use either store: every method of the
// bbolt store, but those about its file, is on the etcd store with the
// same parameters and results.
func TestSameMethodsAsBoltStore(t *testing.T) {
	b, e := reflect.TypeFor[*boltstore.Store](), reflect.TypeFor[*etcdstore.Store]()
	for m := range b.Methods() {
		if boltOnly[m.Name] {
			continue
		}
		em, ok := e.MethodByName(m.Name)
		if !ok {
			t.Errorf("etcdstore.Store has no %s", m.Name)
			continue
		}
		if sig(m.Type) != sig(em.Type) {
			t.Errorf("%s: bolt %s, etcd %s", m.Name, sig(m.Type), sig(em.Type))
		}
	}
}

// sig is a method's signature without its receiver.
func sig(f reflect.Type) string {
	s := "("
	for i := 1; i < f.NumIn(); i++ {
		s += f.In(i).String() + ","
	}
	s += ")("
	for i := range f.NumOut() {
		s += f.Out(i).String() + ","
	}
	return s + ")"
}
