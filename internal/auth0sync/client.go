package auth0sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/auth0/go-auth0/management"
	"golang.org/x/oauth2"

	"github.com/prereg/prereg/internal/prereg"
)

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultRoleCacheTTL = 5 * time.Minute
	// maxResponseBytes bounds what one Management API answer may cost us;
	// go-auth0 reads bodies whole.
	maxResponseBytes = 8 << 20
	// maxRoleLookupPages bounds the pages of name_filter results scanned
	// for one name (100 roles a page).
	maxRoleLookupPages = 20
	// maxRateLimitWait caps a reset time Auth0 (or anything pretending to
	// be Auth0) asks for, so a bogus header cannot park a job for days.
	maxRateLimitWait = time.Hour
)

// Config says how to reach a tenant's Management API with the client
// credentials of a machine-to-machine application.
type Config struct {
	// Domain is the tenant's domain ("example.eu.auth0.com") or a custom
	// domain. A full URL is accepted; plain http:// only for loopback
	// hosts (the test fake), never for a real tenant.
	Domain       string
	ClientID     string
	ClientSecret string
	// Audience is the Management API identifier the access token is asked
	// for: https://<canonical tenant domain>/api/v2/. Auth0 refuses tokens
	// for a custom domain's address, so set it when Domain is one; empty
	// means https://<Domain>/api/v2/.
	Audience string
	// Timeout bounds each HTTP request, token requests included; default
	// DefaultTimeout.
	Timeout time.Duration
	// HTTPClient, when set, is used for every request; its Timeout is
	// replaced by Timeout when it has none.
	HTTPClient *http.Client
	// RoleCacheTTL is how long a resolved role name is trusted; default
	// DefaultRoleCacheTTL.
	RoleCacheTTL time.Duration
	// Now is the clock used for the role cache and rate-limit resets.
	Now func() time.Time
}

// Client is prereg's view of one tenant's Management API. It is safe for
// concurrent use. go-auth0's own retries are off: the queue worker
// retries, honouring Auth0's rate-limit reset, so one slow call never
// holds a login.
type Client struct {
	api          *management.Management
	clientSecret string
	now          func() time.Time
	roles        *roleCache
}

// User is an Auth0 user as the users-by-email lookup reports it.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	// Connections are the connections of the user's identities.
	Connections []string
}

// New checks cfg and builds a Client. It does not call Auth0: the first
// call fetches the access token.
func New(cfg Config) (*Client, error) {
	if cfg.Domain == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, prereg.Errorf(prereg.Invalid, "Auth0 domain, client ID and client secret are all required")
	}
	base, insecure, err := parseDomain(cfg.Domain)
	if err != nil {
		return nil, err
	}
	if cfg.Audience != "" {
		if err := checkAudience(cfg.Audience); err != nil {
			return nil, err
		}
	}
	cfg = cfg.withDefaults()
	hc := httpClient(cfg)
	// The token source fetches tokens with the client found in this
	// context; without it oauth2 uses http.DefaultClient, which has no
	// timeout, and a hanging token endpoint would hang every call.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	opts := []management.Option{
		management.WithClient(hc),
		management.WithNoRetries(),
		management.WithUserAgent("prereg"),
	}
	if insecure {
		// WithInsecure switches the URL to http (and sets a dummy token
		// that the client credentials below replace): the fake only.
		opts = append(opts, management.WithInsecure())
	}
	if cfg.Audience != "" {
		opts = append(opts, management.WithClientCredentialsAndAudience(tokenCtx, cfg.ClientID, cfg.ClientSecret, cfg.Audience))
	} else {
		opts = append(opts, management.WithClientCredentials(tokenCtx, cfg.ClientID, cfg.ClientSecret))
	}
	api, err := management.New(base, opts...)
	if err != nil {
		return nil, prereg.Wrap(prereg.Invalid, err, "Auth0 domain is not usable")
	}
	return &Client{
		api:          api,
		clientSecret: cfg.ClientSecret,
		now:          cfg.Now,
		roles:        newRoleCache(cfg.RoleCacheTTL, cfg.Now),
	}, nil
}

