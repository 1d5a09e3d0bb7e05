package main

import (
	"strings"
	"testing"
)

// The command passes its flags through: endpoints honoured, one replica
// refused before anything is printed.
func TestManifestsCommand(t *testing.T) {
	out, err := runCLI("manifests", "kubernetes", "--etcd-endpoints", "https://e0:2379,https://e1:2379", "--replicas", "3", "--namespace", "auth")
	if err != nil || !strings.Contains(out, `value: "https://e0:2379,https://e1:2379"`) || !strings.Contains(out, "replicas: 3") || strings.Contains(out, "StatefulSet") {
		t.Fatalf("manifests: %v\n%s", err, out)
	}
	out, err = runCLI("manifests", "kubernetes", "--with-etcd", "--replicas", "1")
	if err == nil || !strings.Contains(describe(err), "--replicas 1: at least 2") || strings.Contains(out, "apiVersion") {
		t.Fatalf("one replica: %v\n%s", err, out)
	}
}
