package etcdstore

import (
	"crypto/tls"

	"go.etcd.io/etcd/client/pkg/v3/transport"

	"github.com/prereg/prereg/internal/prereg"
)

// tlsConfig builds the client's TLS settings from the files cfg names.
func tlsConfig(cfg Config) (*tls.Config, error) {
	info := transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
	tc, err := info.ClientConfig()
	if err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "etcd TLS settings: "+err.Error())
	}
	return tc, nil
}