// withDefaults fills in the settings left empty.
func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RoleCacheTTL <= 0 {
		cfg.RoleCacheTTL = DefaultRoleCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// httpClient is a copy of cfg.HTTPClient (or a new client) with the call
// timeout, whose transport notes rate limits and caps answers.
func httpClient(cfg Config) *http.Client {
	hc := &http.Client{Timeout: cfg.Timeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
		if hc.Timeout == 0 {
			hc.Timeout = cfg.Timeout
		}
	}
	hc.Transport = &observingTransport{base: hc.Transport, now: cfg.Now}
	return hc
}

// parseDomain accepts "tenant.auth0.com", "https://tenant.auth0.com/" or,
// for loopback hosts only, "http://127.0.0.1:port".
func parseDomain(domain string) (host string, insecure bool, err error) {
	d := strings.TrimSpace(domain)
	if !strings.Contains(d, "://") {
		d = "https://" + d
	}
	u, perr := url.Parse(d)
	if perr != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, prereg.Errorf(prereg.Invalid, "Auth0 domain %q is not a host name", prereg.Truncate(domain))
	}
	switch u.Scheme {
	case "https":
		return u.Host, false, nil
	case "http":
		h := u.Hostname()
		ip := net.ParseIP(h)
		if h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "", false, prereg.Errorf(prereg.Invalid, "Auth0 domain %q: plain http is only allowed for a loopback test server", prereg.Truncate(domain))
		}
		return u.Host, true, nil
	default:
		return "", false, prereg.Errorf(prereg.Invalid, "Auth0 domain %q: unsupported scheme", prereg.Truncate(domain))
	}
}

// checkAudience accepts only the form of the Management API's identifier,
// https://<host>/api/v2/: Auth0 compares it byte for byte, so a missing
// slash would otherwise show up as every token being refused.
func checkAudience(aud string) error {
	u, err := url.Parse(aud)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "/api/v2/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return prereg.Errorf(prereg.Invalid, "Auth0 audience %q is not the Management API identifier https://<canonical tenant domain>/api/v2/", prereg.Truncate(aud))
	}
	return nil
}

// observingTransport bounds response bodies and notes the rate-limit
// headers of a 429 for the call that caused it (go-auth0's errors carry
// only the status).
type observingTransport struct {
	base http.RoundTripper
	now  func() time.Time
}

type rateNoteKey struct{}

// rateNote receives the reset time of a 429 answered to one call.
type rateNote struct {
	mu    sync.Mutex
	until time.Time
}

func (n *rateNote) get() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.until
}

// RoundTrip sends the request through the base transport, caps the
// answer's body, and notes a 429's reset time for the call that caused it.
func (t *observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Body = limitedBody{Reader: &limitReader{r: resp.Body, n: maxResponseBytes}, Closer: resp.Body}
	if resp.StatusCode == http.StatusTooManyRequests {
		if n, ok := req.Context().Value(rateNoteKey{}).(*rateNote); ok {
			until := resetTime(resp.Header, t.now())
			n.mu.Lock()
			n.until = until
			n.mu.Unlock()
		}
	}
	return resp, nil
}

type limitedBody struct {
	io.Reader
	io.Closer
}

// limitReader is io.LimitReader that fails instead of silently
// truncating, so an oversized answer is an error, not half a document.
type limitReader struct {
	r io.Reader
	n int64
}

var errTooLarge = errors.New("Auth0 answer larger than allowed")

// Read reads as the underlying reader does, and fails with errTooLarge
// once the limit is used up.
func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// resetTime reads when Auth0 allows the next call: Retry-After (seconds or
// an HTTP date) and X-RateLimit-Reset (Unix seconds); the later one wins,
// capped at maxRateLimitWait. Zero when neither header is usable.
func resetTime(h http.Header, now time.Time) time.Time {
	var until time.Time
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		var secs int64
		if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 && fmt.Sprint(secs) == v {
			until = now.Add(time.Duration(secs) * time.Second)
		} else if t, err := http.ParseTime(v); err == nil {
			until = t
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		var secs int64
		if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs > 0 {
			if t := time.Unix(secs, 0); t.After(until) {
				until = t
			}
		}
	}
	if until.IsZero() {
		return until
	}
	if limit := now.Add(maxRateLimitWait); until.After(limit) {
		until = limit
	}
	return until
}

// RateLimitError is the cause inside a RateLimited *prereg.Error: when
// Auth0 allows the next call.
type RateLimitError struct {
	// Until is the reset time Auth0 gave; zero when it gave none.
	Until time.Time
}

// Error says that Auth0 rate-limited the call, and until when.
func (e *RateLimitError) Error() string {
	if e.Until.IsZero() {
		return "Auth0 rate limit reached"
	}
	return "Auth0 rate limit reached until " + e.Until.UTC().Format(time.RFC3339)
}

// RetryAt returns the time Auth0 asked the caller to wait for, when err is
// a rate-limit error that carried one.
func RetryAt(err error) (time.Time, bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) && !rl.Until.IsZero() {
		return rl.Until, true
	}
	return time.Time{}, false
}

// call runs fn with a context that collects the rate-limit headers of its
// requests and translates its error.
func (c *Client) call(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	note := &rateNote{}
	err := fn(context.WithValue(ctx, rateNoteKey{}, note))
	if err == nil {
		return nil
	}
	return c.translate(ctx, what, err, note)
}

