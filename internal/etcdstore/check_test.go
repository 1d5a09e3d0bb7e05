package etcdstore_test

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// Check finds an index entry gone, one left without its record, and a
// record whose index entries disagree with it.
func TestCheckFindsBrokenIndexes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(ctx context.Context, cli *clientv3.Client, p string, k prereg.Key) error
	}{
		{"EntryMissing", func(ctx context.Context, cli *clientv3.Client, p string, k prereg.Key) error {
			_, err := cli.Delete(ctx, p+"org/", clientv3.WithPrefix())
			return err
		}},
		{"RecordMissing", func(ctx context.Context, cli *clientv3.Client, p string, k prereg.Key) error {
			_, err := cli.Delete(ctx, p+"rec/"+string(k[:]))
			return err
		}},
		{"StrayEntry", func(ctx context.Context, cli *clientv3.Client, p string, k prereg.Key) error {
			_, err := cli.Put(ctx, p+"user/someone\x00"+string(k[:]), "{}")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			prefix := prefixFor("")
			s, err := etcdstore.New(ctx, member(t, 0), prefix, etcdstore.Options{CallTimeout: testCallTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := storetest.Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
			if errs := s.Check(); len(errs) != 0 {
				t.Fatalf("a sound store: %v", errs)
			}
			k, _ := prereg.ParseKey(r.ID)
			if err := tc.spoil(ctx, member(t, 1), prefix, k); err != nil {
				t.Fatal(err)
			}
			if errs := s.Check(); len(errs) == 0 {
				t.Fatal("Check found nothing wrong")
			}
		})
	}
}
