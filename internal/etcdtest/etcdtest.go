// Package etcdtest starts etcd clusters for tests: real etcd members
// (go.etcd.io/etcd/server/v3/embed) inside the test process, on loopback
// ports and temporary directories, stopped when the test ends.
//
// Starting a cluster takes about a second; a package whose tests all need
// one starts it once in TestMain (StartMain) and gives each test a key
// prefix of its own.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is a running in-process etcd cluster.
type Cluster struct {
	mu      sync.Mutex
	members []*embed.Etcd
	clients []string // each member's client URL, in member order
	dirs    []string // each member's data directory
	dir     string
}

// startAttempts bounds the retries of a start whose ports were taken
// between choosing them and binding them (another test, another process).
const startAttempts = 5

// Start starts a cluster of members members for t and stops it when t
// ends. It fails t when the cluster does not become ready.
func Start(t testing.TB, members int) *Cluster {
	t.Helper()
	return StartWith(t, members, nil)
}

// StartWith is Start with configure applied to each member's settings
// (member index, settings) before it starts: client TLS, quotas. The
// cluster's endpoints are the advertised client URLs configure leaves.
func StartWith(t testing.TB, members int, configure func(int, *embed.Config)) *Cluster {
	t.Helper()
	c, err := start(t.TempDir(), members, configure)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// StartMain is Start for a TestMain, which has no testing.TB: the caller
// closes the cluster (Close) after m.Run.
func StartMain(members int) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "etcdtest")
	if err != nil {
		return nil, err
	}
	c, err := start(dir, members, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.dir = dir
	return c, nil
}

func start(dir string, members int, configure func(int, *embed.Config)) (*Cluster, error) {
	if members < 1 {
		return nil, fmt.Errorf("etcdtest: %d members", members)
	}
	var err error
	for attempt := range startAttempts {
		var c *Cluster
		c, err = tryStart(fmt.Sprintf("%s/try%d", dir, attempt), members, configure)
		if err == nil {
			return c, nil
		}
		if !isAddrInUse(err) {
			break
		}
	}
	return nil, fmt.Errorf("etcdtest: start %d members: %w", members, err)
}

// isAddrInUse reports whether err says a port chosen as free was taken
// before the member bound it: worth another try with other ports.
func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var (
		ports []int
		lns   []net.Listener
	)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopURL(port int) url.URL {
	return url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}
}

// tryStart starts every member with fresh ports and waits until all are
// ready (a leader elected and each member joined).
func tryStart(dir string, members int, configure func(int, *embed.Config)) (*Cluster, error) {
	ports, err := freePorts(2 * members)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range members {
		u := loopURL(ports[2*i])
		initial = append(initial, fmt.Sprintf("m%d=%s", i, u.String()))
	}
	c := &Cluster{}
	cfgs := make([]*embed.Config, members)
	for i := range members {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = fmt.Sprintf("%s/m%d", dir, i)
		peer, client := loopURL(ports[2*i]), loopURL(ports[2*i+1])
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "etcdtest"
		cfg.ClusterState = embed.ClusterStateFlagNew
		// Fast elections, but not so fast that a loaded CI machine
		// elects again and again.
		cfg.TickMs, cfg.ElectionMs = 50, 500
		// Test data need not survive a power cut.
		cfg.UnsafeNoFsync = true
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		if configure != nil {
			configure(i, cfg)
		}
		cfgs[i] = cfg
		c.clients = append(c.clients, cfg.AdvertiseClientUrls[0].String())
		c.dirs = append(c.dirs, cfg.Dir)
	}
	// Members start together: each waits for the others to elect.
	errs := make([]error, members)
	c.members = make([]*embed.Etcd, members)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		wg.Go(func() { c.members[i], errs[i] = embed.StartEtcd(cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	deadline := time.After(60 * time.Second)
	for i, m := range c.members {
		select {
		case <-m.Server.ReadyNotify():
		case err := <-m.Err():
			c.Close()
			return nil, fmt.Errorf("member %d: %w", i, err)
		case <-deadline:
			c.Close()
			return nil, fmt.Errorf("member %d not ready within a minute", i)
		}
	}
	return c, nil
}

// Endpoints are the client URLs of the members, in member order.
func (c *Cluster) Endpoints() []string { return append([]string(nil), c.clients...) }

// DataDir is member i's data directory (its database is
// member/snap/db there), for tests that look at what etcd stores.
func (c *Cluster) DataDir(i int) string { return c.dirs[i] }

// Client returns a client of the whole cluster, closed when t ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return c.ClientOf(t, c.clients...)
}

// ClientOf returns a client that talks to the given endpoints only
// (one member's, to make replicas read through different members).
func (c *Cluster) ClientOf(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops member i (it stays stopped): with a majority stopped the
// cluster has no quorum.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	m := c.members[i]
	c.members[i] = nil
	c.mu.Unlock()
	if m != nil {
		// No leadership transfer on the way out: the peers may be
		// stopping too, and a transfer to them only times out.
		m.Server.HardStop()
		m.Close()
	}
}

// Close stops every member and removes what StartMain created.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for i := range c.members {
		wg.Go(func() { c.Stop(i) })
	}
	wg.Wait()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}
