package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Store kinds (--store).
const (
	StoreBolt = "bolt"
	StoreEtcd = "etcd"
)

// Store says where the data lives: the bbolt file (--db) or an etcd
// cluster.
type Store struct {
	Kind string // StoreBolt or StoreEtcd
	Etcd Etcd
}

// Etcd holds the settings of the etcd cluster of replicated mode.
type Etcd struct {
	Endpoints                 []string
	Prefix                    string
	CAFile, CertFile, KeyFile string
	Username, Password        string
	DialTimeout               time.Duration
}

// DefaultEtcdPrefix is where prereg keeps its keys unless told otherwise.
const DefaultEtcdPrefix = "/prereg/"

// passwordFileEnv names the file the etcd password may come from.
const passwordFileEnv = "PREREG_ETCD_PASSWORD_FILE"

// StoreBinder registers --store and the --etcd-* flags and resolves them.
type StoreBinder struct {
	kind      string
	endpoints string
	withKind  bool
	cfg       Etcd
}

// etcdFlags are the flags only replicated mode uses, in help order.
var etcdFlags = []string{"etcd-endpoints", "etcd-prefix", "etcd-ca-file", "etcd-cert-file", "etcd-key-file", "etcd-username", "etcd-password", "etcd-dial-timeout"}

// BindStore registers --store and every --etcd-* flag on fs.
func BindStore(fs FlagSet) *StoreBinder {
	b := BindEtcd(fs)
	b.withKind = true
	fs.StringVar(&b.kind, "store", StoreBolt, "where the data lives: bolt (the --db file) or etcd (a cluster, --etcd-endpoints; several replicas may serve from it)")
	return b
}

// BindEtcd registers the --etcd-* flags alone, for a command that names
// its stores otherwise (prereg copy).
func BindEtcd(fs FlagSet) *StoreBinder {
	b := &StoreBinder{kind: StoreEtcd}
	c := &b.cfg
	fs.StringVar(&b.endpoints, "etcd-endpoints", "", "comma-separated etcd client URLs, e.g. https://etcd-0:2379,https://etcd-1:2379")
	fs.StringVar(&c.Prefix, "etcd-prefix", DefaultEtcdPrefix, "key prefix of prereg's data in etcd (one per prereg installation)")
	fs.StringVar(&c.CAFile, "etcd-ca-file", "", "CA certificate (PEM) that signed the etcd members' certificates")
	fs.StringVar(&c.CertFile, "etcd-cert-file", "", "client certificate (PEM) for etcd, with --etcd-key-file")
	fs.StringVar(&c.KeyFile, "etcd-key-file", "", "client private key (PEM) for etcd")
	fs.StringVar(&c.Username, "etcd-username", "", "etcd user (role limited to --etcd-prefix)")
	fs.StringVar(&c.Password, "etcd-password", "", "etcd user's password (better: PREREG_ETCD_PASSWORD_FILE)")
	fs.DurationVar(&c.DialTimeout, "etcd-dial-timeout", 5*time.Second, "how long connecting to etcd may take")
	return b
}

// FillFromEnv sets every flag of fl not given on the command line (or
// only those of names, when given) from its PREREG_ variable, when that is
// set.
func FillFromEnv(fl Lookup, getenv func(string) string, names ...string) error {
	for _, name := range fl.Names() {
		if fl.Changed(name) || len(names) > 0 && !slices.Contains(names, name) {
			continue
		}
		if v := getenv(EnvName(name)); v != "" {
			if err := fl.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", EnvName(name), err)
			}
		}
	}
	return nil
}

// Resolve reads the flags (filled from the environment) and the password
// file, and
// checks them: --etcd-* flags need --store etcd, which needs endpoints
// (unless the command takes them otherwise: BindEtcd).
func (b *StoreBinder) Resolve(fl Lookup, getenv func(string) string) (Store, error) {
	own := etcdFlags
	if b.withKind {
		own = append([]string{"store"}, etcdFlags...)
	}
	if err := FillFromEnv(fl, getenv, own...); err != nil {
		return Store{}, err
	}
	s := Store{Kind: b.kind, Etcd: b.cfg}
	s.Etcd.Endpoints = SplitList(b.endpoints)
	var set []string
	for _, name := range etcdFlags {
		if slices.Contains(fl.Names(), name) && fl.Changed(name) {
			set = append(set, "--"+name)
		}
	}
	if path := getenv(passwordFileEnv); path != "" {
		if s.Etcd.Password != "" {
			return s, fmt.Errorf("the etcd password is given both as --etcd-password (or PREREG_ETCD_PASSWORD) and in %s: give one", passwordFileEnv)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return s, fmt.Errorf("%s: %w", passwordFileEnv, err)
		}
		s.Etcd.Password = strings.TrimSpace(string(data))
		set = append(set, passwordFileEnv)
	}
	switch s.Kind {
	case StoreBolt:
		if len(set) > 0 {
			return s, fmt.Errorf("%s: for --store etcd only; the store is the --db file without it", strings.Join(set, ", "))
		}
		return s, nil
	case StoreEtcd:
		if b.withKind && len(s.Etcd.Endpoints) == 0 {
			return s, errors.New("--store etcd needs --etcd-endpoints (or PREREG_ETCD_ENDPOINTS): the client URLs of the etcd cluster, e.g. https://etcd-0:2379,https://etcd-1:2379")
		}
		return s, s.Etcd.Validate()
	}
	return s, fmt.Errorf("--store %q: want bolt or etcd", s.Kind)
}

// Validate checks etcd settings; every problem is named.
func (e Etcd) Validate() error {
	var errs []error
	for _, ep := range e.Endpoints {
		if err := CheckEndpoint(ep); err != nil {
			errs = append(errs, fmt.Errorf("--etcd-endpoints: %w", err))
		}
	}
	if err := CheckPrefix(e.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("--etcd-prefix %w", err))
	}
	if (e.CertFile == "") != (e.KeyFile == "") {
		errs = append(errs, errors.New("--etcd-cert-file and --etcd-key-file go together"))
	}
	if e.Password != "" && e.Username == "" {
		errs = append(errs, errors.New("an etcd password needs --etcd-username"))
	}
	// The etcd client logs in only with both; a user alone would connect
	// as nobody.
	if e.Username != "" && e.Password == "" {
		errs = append(errs, fmt.Errorf("--etcd-username needs a password: --etcd-password or %s", passwordFileEnv))
	}
	if e.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--etcd-dial-timeout %s: must be positive", e.DialTimeout))
	}
	return errors.Join(errs...)
}

// CheckPrefix checks a key prefix of prereg's data in etcd.
func CheckPrefix(p string) error {
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || p == "/" {
		return fmt.Errorf("%q: want a path like /prereg/ that starts and ends with / (the end keeps /prereg/ from overlapping /prereg2/), and not / alone", p)
	}
	return nil
}

// CheckEndpoint checks one etcd client URL: http or https, a host and a
// port, nothing else.
func CheckEndpoint(ep string) error {
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q is not an etcd client URL like https://etcd-0:2379", ep)
	}
	return nil
}
