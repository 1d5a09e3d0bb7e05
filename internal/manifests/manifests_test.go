package manifests_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/prereg/prereg/internal/manifests"
)

func options() manifests.Options {
	return manifests.Options{Replicas: 2, EtcdPrefix: "/prereg/", Image: "prereg:1.2.3", EtcdImage: "etcd:v3", Namespace: "auth"}
}

// docs renders o and parses every document, keyed by kind/name.
func docs(t *testing.T, o manifests.Options) map[string]map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := manifests.Kubernetes(&buf, o); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for i, d := range strings.Split(buf.String(), "\n---\n") {
		var m map[string]any
		if err := yaml.UnmarshalStrict([]byte(d), &m); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", i+1, err, d)
		}
		kind, _ := m["kind"].(string)
		name, _ := at(m, "metadata", "name").(string)
		if kind == "" || name == "" || m["apiVersion"] == nil {
			t.Fatalf("document %d has no apiVersion, kind or name:\n%s", i+1, d)
		}
		if kind != "Namespace" && at(m, "metadata", "namespace") != o.Namespace {
			t.Errorf("%s/%s is not in namespace %s", kind, name, o.Namespace)
		}
		out[kind+"/"+name] = m
	}
	return out
}

// at walks maps by key and lists by index (an int).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// env lists a container's environment by name.
func env(c any) map[string]any {
	out := map[string]any{}
	l, _ := at(c, "env").([]any)
	for _, e := range l {
		out[at(e, "name").(string)] = e
	}
	return out
}

func TestDeployment(t *testing.T) {
	o := options()
	o.Replicas = 3
	o.EtcdEndpoints = []string{"https://e0:2379", "https://e1:2379"}
	d := docs(t, o)
	dep := d["Deployment/prereg"]
	if dep == nil {
		t.Fatalf("no Deployment prereg among %v", keys(d))
	}
	if n := at(dep, "spec", "replicas"); n != float64(3) {
		t.Errorf("replicas %v, want 3", n)
	}
	c := at(dep, "spec", "template", "spec", "containers", 0)
	if at(c, "image") != "prereg:1.2.3" {
		t.Errorf("image %v", at(c, "image"))
	}
	if args := strings.Join(toStrings(at(c, "args")), " "); args != "serve" || at(env(c)["PREREG_STORE"], "value") != "etcd" {
		t.Errorf("args %q, PREREG_STORE %v: want serve on etcd", args, env(c)["PREREG_STORE"])
	}
	if p := at(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("liveness probe on %v", p)
	}
	if p := at(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe on %v", p)
	}
	e := env(c)
	if v := at(e["PREREG_ETCD_ENDPOINTS"], "value"); v != "https://e0:2379,https://e1:2379" {
		t.Errorf("endpoints %v", v)
	}
	for name, key := range map[string]string{"PREREG_HOOK_SECRETS": "hook-secrets", "PREREG_ADMIN_TOKEN": "admin-token", "PREREG_ETCD_PASSWORD": "etcd-password"} {
		ref := at(e[name], "valueFrom", "secretKeyRef")
		if at(ref, "name") != "prereg" || at(ref, "key") != key || at(e[name], "value") != nil {
			t.Errorf("%s is not taken from the Secret's %s: %v", name, key, e[name])
		}
		if _, ok := at(d["Secret/prereg"], "stringData", key).(string); !ok {
			t.Errorf("the Secret has no %s", key)
		}
	}
	pod := at(dep, "spec", "template", "spec")
	if at(pod, "securityContext", "runAsNonRoot") != true || at(c, "securityContext", "allowPrivilegeEscalation") != false || at(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Errorf("not locked down: pod %v, container %v", at(pod, "securityContext"), at(c, "securityContext"))
	}
	if at(c, "resources", "requests", "memory") == nil || at(c, "resources", "limits", "memory") == nil {
		t.Errorf("no resources: %v", at(c, "resources"))
	}
	// Go's soft memory limit sits below the container's hard one.
	if soft, hard := mebibytes(t, at(e["GOMEMLIMIT"], "value")), mebibytes(t, at(c, "resources", "limits", "memory")); soft <= 0 || soft >= hard {
		t.Errorf("GOMEMLIMIT %v MiB against a container limit of %v MiB", soft, hard)
	}
	pdb := d["PodDisruptionBudget/prereg"]
	if at(pdb, "spec", "minAvailable") != float64(1) || at(pdb, "spec", "selector", "matchLabels", "app.kubernetes.io/name") != "prereg" {
		t.Errorf("PodDisruptionBudget %v", at(pdb, "spec"))
	}
	if at(d["Service/prereg"], "spec", "ports", 0, "targetPort") != "http" {
		t.Errorf("Service %v", at(d["Service/prereg"], "spec"))
	}
	if _, ok := d["StatefulSet/prereg-etcd"]; ok {
		t.Error("an etcd StatefulSet without --with-etcd")
	}
	// https endpoints: the members' CA comes from the Secret
	// prereg-etcd-tls, mounted read-only where PREREG_ETCD_CA_FILE points,
	// readable by the pod's group.
	if v := at(e["PREREG_ETCD_CA_FILE"], "value"); v != "/etc/prereg/etcd-tls/ca.crt" {
		t.Errorf("PREREG_ETCD_CA_FILE %v", v)
	}
	if m := mount(c, "etcd-tls"); at(m, "mountPath") != "/etc/prereg/etcd-tls" || at(m, "readOnly") != true {
		t.Errorf("etcd-tls mount %v", m)
	}
	if v := volume(pod, "etcd-tls"); at(v, "secret", "secretName") != "prereg-etcd-tls" {
		t.Errorf("etcd-tls volume %v", v)
	}
	if at(pod, "securityContext", "fsGroup") != float64(65532) {
		t.Errorf("the mounted Secret is not readable by the pod's group: %v", at(pod, "securityContext"))
	}
}

