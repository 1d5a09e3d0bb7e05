// Package config loads prereg serve's settings: every setting is a flag,
// also read from PREREG_<FLAG> in the environment (the flag wins), and each
// secret may come from a file (PREREG_<NAME>_FILE) for Docker and Kubernetes
// secrets. It is loaded once and passed down.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Serve holds the settings of prereg serve.
type Serve struct {
	Addr        string
	MetricsAddr string
	DB          string
	// Store is where the data lives; with an etcd store DB is not used.
	Store              Store
	HookSecrets        []string
	AdminToken         string
	SigningSecrets     []string
	RequireSignature   bool
	TrustedConnections []string
	AdminRateLimit     float64
	AuthFailureLimit   int
	HookMaxInFlight    int
	HookAllowCIDRs     []string
	HookAllowFile      string
	HookAllowRegions   []string
	TrustedProxies     []string
	ProxyHeader        string
	TLSCert            string
	TLSKey             string
	MaxImportBytes     int64
	SyncBudget         time.Duration
	SendVerification   bool
	InsecureDev        bool
	LogLevel           string
	ShutdownTimeout    time.Duration
	// Console serves the admin console at /console/.
	Console bool

	// Auth0 Management API credentials (AUTH0_*; not flags, so they never
	// show up in a process listing).
	Auth0Domain       string
	Auth0ClientID     string
	Auth0ClientSecret string
	// Auth0Audience is the Management API identifier tokens are asked for
	// (AUTH0_AUDIENCE); empty means https://<Auth0Domain>/api/v2/.
	Auth0Audience string
}

// MinSecretBytes is the shortest secret accepted without --insecure-dev.
const MinSecretBytes = 32

// FlagSet is the subset of a flag set config needs (pflag and flag both fit
// through the adapter below).
type FlagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
	Float64Var(p *float64, name string, value float64, usage string)
	IntVar(p *int, name string, value int, usage string)
	Int64Var(p *int64, name string, value int64, usage string)
	DurationVar(p *time.Duration, name string, value time.Duration, usage string)
}

// raw holds list flags as strings until Resolve splits them.
type raw struct {
	hookSecrets, signingSecrets, trustedConnections, allowCIDRs, allowRegions, trustedProxies string
}

// Binder registers the serve flags and later resolves them.
type Binder struct {
	cfg   Serve
	raw   raw
	store *StoreBinder
}

