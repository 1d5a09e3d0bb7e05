package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/etcdtest"
)

// An etcd location names its key prefix by the URLs' path, or alone
// (etcd:/PREFIX/); without one it takes the --etcd-* settings.
func TestParseEtcdLocation(t *testing.T) {
	flags := config.Etcd{Endpoints: []string{"http://flag:2379"}, Prefix: "/flag/"}
	for _, tc := range []struct {
		arg       string
		endpoints []string
		prefix    string
		err       string
	}{
		{arg: "etcd:", endpoints: []string{"http://flag:2379"}, prefix: "/flag/"},
		{arg: "etcd:https://a:2379", endpoints: []string{"https://a:2379"}, prefix: "/flag/"},
		{arg: "etcd:https://a:2379/", endpoints: []string{"https://a:2379/"}, prefix: "/flag/"},
		{arg: "etcd:https://a:2379/old/", endpoints: []string{"https://a:2379"}, prefix: "/old/"},
		{arg: "etcd:https://a:2379,https://b:2379/old/", endpoints: []string{"https://a:2379", "https://b:2379"}, prefix: "/old/"},
		{arg: "etcd:https://a:2379/old/,https://b:2379/old/", endpoints: []string{"https://a:2379", "https://b:2379"}, prefix: "/old/"},
		{arg: "etcd:/staging/", endpoints: []string{"http://flag:2379"}, prefix: "/staging/"},
		{arg: "etcd:https://a:2379/old/,https://b:2379/new/", err: "two prefixes, /old/ and /new/"},
		{arg: "etcd:https://a:2379/old", err: `prefix "/old": want a path like /prereg/`},
		{arg: "etcd:/old", err: `"/old": want a path like /prereg/`},
		{arg: "etcd:a:2379/old/", err: "is not an etcd client URL"},
	} {
		loc, err := parseLocation(tc.arg, flags)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error containing %q", tc.arg, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.arg, err)
		case !slices.Equal(loc.etcd.Endpoints, tc.endpoints) || loc.etcd.Prefix != tc.prefix:
			t.Errorf("%s: endpoints %v prefix %s, want %v %s", tc.arg, loc.etcd.Endpoints, loc.etcd.Prefix, tc.endpoints, tc.prefix)
		}
	}
}

// prereg copy goes between two prefixes of one cluster, each named in
// its location.
func TestCopyBetweenPrefixes(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ep := c.Endpoints()[0]
	src := filepath.Join(t.TempDir(), "src.db")
	fillStore(t, src)
	want := dumpOf(t, location{kind: "bolt", path: src})
	if out, err := runCLI("copy", "bolt:"+src, "etcd:"+ep+"/one/"); err != nil {
		t.Fatalf("copy into /one/: %s\n%s", describe(err), out)
	}
	out, err := runCLI("copy", "etcd:"+ep+"/one/", "etcd:/two/", "--etcd-endpoints", ep)
	if err != nil || !strings.Contains(out, "copied 1 secret, 2 tokens, 4 registrations") {
		t.Fatalf("copy /one/ to /two/: %v\n%s", err, out)
	}
	sameDump(t, dumpOf(t, location{kind: "etcd", etcd: etcdConfig(ep, "/two/")}), want, "bolt -> /one/ -> /two/")
	if out, err := runCLI("copy", "etcd:"+ep+"/two/", "etcd:/two/", "--etcd-endpoints", ep); err == nil || !strings.Contains(describe(err), "the same store") {
		t.Fatalf("copy /two/ onto itself: %v\n%s", err, out)
	}
}
