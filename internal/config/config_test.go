package config_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
