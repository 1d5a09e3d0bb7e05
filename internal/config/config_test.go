package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/config"
)

const long = "0123456789abcdef0123456789abcdef"

func resolve(t *testing.T, args []string, env map[string]string) (config.Serve, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	b := config.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return b.Resolve(config.StdFlagSet{FlagSet: fs}, func(k string) string { return env[k] })
}

func TestResolvePrecedence(t *testing.T) {
	passwordFile := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(passwordFile, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(secretFile, []byte(" file-"+long+" , second-"+long+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(config.Serve) bool
		wantErr string
	}{
		{"defaults", nil, nil, func(c config.Serve) bool {
			return c.Addr == "127.0.0.1:8080" && c.DB == "prereg.db" && c.AdminRateLimit == 100 && c.AuthFailureLimit == 60
		}, ""},
		{"environment fills unset flags", nil, map[string]string{"PREREG_ADDR": "0.0.0.0:9", "PREREG_TRUSTED_CONNECTIONS": "a, b"}, func(c config.Serve) bool {
			return c.Addr == "0.0.0.0:9" && slices.Equal(c.TrustedConnections, []string{"a", "b"})
		}, ""},
		{"flag wins over environment", []string{"--addr", "127.0.0.1:1"}, map[string]string{"PREREG_ADDR": "0.0.0.0:9"}, func(c config.Serve) bool {
			return c.Addr == "127.0.0.1:1"
		}, ""},
		{"secret from file", nil, map[string]string{"PREREG_HOOK_SECRETS_FILE": secretFile}, func(c config.Serve) bool {
			return slices.Equal(c.HookSecrets, []string{"file-" + long, "second-" + long})
		}, ""},
		{"flag secret wins over file", []string{"--hook-secrets", "flag-" + long}, map[string]string{"PREREG_HOOK_SECRETS_FILE": secretFile}, func(c config.Serve) bool {
			return slices.Equal(c.HookSecrets, []string{"flag-" + long})
		}, ""},
		{"short secret refused", []string{"--hook-secrets", "short"}, nil, nil, "at least 32"},
		{"short secret allowed in dev", []string{"--hook-secrets", "short", "--insecure-dev"}, nil, func(c config.Serve) bool { return c.InsecureDev }, ""},
		{"short admin token refused", nil, map[string]string{"PREREG_ADMIN_TOKEN": "tiny"}, nil, "admin token is 4 bytes"},
		{"signature required without secrets", []string{"--require-signature"}, nil, nil, "--require-signature needs --signing-secrets"},
		{"half the Auth0 credentials", nil, map[string]string{"AUTH0_DOMAIN": "x.auth0.com"}, nil, "AUTH0_CLIENT_ID"},
		{"Auth0 audience from environment", nil, map[string]string{"AUTH0_DOMAIN": "login.example.com", "AUTH0_CLIENT_ID": "id", "AUTH0_CLIENT_SECRET": "s", "AUTH0_AUDIENCE": "https://x.eu.auth0.com/api/v2/"}, func(c config.Serve) bool {
			return c.Auth0Audience == "https://x.eu.auth0.com/api/v2/"
		}, ""},
		{"Auth0 audience alone", nil, map[string]string{"AUTH0_AUDIENCE": "https://x.eu.auth0.com/api/v2/"}, nil, "AUTH0_AUDIENCE is set"},
		{"missing secret file", nil, map[string]string{"PREREG_ADMIN_TOKEN_FILE": "/nonexistent/token"}, nil, "PREREG_ADMIN_TOKEN_FILE"},
		{"bolt store by default", nil, nil, func(c config.Serve) bool { return c.Store.Kind == config.StoreBolt }, ""},
		{"etcd store", []string{"--store", "etcd", "--etcd-endpoints", "https://e0:2379, http://127.0.0.1:2379", "--etcd-username", "prereg"},
			map[string]string{"PREREG_ETCD_PASSWORD_FILE": passwordFile, "PREREG_ETCD_DIAL_TIMEOUT": "2s"}, func(c config.Serve) bool {
				e := c.Store.Etcd
				return c.Store.Kind == config.StoreEtcd && slices.Equal(e.Endpoints, []string{"https://e0:2379", "http://127.0.0.1:2379"}) &&
					e.Prefix == "/prereg/" && e.Password == "pw" && e.Username == "prereg" && e.DialTimeout == 2*time.Second
			}, ""},
		{"etcd store from environment", nil, map[string]string{"PREREG_STORE": "etcd", "PREREG_ETCD_ENDPOINTS": "http://e:2379", "PREREG_ETCD_PREFIX": "/tenant-a/"}, func(c config.Serve) bool {
			return c.Store.Kind == config.StoreEtcd && c.Store.Etcd.Prefix == "/tenant-a/"
		}, ""},
		{"etcd flag without --store etcd", []string{"--etcd-endpoints", "http://e:2379"}, nil, nil, "--etcd-endpoints: for --store etcd only"},
		{"etcd password file without --store etcd", nil, map[string]string{"PREREG_ETCD_PASSWORD_FILE": passwordFile}, nil, "PREREG_ETCD_PASSWORD_FILE: for --store etcd only"},
		{"etcd without endpoints", []string{"--store", "etcd"}, nil, nil, "--store etcd needs --etcd-endpoints"},
		{"unknown store", []string{"--store", "postgres"}, nil, nil, `--store "postgres": want bolt or etcd`},
		{"endpoint without scheme", []string{"--store", "etcd", "--etcd-endpoints", "e0:2379"}, nil, nil, `--etcd-endpoints: "e0:2379" is not an etcd client URL`},
		{"endpoint without port", []string{"--store", "etcd", "--etcd-endpoints", "https://e0"}, nil, nil, `"https://e0" is not an etcd client URL`},
		{"both passwords", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--etcd-username", "u", "--etcd-password", "x"}, map[string]string{"PREREG_ETCD_PASSWORD_FILE": passwordFile}, nil, "both as --etcd-password"},
		{"password without user", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--etcd-password", "x"}, nil, nil, "needs --etcd-username"},
		{"user without password", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--etcd-username", "prereg"}, nil, nil, "--etcd-username needs a password"},
		{"cert without key", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--etcd-cert-file", "c.pem"}, nil, nil, "--etcd-cert-file and --etcd-key-file go together"},
		{"prefix without slashes", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--etcd-prefix", "prereg"}, nil, nil, `--etcd-prefix "prereg"`},
		{"db with etcd", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379", "--db", "x.db"}, nil, nil, "--db is not used with --store etcd"},
		{"PREREG_DB of the image with etcd", []string{"--store", "etcd", "--etcd-endpoints", "http://e:2379"}, map[string]string{"PREREG_DB": "/data/prereg.db"}, func(c config.Serve) bool {
			return c.Store.Kind == config.StoreEtcd
		}, ""},
		{"bad number in environment", nil, map[string]string{"PREREG_ADMIN_RATE_LIMIT": "fast"}, nil, "PREREG_ADMIN_RATE_LIMIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := resolve(t, tt.args, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("auth-failure-limit"); got != "PREREG_AUTH_FAILURE_LIMIT" {
		t.Fatal(got)
	}
}
