package console_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/console"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/limits"
)

// TestRateLimitedWithTheAPI: the console's pages count against the
// token's admin rate limit together with the token's API calls; once it
// is used up, the console answers 429 with a page that says so and
// Retry-After, and so does the API.
func TestRateLimitedWithTheAPI(t *testing.T) {
	e := newEnvWith(t, boltstore.Options{}, func(e *env, c *console.Config, a *httpapi.Config) {
		// The stopped clock refills nothing: three calls, then no more.
		l := limits.New(1, 3, 0, limits.WithClock(e.clock.now))
		c.AdminLimiter, a.AdminLimiter = l, l
	})
	b := e.open(t)
	b.signIn(adminToken)                                      // the sign-in's redirect to the overview: 1
	if st := apiGet(t, e, "/v1/stats"); st != http.StatusOK { // 2
		t.Fatalf("the API's first call answered %d", st)
	}
	if st := b.visit("/console/registrations"); st != http.StatusOK { // 3
		b.fail("the registrations page answered %d", st)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+"/console/audit"))
	if err != nil {
		b.fail("open the audit page: %v", err)
	}
	if resp.Status != http.StatusTooManyRequests || resp.Headers["Retry-After"] != "1" {
		b.fail("over the limit, the console answered %d with Retry-After %v", resp.Status, resp.Headers["Retry-After"])
	}
	b.expectText(".problem", "too many requests", "wait a second and try again")
	b.a11y()
	if st := apiGet(t, e, "/v1/stats"); st != http.StatusTooManyRequests {
		t.Fatalf("the API after the console used up the limit: %d", st)
	}
}

// apiGet calls the API with the admin token and returns the status.
func apiGet(t *testing.T, e *env, path string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
