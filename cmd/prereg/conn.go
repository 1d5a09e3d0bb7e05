package main

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/client"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/prereg"
)

// conn says where a CLI command works: through a running service
// (--server, --token), directly on the store file (--db), or on the etcd
// cluster (--store etcd).
type conn struct {
	server, token, db string
	cmd               *cobra.Command
	store             *config.StoreBinder
	// create lets the command start a new store file (add, import).
	create bool
	// sync opens the file with the Auth0 sync queue on (sync retry, reconcile).
	sync bool
	e    *env
}

// connEnvHelp lists the environment behind --server, --token and --db.
const connEnvHelp = `  PREREG_SERVER        --server: URL of a running service (host:port means http://)
  PREREG_TOKEN         --token: admin token for PREREG_SERVER
  PREREG_DB            --db: store file when no server is named (default prereg.db)
  PREREG_STORE, PREREG_ETCD_<FLAG>  --store etcd and every --etcd-* flag: work on
                       the etcd cluster instead of the file
  PREREG_ETCD_PASSWORD_FILE  the etcd password, from a file`

func addConn(cmd *cobra.Command, e *env) *conn {
	c := &conn{e: e, cmd: cmd}
	f := cmd.Flags()
	f.StringVar(&c.server, "server", "", "URL of a running prereg service, e.g. https://prereg.example.com (host:port means http://) (env PREREG_SERVER); without it the command works on --db")
	f.StringVar(&c.token, "token", "", "admin token for --server (env PREREG_TOKEN)")
	f.StringVar(&c.db, "db", "", "store file to work on when no service holds it (env PREREG_DB, default prereg.db)")
	c.store = config.BindStore(f)
	return c
}

func (c *conn) resolve() {
	if c.server == "" {
		c.server = c.e.getenv("PREREG_SERVER")
	}
	if c.token == "" {
		c.token = c.e.getenv("PREREG_TOKEN")
	}
	if c.db == "" {
		c.db = c.e.getenv("PREREG_DB")
	}
	if c.db == "" {
		c.db = "prereg.db"
	}
}

func (c *conn) remote() bool { c.resolve(); return c.server != "" }

func (c *conn) client() (*client.Client, error) {
	base, err := serverURL(c.server)
	if err != nil {
		return nil, err
	}
	if c.token == "" {
		return nil, prereg.Errorf(prereg.Invalid, "--server needs an admin token: --token or PREREG_TOKEN")
	}
	return client.New(base, c.token), nil
}

// serverURL reads --server: a URL, or host:port meaning http://host:port.
func serverURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", prereg.Errorf(prereg.Invalid, "--server %q is not the service's address; write http://HOST:PORT or https://HOST", strings.TrimPrefix(s, "http://"))
	}
	return strings.TrimRight(s, "/"), nil
}

// storeConfig reads --store and the --etcd-* flags.
func (c *conn) storeConfig() (config.Store, error) {
	st, err := c.store.Resolve(pflagLookup{c.cmd.Flags()}, c.e.getenv)
	if err != nil {
		return st, err
	}
	if st.Kind == config.StoreEtcd && c.remote() {
		return st, prereg.Errorf(prereg.Invalid, "--server and --store etcd name two places to work: the service, or the etcd cluster")
	}
	if st.Kind == config.StoreEtcd && c.cmd.Flags().Changed("db") {
		return st, prereg.Errorf(prereg.Invalid, "--db is not used with --store etcd: the data lives in the etcd cluster")
	}
	return st, nil
}

// open opens the store: the file (a store held by a running service
// fails within a second with a message that says so) or the etcd cluster.
func (c *conn) open(st config.Store, sync bool) (serviceStore, error) {
	if st.Kind == config.StoreEtcd {
		ctx := c.cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		return openEtcd(ctx, st.Etcd, etcdOpen{SyncEnabled: sync})
	}
	c.resolve()
	if _, err := os.Stat(c.db); errors.Is(err, fs.ErrNotExist) && !c.create {
		return nil, prereg.Errorf(prereg.NotFound, "no store at %s (use --db PATH, or --server URL for a running service)", c.db)
	}
	s, err := boltstore.Open(c.db, boltstore.Options{LockTimeout: time.Second, SyncEnabled: sync})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// admin hands out the admin operations: through the service when --server
// is set, on the store otherwise; done closes the store.
func (c *conn) admin() (a admin, done func(), err error) {
	st, err := c.storeConfig()
	if err != nil {
		return nil, nil, err
	}
	if c.remote() {
		cl, err := c.client()
		if err != nil {
			return nil, nil, err
		}
		return cl, func() {}, nil
	}
	s, err := c.open(st, c.sync)
	if err != nil {
		return nil, nil, err
	}
	// The importer spills its good rows next to the store file (same
	// protection, not a RAM-backed /tmp); with etcd, to the temporary
	// directory.
	tmp := filepath.Dir(c.db)
	if st.Kind == config.StoreEtcd {
		tmp = ""
	}
	return &local{s: s, tmp: tmp, e: c.e}, func() { s.Close() }, nil
}

// with runs f on the admin operations admin hands out, then closes them.
func (c *conn) with(f func(admin) error) error {
	a, done, err := c.admin()
	if err != nil {
		return err
	}
	defer done()
	return f(a)
}

// cliActor names the CLI in the audit trail when it works on the file.
const cliActor = "cli"
