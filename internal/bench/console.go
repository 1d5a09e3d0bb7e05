package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// consolePages are the console pages the console scenario loads, with a
// piece of text each must hold.
var consolePages = []struct{ name, path, marker string }{
	{"console_overview", "/console/", "Registrations by status"},
	{"console_list", "/console/registrations", `rel="next"`},
	{"console_list_filtered", "/console/registrations?status=pending&organization_id=" + OrgID(0), "<tbody>"},
}

// console signs in to the admin console with the admin token and loads
// its overview and registrations pages, one reader at a time (a person at
// a browser), as the browser would: with the session cookie.
func (r *run) console(ctx context.Context) error {
	cookie, err := r.consoleSession(ctx)
	if err != nil {
		return err
	}
	for _, p := range consolePages {
		marker := []byte(p.marker)
		res := r.attack(ctx, p.name, cookieTargeter(r.base+p.path, cookie),
			Load{Concurrency: 1, Duration: r.cfg.Duration, MaxRequests: r.budget(ScConsole, false, 0)},
			func(b []byte) bool { return bytes.Contains(b, marker) })
		res.Target = "prereg"
		r.logf("%-16s %-6s %-4s %8d req %9.0f/s p50 %6.2fms p99 %7.2fms max %7.2fms errors %d", p.name, "prereg", res.Mode, res.Requests, res.Throughput, res.P50, res.P99, res.Max, res.Errors)
		r.add(res)
	}
	return nil
}

// consoleSession signs in and returns the session cookie.
func (r *run) consoleSession(ctx context.Context) (*http.Cookie, error) {
	form := url.Values{"token": {r.cfg.AdminToken}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/console/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("console sign-in: %w", err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "prereg_session" && ck.Value != "" {
			return ck, nil
		}
	}
	return nil, fmt.Errorf("console sign-in answered %d without a session (is the console mounted?)", resp.StatusCode)
}

func cookieTargeter(u string, ck *http.Cookie) vegeta.Targeter {
	hdr := http.Header{"Cookie": {ck.Name + "=" + ck.Value}}
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		*t = vegeta.Target{Method: http.MethodGet, URL: u, Header: hdr}
		return nil
	}
}