// translate turns a go-auth0, oauth2 or transport error into a
// *prereg.Error whose message is safe to store and show.
func (c *Client) translate(ctx context.Context, what string, err error, note *rateNote) error {
	var pe *prereg.Error
	if errors.As(err, &pe) {
		return err
	}
	var me management.Error
	if errors.As(err, &me) {
		return c.statusError(what, me.Status(), me.Error(), note.get(), err)
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		until := time.Time{}
		if re.Response.StatusCode == http.StatusTooManyRequests {
			until = resetTime(re.Response.Header, c.now())
		}
		msg := "token request refused"
		if re.ErrorCode != "" {
			msg += ": " + re.ErrorCode
		}
		// re, not err: err quotes the API request's URL, which may hold an
		// address.
		return c.statusError(what+" (access token)", re.Response.StatusCode, msg, until, re)
	}
	// A *url.Error quotes the request URL, which for users-by-email holds
	// an address: keep only what went wrong, so no log gets the address.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s %s: %w", ue.Op, what, ue.Err)
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("Auth0 %s: no answer in time", what))
	}
	if errors.Is(err, errTooLarge) {
		return prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("Auth0 %s: answer too large", what))
	}
	var ne net.Error
	if errors.As(err, &ne) || ue != nil {
		return prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("Auth0 %s: cannot reach Auth0", what))
	}
	return prereg.Wrap(prereg.Unavailable, err, fmt.Sprintf("Auth0 %s failed", what))
}

func (c *Client) statusError(what string, status int, detail string, until time.Time, cause error) error {
	msg := fmt.Sprintf("Auth0 %s: %s", what, prereg.Truncate(detail))
	switch {
	case status == http.StatusTooManyRequests:
		return &prereg.Error{Code: prereg.RateLimited, Message: msg, Err: errors.Join(&RateLimitError{Until: until}, cause)}
	case status == http.StatusNotFound:
		return prereg.Wrap(prereg.NotFound, cause, msg)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Wrong credentials or a missing scope: the operator can fix it,
		// so the queue keeps retrying instead of failing grants for good.
		return prereg.Wrap(prereg.Forbidden, cause, msg+" (check the client credentials and the scopes of the machine-to-machine application)")
	case status == http.StatusConflict:
		return prereg.Wrap(prereg.Conflict, cause, msg)
	case status >= 500:
		return prereg.Wrap(prereg.Unavailable, cause, msg)
	case status >= 400:
		return prereg.Wrap(prereg.Invalid, cause, msg)
	}
	return prereg.Wrap(prereg.Unavailable, cause, msg)
}

// UsersByEmail returns the Auth0 users with this address. Auth0's lookup
// is exact and case-sensitive and database connections store addresses
// lower-cased, so it looks up the lower-cased address and, when
// different, the address as given, and merges the answers by user ID.
func (c *Client) UsersByEmail(ctx context.Context, email string) ([]User, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > prereg.MaxEmailBytes {
		return nil, prereg.Errorf(prereg.Invalid, "not a usable email address")
	}
	forms := []string{strings.ToLower(email)}
	if email != forms[0] {
		forms = append(forms, email)
	}
	var out []User
	seen := map[string]bool{}
	for _, f := range forms {
		var users []*management.User
		err := c.call(ctx, "users-by-email lookup", func(ctx context.Context) error {
			var err error
			users, err = c.api.User.ListByEmail(ctx, f)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			id := u.GetID()
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			user := User{ID: id, Email: u.GetEmail(), EmailVerified: u.GetEmailVerified()}
			if u.Identities != nil {
				for _, ident := range u.Identities {
					if ident != nil && ident.GetConnection() != "" {
						user.Connections = append(user.Connections, ident.GetConnection())
					}
				}
			}
			out = append(out, user)
		}
	}
	return out, nil
}

// SendVerificationEmail asks Auth0 to send the user a verification email.
// Rate-limiting that (once per user a day) is the caller's business.
func (c *Client) SendVerificationEmail(ctx context.Context, userID string) error {
	if userID == "" {
		return prereg.Errorf(prereg.Invalid, "user_id is required")
	}
	job := &management.Job{UserID: &userID, Identity: primaryIdentity(userID)}
	return c.call(ctx, "verification email", func(ctx context.Context) error {
		return c.api.Job.VerifyEmail(ctx, job)
	})
}

// primaryIdentity is the identity a user_id names: Auth0 builds user IDs as
// "<provider>|<the identity's user_id>" (google-oauth2|123, samlp|corp|ana,
// email|64a…). Auth0 needs it to send a verification email to a social,
// enterprise or passwordless user; for a database user it is harmless.
func primaryIdentity(userID string) *management.UserIdentity {
	provider, id, ok := strings.Cut(userID, "|")
	if !ok || provider == "" || id == "" {
		return nil
	}
	return &management.UserIdentity{UserID: &id, Provider: &provider}
}
