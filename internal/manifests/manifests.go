// Package manifests prints Kubernetes manifests that run prereg in
// replicated mode: a Deployment of several replicas on an etcd cluster,
// its PodDisruptionBudget, Service and Secret, and optionally an example
// etcd cluster of three members.
package manifests

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"

	_ "embed"

	"github.com/prereg/prereg/internal/config"
)

// Options choose what the manifests say.
type Options struct {
	// Replicas of prereg; at least MinReplicas.
	Replicas int
	// EtcdEndpoints are the client URLs of the etcd cluster; with WithEtcd
	// and none given, those of the example cluster.
	EtcdEndpoints []string
	// EtcdPrefix is prereg's key prefix in etcd.
	EtcdPrefix string
	// WithEtcd adds an example 3-member etcd StatefulSet.
	WithEtcd bool
	// Image of prereg, and EtcdImage of the example cluster.
	Image, EtcdImage string
	// Namespace of every object.
	Namespace string
}

// MinReplicas is the fewest replicas that survive the loss of one.
const MinReplicas = 2

// etcdMembers is the size of the example cluster: it keeps a quorum
// through the loss of one member.
const etcdMembers = 3

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// Validate checks the options; the errors name the flags of prereg
// manifests kubernetes.
func (o Options) Validate() error {
	switch {
	case o.Replicas < MinReplicas:
		return fmt.Errorf("--replicas %d: at least %d, so that losing one replica (a node drained, a crash) keeps the hook answering; a single instance is prereg serve on its --db file", o.Replicas, MinReplicas)
	case !dnsLabel.MatchString(o.Namespace):
		return fmt.Errorf("--namespace %q: not a Kubernetes namespace name (lower-case letters, digits and -)", o.Namespace)
	case o.Image == "":
		return fmt.Errorf("--image is empty")
	case len(o.EtcdEndpoints) == 0 && !o.WithEtcd:
		return fmt.Errorf("--etcd-endpoints is required (the client URLs of your etcd cluster), or --with-etcd for an example cluster")
	}
	for _, ep := range o.EtcdEndpoints {
		if err := config.CheckEndpoint(ep); err != nil {
			return fmt.Errorf("--etcd-endpoints: %w", err)
		}
	}
	return config.Etcd{Prefix: o.EtcdPrefix, DialTimeout: 1}.Validate()
}

//go:embed kubernetes.yaml.tmpl
var kubernetesTmpl string

var tmpl = template.Must(template.New("kubernetes").Funcs(template.FuncMap{
	// q quotes a value for YAML (a JSON string is a YAML string).
	"q": func(v any) string {
		b, _ := json.Marshal(fmt.Sprint(v))
		return string(b)
	},
	"seq": func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	},
}).Parse(kubernetesTmpl))

// Kubernetes writes the manifests, YAML documents separated by ---.
func Kubernetes(w io.Writer, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if len(o.EtcdEndpoints) == 0 {
		for i := range etcdMembers {
			o.EtcdEndpoints = append(o.EtcdEndpoints, fmt.Sprintf("http://%s.%s.svc:2379", etcdHost(i), o.Namespace))
		}
	}
	tls := false
	for _, ep := range o.EtcdEndpoints {
		tls = tls || strings.HasPrefix(ep, "https://")
	}
	return tmpl.Execute(w, struct {
		Options
		Endpoints    string
		EtcdMembers  int
		InitialPeers string
		// TLS: the members are reached over https, so the pods mount the
		// CA certificate (Secret prereg-etcd-tls) in TLSDir.
		TLS    bool
		TLSDir string
	}{o, strings.Join(o.EtcdEndpoints, ","), etcdMembers, initialPeers(o.Namespace), tls, tlsDir})
}

// tlsDir is where the pods mount the Secret prereg-etcd-tls.
const tlsDir = "/etc/prereg/etcd-tls"

func etcdHost(i int) string { return fmt.Sprintf("prereg-etcd-%d.prereg-etcd", i) }

// initialPeers is the example cluster's --initial-cluster.
func initialPeers(ns string) string {
	var peers []string
	for i := range etcdMembers {
		peers = append(peers, fmt.Sprintf("prereg-etcd-%d=http://%s.%s.svc:2380", i, etcdHost(i), ns))
	}
	return strings.Join(peers, ",")
}
