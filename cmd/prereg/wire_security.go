package main

import (
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/webhook"
)

// wireSecurity plugs in rate limits, signatures, the source allow-list and
// the trusted-proxy rule for client addresses.
func wireSecurity(cfg config.Serve, api *httpapi.Config) error {
	if cfg.AdminRateLimit > 0 {
		api.AdminLimiter = limits.New(cfg.AdminRateLimit, int(2*cfg.AdminRateLimit), 0)
	}
	if cfg.AuthFailureLimit > 0 {
		api.FailureLimiter = limits.PerMinute(cfg.AuthFailureLimit)
	}
	if cfg.HookMaxInFlight > 0 {
		api.HookInFlight = limits.NewInFlight(cfg.HookMaxInFlight)
	}
	if len(cfg.SigningSecrets) > 0 {
		keys, err := webhook.ParseSecrets(strings.Join(cfg.SigningSecrets, ","))
		if err != nil {
			return err
		}
		for i, k := range keys {
			if len(k) < webhook.StrongKeyLen && !cfg.InsecureDev {
				return prereg.Errorf(prereg.Invalid, "signing secret #%d has a %d-byte key; at least %d are required (generate one with: echo whsec_$(openssl rand -base64 32)), or pass --insecure-dev", i+1, len(k), webhook.StrongKeyLen)
			}
		}
		api.Signatures = &webhook.Verifier{Secrets: keys}
	}
	proxies, err := netallow.Parse(cfg.TrustedProxies)
	if err != nil {
		return err
	}
	if proxies.Len() > 0 {
		header := cfg.ProxyHeader
		api.ClientIP = func(r *http.Request) netip.Addr {
			return netallow.ClientIP(r.RemoteAddr, r.Header, header, proxies)
		}
	}
	allow, err := netallow.Parse(cfg.HookAllowCIDRs)
	if err != nil {
		return err
	}
	prefixes := allow.Prefixes()
	if cfg.HookAllowFile != "" {
		f, err := os.Open(cfg.HookAllowFile)
		if err != nil {
			return prereg.Wrap(prereg.Invalid, err, "--hook-allow-file: "+err.Error())
		}
		more, err := netallow.LoadAuth0IPs(f, cfg.HookAllowRegions...)
		f.Close()
		if err != nil {
			return err
		}
		prefixes = append(prefixes, more...)
	}
	if len(prefixes) > 0 {
		api.HookAllow = netallow.New(prefixes...)
	}
	return nil
}
