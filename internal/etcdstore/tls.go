package etcdstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

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

// isEtcd reports whether err is etcd's error target, as the client
// returns it or still as a gRPC status.
func isEtcd(err, target error) bool {
	return errors.Is(err, target) || rpctypes.Error(err) == target
}

// openError says why Open could not use the cluster. The client dials
// lazily and retries a connection that fails its TLS handshake until the
// call's deadline, so a wrong CA or a missing client certificate looks
// like a timeout: on a timeout it connects to the endpoints itself to
// find the cause.
func openError(ctx context.Context, cfg Config, ccfg clientv3.Config, err error) error {
	var pe *prereg.Error
	where := strings.Join(cfg.Endpoints, ",")
	switch {
	case errors.As(err, &pe) && pe.Err == nil:
		return err // the store's own (schema)
	case pe != nil:
		err = pe.Err
	}
	switch {
	case isEtcd(err, rpctypes.ErrAuthFailed):
		return prereg.Wrap(prereg.Unauthorized, err, fmt.Sprintf("etcd at %s refused the user name or password of user %q (--etcd-username, --etcd-password)", where, cfg.Username))
	case isEtcd(err, rpctypes.ErrUserEmpty), isEtcd(err, rpctypes.ErrInvalidAuthToken):
		return prereg.Wrap(prereg.Unauthorized, err, fmt.Sprintf("etcd at %s has authentication enabled: give a user (--etcd-username, --etcd-password)", where))
	case isEtcd(err, rpctypes.ErrPermissionDenied):
		return prereg.Wrap(prereg.Forbidden, err, fmt.Sprintf("etcd at %s denies user %q access to the prefix %s: grant its role readwrite on the prefix", where, cfg.Username, cfg.Prefix))
	}
	if cause := diagnose(ctx, cfg.Endpoints, ccfg.TLS, ccfg.DialTimeout); cause != nil {
		return prereg.Wrap(prereg.Unavailable, err, "cannot reach etcd at "+cause.Error())
	}
	return prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("cannot reach etcd at %s within %v: %s", where, ccfg.DialTimeout, prereg.ErrorMessage(translate(err))))
}

// diagnose connects to each endpoint as the client would, within
// timeout in all, and returns the failures, or nil when one endpoint
// accepts the connection (the cause is elsewhere) or none says why.
func diagnose(ctx context.Context, endpoints []string, tc *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, ep := range endpoints {
		err := probe(ctx, ep, tc)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
	}
	return errors.Join(errs...)
}

// probe connects to one endpoint: a TCP connection, the TLS handshake
// and the first bytes of HTTP/2 (where a member that requires a client
// certificate refuses one missing under TLS 1.3), or, without TLS
// settings, whether the member serves TLS instead.
func probe(ctx context.Context, ep string, tc *tls.Config) error {
	host, secure := ep, tc != nil
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil
		}
		host, secure = u.Host, secure || u.Scheme == "https"
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if !secure {
		probe := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
		if probe.HandshakeContext(ctx) == nil {
			return errors.New("the member serves TLS: give an https:// endpoint and --etcd-ca-file")
		}
		return nil
	}
	c := &tls.Config{}
	if tc != nil {
		c = tc.Clone()
	}
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(host)
	}
	c.NextProtos = []string{"h2"}
	tconn := tls.Client(conn, c)
	if err := tconn.HandshakeContext(ctx); err != nil {
		return hint(err)
	}
	// The member answers the HTTP/2 preface with its settings, or with
	// an alert when it refused the client's certificate.
	if _, err := tconn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
		return hint(err)
	}
	var b [1]byte
	if _, err := tconn.Read(b[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return hint(err)
	}
	return nil
}

// hint adds which setting a TLS failure points at.
func hint(err error) error {
	var (
		unknown x509.UnknownAuthorityError
		alert   tls.AlertError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w (is --etcd-ca-file the CA that signed the members' certificates?)", err)
	case errors.As(err, &alert) || strings.Contains(err.Error(), "remote error"):
		return fmt.Errorf("%w (the members require a client certificate their CA signed: --etcd-cert-file, --etcd-key-file)", err)
	}
	return err
}