// Bind registers every serve flag on fs.
func Bind(fs FlagSet) *Binder {
	b := &Binder{store: BindStore(fs)}
	c := &b.cfg
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "address to listen on (host:port)")
	fs.StringVar(&c.DB, "db", "prereg.db", "path of the store file")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on a listener of its own at this address (host:port), not on --addr")
	fs.StringVar(&b.raw.hookSecrets, "hook-secrets", "", "comma-separated hook secrets the Action may present (several during rotation)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "bootstrap admin token (tenant-wide, read-write)")
	fs.StringVar(&b.raw.signingSecrets, "signing-secrets", "", "comma-separated whsec_… secrets for Standard Webhooks signatures on the hook")
	fs.BoolVar(&c.RequireSignature, "require-signature", false, "refuse hook calls without a valid signature")
	fs.StringVar(&b.raw.trustedConnections, "trusted-connections", "", "comma-separated connection names whose emails count as verified")
	fs.Float64Var(&c.AdminRateLimit, "admin-rate-limit", 100, "admin API requests per second per token (burst 2x); 0 turns it off")
	fs.IntVar(&c.AuthFailureLimit, "auth-failure-limit", 60, "failed authentications per minute per source address; 0 turns it off")
	fs.IntVar(&c.HookMaxInFlight, "hook-max-in-flight", 256, "hook requests handled at once; more are answered 503 at once")
	fs.StringVar(&b.raw.allowCIDRs, "hook-allow-cidrs", "", "comma-separated CIDRs allowed to call the hook (empty: any)")
	fs.StringVar(&c.HookAllowFile, "hook-allow-file", "", "JSON file of Auth0's outbound IP ranges allowed to call the hook")
	fs.StringVar(&b.raw.allowRegions, "hook-allow-regions", "", "with --hook-allow-file: keep only these regions of Auth0's file (your tenant's region, e.g. eu)")
	fs.StringVar(&b.raw.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of proxies whose --proxy-header is believed")
	fs.StringVar(&c.ProxyHeader, "proxy-header", "X-Forwarded-For", "header carrying the client address, honoured only from --trusted-proxies")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS, reloaded on SIGHUP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.Int64Var(&c.MaxImportBytes, "max-import-bytes", 256<<20, "largest CSV body accepted by POST /v1/imports")
	fs.DurationVar(&c.SyncBudget, "sync-budget", time.Second, "how long the hook waits for Auth0 before leaving the rest to the queue")
	fs.BoolVar(&c.SendVerification, "send-verification-email", false, "on email_unverified, ask Auth0 to send a verification email (once a day per user)")
	fs.BoolVar(&c.InsecureDev, "insecure-dev", false, "accept secrets shorter than 32 bytes (development only)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may finish on SIGTERM")
	fs.BoolVar(&c.Console, "console", true, "serve the admin console at /console/ (sign in with an admin token)")
	return b
}

// Lookup tells whether a flag was set on the command line and lets
// Resolve set one from the environment.
type Lookup interface {
	Changed(name string) bool
	Set(name, value string) error
	Names() []string
}

// EnvName is the environment variable of a flag: PREREG_ + NAME with '-'
// as '_'.
func EnvName(flag string) string {
	return "PREREG_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Resolve fills unset flags from the environment and secret files, splits
// lists and validates. getenv is os.Getenv outside tests.
func (b *Binder) Resolve(fl Lookup, getenv func(string) string) (Serve, error) {
	// Only a --db on the command line is refused with etcd: PREREG_DB may
	// come from the image (the Dockerfile sets it) and is ignored.
	dbGiven := fl.Changed("db")
	if err := FillFromEnv(fl, getenv); err != nil {
		return Serve{}, err
	}
	st, err := b.store.Resolve(fl, getenv)
	if err != nil {
		return Serve{}, err
	}
	if st.Kind == StoreEtcd && dbGiven {
		return Serve{}, errors.New("--db is not used with --store etcd: the data lives in the etcd cluster; leave it out")
	}
	b.cfg.Store = st
	files := []struct {
		env  string
		dest *string
	}{
		{"PREREG_HOOK_SECRETS_FILE", &b.raw.hookSecrets},
		{"PREREG_ADMIN_TOKEN_FILE", &b.cfg.AdminToken},
		{"PREREG_SIGNING_SECRETS_FILE", &b.raw.signingSecrets},
	}
	for _, f := range files {
		path := getenv(f.env)
		if path == "" || *f.dest != "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return Serve{}, fmt.Errorf("%s: %w", f.env, err)
		}
		*f.dest = strings.TrimSpace(string(data))
	}
	c := b.cfg
	c.HookSecrets = SplitList(b.raw.hookSecrets)
	c.SigningSecrets = SplitList(b.raw.signingSecrets)
	c.TrustedConnections = SplitList(b.raw.trustedConnections)
	c.HookAllowCIDRs = SplitList(b.raw.allowCIDRs)
	c.TrustedProxies = SplitList(b.raw.trustedProxies)
	c.HookAllowRegions = SplitList(b.raw.allowRegions)
	c.Auth0Domain = getenv("AUTH0_DOMAIN")
	c.Auth0ClientID = getenv("AUTH0_CLIENT_ID")
	c.Auth0ClientSecret = getenv("AUTH0_CLIENT_SECRET")
	c.Auth0Audience = getenv("AUTH0_AUDIENCE")
	return c, c.Validate()
}

// Validate checks the settings; every problem is named.
func (c Serve) Validate() error {
	errs := c.checkLengths()
	errs = append(errs, c.checkReuse()...)
	if c.RequireSignature && len(c.SigningSecrets) == 0 {
		errs = append(errs, errors.New("--require-signature needs --signing-secrets"))
	}
	if c.MetricsAddr != "" && c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
		errs = append(errs, errors.New("--metrics-addr must differ from --addr (leave it empty to serve /metrics on --addr)"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.AdminRateLimit < 0 || c.AuthFailureLimit < 0 {
		errs = append(errs, errors.New("rate limits cannot be negative (0 turns a limit off)"))
	}
	errs = append(errs, c.checkAuth0()...)
	return errors.Join(errs...)
}

// checkLengths refuses secrets too short to resist guessing, unless
// --insecure-dev says the service is not exposed.
func (c Serve) checkLengths() []error {
	if c.InsecureDev {
		return nil
	}
	var errs []error
	for i, s := range c.HookSecrets {
		if len(s) < MinSecretBytes {
			errs = append(errs, fmt.Errorf("hook secret #%d is %d bytes; at least %d are required (generate one with: openssl rand -base64 32), or pass --insecure-dev for local development", i+1, len(s), MinSecretBytes))
		}
	}
	if c.AdminToken != "" && len(c.AdminToken) < MinSecretBytes {
		errs = append(errs, fmt.Errorf("the admin token is %d bytes; at least %d are required (generate one with: openssl rand -base64 32), or pass --insecure-dev for local development", len(c.AdminToken), MinSecretBytes))
	}
	return errs
}

// checkAuth0 refuses a partial set of Management API credentials: sync
// would fail on every grant instead of at start.
func (c Serve) checkAuth0() []error {
	set := 0
	for _, v := range []string{c.Auth0Domain, c.Auth0ClientID, c.Auth0ClientSecret} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		return []error{errors.New("Auth0 sync needs all of AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET")}
	}
	if c.Auth0Audience != "" && set == 0 {
		return []error{errors.New("AUTH0_AUDIENCE is set but AUTH0_DOMAIN, AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET are not")}
	}
	return nil
}

// checkReuse refuses one value given as two kinds of secret: a hook
// secret (which sits in Auth0's Action settings) must never also open the
// admin API, nor sign hook calls. Errors name the secrets, never the value.
func (c Serve) checkReuse() []error {
	type use struct{ kind, label string }
	seen := map[string]use{}
	var errs []error
	add := func(value string, u use) {
		if value == "" {
			return
		}
		if first, ok := seen[value]; ok && first.kind != u.kind {
			errs = append(errs, fmt.Errorf("the same value is given as %s and as %s: each kind of secret needs a value of its own", first.label, u.label))
			return
		}
		seen[value] = u
	}
	for i, v := range c.HookSecrets {
		add(v, use{"hook", fmt.Sprintf("hook secret #%d", i+1)})
	}
	add(c.AdminToken, use{"admin", "the admin token"})
	for i, v := range c.SigningSecrets {
		add(v, use{"signing", fmt.Sprintf("signing secret #%d", i+1)})
		// Its key alone is the same secret.
		if key, ok := strings.CutPrefix(v, "whsec_"); ok {
			add(key, use{"signing", fmt.Sprintf("signing secret #%d (its key)", i+1)})
		}
	}
	return errs
}

// Auth0Enabled reports whether Management API credentials are set.
func (c Serve) Auth0Enabled() bool { return c.Auth0Domain != "" }

// SplitList splits a comma-separated list, trimming and dropping empties.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// StdFlagSet adapts the standard library's *flag.FlagSet to Lookup (tests
// and tools without cobra).
type StdFlagSet struct{ *flag.FlagSet }

// Changed reports whether name was set on the command line.
func (s StdFlagSet) Changed(name string) bool {
	found := false
	s.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// Names lists every flag.
func (s StdFlagSet) Names() []string {
	var out []string
	s.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}