// mebibytes reads a quantity in Mi (Kubernetes) or MiB (Go).
func mebibytes(t *testing.T, v any) int {
	t.Helper()
	s, _ := v.(string)
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(s, "B"), "Mi"))
	if err != nil {
		t.Errorf("%q is not a quantity in MiB: %v", s, err)
	}
	return n
}

// mount is a container's volume mount by name; volume a pod's volume.
func mount(c any, name string) any  { return named(at(c, "volumeMounts"), name) }
func volume(p any, name string) any { return named(at(p, "volumes"), name) }

func named(l any, name string) any {
	items, _ := l.([]any)
	for _, it := range items {
		if at(it, "name") == name {
			return it
		}
	}
	return nil
}

// The Secret's placeholders are no secrets: too short for serve to accept.
func TestSecretHoldsPlaceholdersOnly(t *testing.T) {
	o := options()
	o.EtcdEndpoints = []string{"http://e:2379"}
	data, _ := at(docs(t, o)["Secret/prereg"], "stringData").(map[string]any)
	if len(data) == 0 {
		t.Fatal("the Secret has no stringData")
	}
	for k, v := range data {
		if s, _ := v.(string); len(s) >= 32 || !strings.Contains(s, "CHANGE-ME") {
			t.Errorf("Secret key %s holds %q, want a short placeholder", k, s)
		}
	}
}

func TestWithEtcd(t *testing.T) {
	o := options()
	o.WithEtcd = true
	d := docs(t, o)
	ss := d["StatefulSet/prereg-etcd"]
	if at(ss, "spec", "replicas") != float64(3) || at(ss, "spec", "serviceName") != "prereg-etcd" {
		t.Fatalf("etcd StatefulSet %v", at(ss, "spec"))
	}
	if at(ss, "spec", "volumeClaimTemplates", 0, "spec", "resources", "requests", "storage") == nil {
		t.Error("etcd members have no persistent volume")
	}
	if at(d["Service/prereg-etcd"], "spec", "clusterIP") != "None" {
		t.Error("the etcd Service is not headless")
	}
	cmd := strings.Join(toStrings(at(ss, "spec", "template", "spec", "containers", 0, "command")), " ")
	for i := range 3 {
		peer := "prereg-etcd-" + string(rune('0'+i)) + "=http://prereg-etcd-" + string(rune('0'+i)) + ".prereg-etcd.auth.svc:2380"
		if !strings.Contains(cmd, peer) {
			t.Errorf("etcd command lacks peer %s: %s", peer, cmd)
		}
	}
	c := at(d["Deployment/prereg"], "spec", "template", "spec", "containers", 0)
	want := "http://prereg-etcd-0.prereg-etcd.auth.svc:2379,http://prereg-etcd-1.prereg-etcd.auth.svc:2379,http://prereg-etcd-2.prereg-etcd.auth.svc:2379"
	if v := at(env(c)["PREREG_ETCD_ENDPOINTS"], "value"); v != want {
		t.Errorf("prereg's endpoints %v, want the example cluster's %s", v, want)
	}
	if _, ok := env(c)["PREREG_ETCD_PASSWORD"]; ok {
		t.Error("an etcd password for the example cluster, which has no users")
	}
	if _, ok := env(c)["PREREG_ETCD_CA_FILE"]; ok || mount(c, "etcd-tls") != nil {
		t.Error("a CA certificate for the example cluster, which is plain HTTP")
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*manifests.Options)
		want   string
	}{
		{"one replica", func(o *manifests.Options) { o.Replicas = 1 }, "--replicas 1: at least 2"},
		{"no endpoints", func(o *manifests.Options) { o.EtcdEndpoints = nil }, "--etcd-endpoints is required"},
		{"bad endpoint", func(o *manifests.Options) { o.EtcdEndpoints = []string{"e0:2379"} }, `--etcd-endpoints: "e0:2379" is not an etcd client URL`},
		{"bad prefix", func(o *manifests.Options) { o.EtcdPrefix = "prereg" }, `--etcd-prefix "prereg"`},
		{"bad namespace", func(o *manifests.Options) { o.Namespace = "Auth_NS" }, `--namespace "Auth_NS"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options()
			o.EtcdEndpoints = []string{"http://e:2379"}
			tc.change(&o)
			var buf bytes.Buffer
			err := manifests.Kubernetes(&buf, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || buf.Len() > 0 {
				t.Errorf("got %v (%d bytes written), want an error containing %q", err, buf.Len(), tc.want)
			}
		})
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, len(l))
	for i, s := range l {
		out[i], _ = s.(string)
	}
	return out
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
