package main

import (
	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/manifests"
)

func manifestsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "manifests",
		Short:   "Print deployment manifests for replicated mode",
		Example: `  prereg manifests kubernetes --with-etcd > prereg.yaml`,
		Args:    noArgs,
	}
	o := manifests.Options{}
	var endpoints string
	kube := &cobra.Command{
		Use:   "kubernetes",
		Short: "Print Kubernetes manifests: prereg on etcd, several replicas",
		Long: `Print Kubernetes manifests (YAML) that run prereg in replicated mode: a
Deployment of --replicas replicas (PREREG_STORE=etcd, probes on /healthz and
/readyz, non-root, read-only root file system), a PodDisruptionBudget that
keeps one replica up, a Service, and a Secret with placeholders for the hook
secret, the admin token and the etcd password (fill it in before applying;
the placeholders are refused at start). With --with-etcd, also an example
etcd cluster of 3 members (StatefulSet, headless Service, persistent volumes).`,
		Example: `  prereg manifests kubernetes --etcd-endpoints https://etcd-0:2379,https://etcd-1:2379 --image registry.example.com/prereg:1.4.0
  prereg manifests kubernetes --with-etcd --replicas 3 --namespace auth | kubectl apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.EtcdEndpoints = config.SplitList(endpoints)
			return manifests.Kubernetes(e.stdout, o)
		},
	}
	f := kube.Flags()
	f.IntVar(&o.Replicas, "replicas", manifests.MinReplicas, "replicas of prereg (at least 2)")
	f.StringVar(&endpoints, "etcd-endpoints", "", "comma-separated client URLs of the etcd cluster (default with --with-etcd: the example cluster's)")
	f.StringVar(&o.EtcdPrefix, "etcd-prefix", config.DefaultEtcdPrefix, "key prefix of prereg's data in etcd")
	f.BoolVar(&o.WithEtcd, "with-etcd", false, "add an example 3-member etcd cluster")
	f.StringVar(&o.Image, "image", "prereg:"+version, "prereg's container image")
	f.StringVar(&o.EtcdImage, "etcd-image", "gcr.io/etcd-development/etcd:v3.7.3", "the example etcd cluster's image")
	f.StringVar(&o.Namespace, "namespace", "prereg", "namespace of every object")
	cmd.AddCommand(kube)
	return cmd
}
