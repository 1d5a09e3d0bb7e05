package main

import (
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/etcdtest"
)

// The --etcd-* TLS flags reach a cluster that serves clients over TLS
// with client certificates, and a wrong CA is refused saying so.
func TestEtcdTLSFlags(t *testing.T) {
	c, f := etcdtest.StartTLS(t, 1)
	on := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(c.Endpoints(), ","), "--etcd-ca-file", f.CA, "--etcd-cert-file", f.ClientCert, "--etcd-key-file", f.ClientKey}
	if out, err := runCLI(append([]string{"add", "ana@tls.example", "--roles", "r"}, on...)...); err != nil {
		t.Fatalf("add over TLS: %s\n%s", describe(err), out)
	}
	if out, err := runCLI(append([]string{"list"}, on...)...); err != nil || !strings.Contains(out, "ana@tls.example") {
		t.Fatalf("list over TLS: %v\n%s", err, out)
	}
	wrong := append(append([]string{"list"}, on...), "--etcd-ca-file", f.OtherCA, "--etcd-dial-timeout", "1s")
	if out, err := runCLI(wrong...); err == nil || !strings.Contains(describe(err), "certificate signed by unknown authority") {
		t.Fatalf("list with a wrong CA: %v\n%s", err, out)
	}
}

// With etcd's authentication on, a user limited to the prefix runs the
// commands; an erasure it cannot finish (etcd lets only root compact and
// defragment) says on stderr what root must run.
func TestEtcdAuthFlags(t *testing.T) {
	c := etcdtest.Start(t, 1)
	c.EnableAuth(t, "/auth/", "prereg", "s3cret")
	on := []string{"--store", "etcd", "--etcd-endpoints", strings.Join(c.Endpoints(), ","), "--etcd-prefix", "/auth/", "--etcd-username", "prereg", "--etcd-password", "s3cret"}
	if out, err := runCLI(append([]string{"add", "ana@auth.example", "--roles", "r"}, on...)...); err != nil {
		t.Fatalf("add as a limited user: %s\n%s", describe(err), out)
	}
	out, err := runCLI(append([]string{"erase", "ana@auth.example", "--yes"}, on...)...)
	if err != nil || !strings.Contains(out, "erased 1 registration(s)") || !strings.Contains(out, "etcdctl defrag --cluster") {
		t.Fatalf("erase as a limited user: %v\n%s", err, out)
	}
	bad := append(append([]string{"list"}, on...), "--etcd-password", "wrong")
	if out, err := runCLI(bad...); err == nil || !strings.Contains(describe(err), "refused the user name or password") {
		t.Fatalf("list with a wrong password: %v\n%s", err, out)
	}
}
