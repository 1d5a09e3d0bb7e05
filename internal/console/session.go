package console

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/prereg"
)

// cookieName is the session cookie; its value is a random secret whose
// SHA-256 names the session in the store.
const cookieName = "prereg_session"

// maxFormBytes bounds a form that is not an upload.
const maxFormBytes = 16 << 10

// request is one signed-in request: the session and who is behind it.
type request struct {
	sess prereg.Session
	p    prereg.Principal
}

// with admits requests of a live session: others are sent to the sign-in
// page (a GET) or refused (anything else). A POST must carry the
// session's CSRF secret; an upload checks it itself, as it streams the
// body (uploadPart).
func (c *Console) with(fn func(w http.ResponseWriter, r *http.Request, q *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := c.session(w, r)
		if err != nil {
			c.errorPage(w, r, nil, err)
			return
		}
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, nil, prereg.Errorf(prereg.Unauthorized, "your session has ended; sign in again"))
			return
		}
		q := &request{sess: sess, p: sess.Principal}
		if c.cfg.AdminLimiter != nil {
			if ok, after := c.cfg.AdminLimiter.Allow(q.p.TokenID); !ok {
				secs := limits.RetryAfterSeconds(after)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				wait := "a second"
				if secs > 1 {
					wait = strconv.Itoa(secs) + " seconds"
				}
				c.errorPage(w, r, q, prereg.Errorf(prereg.RateLimited, "This token has made too many requests (its console pages and API calls count together); wait %s and try again.", wait))
				return
			}
		}
		if r.Method == http.MethodPost && !streamed(r) {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if !c.checkCSRF(r, q, r.PostFormValue("csrf")) {
				c.errorPage(w, r, q, prereg.Errorf(prereg.Forbidden, "the form was not sent by this console page (missing or wrong CSRF token); reload the page and try again"))
				return
			}
		}
		fn(w, r, q)
	}
}

// streamed reports whether r is an upload, whose body is streamed, not
// parsed whole: the import's file, and the confirmation that sends it
// again.
func streamed(r *http.Request) bool {
	return r.URL.Path == "/console/import" || r.URL.Path == "/console/import/confirm" && isMultipart(r)
}

// checkCSRF accepts a POST carrying the session's CSRF secret from this
// origin (a browser sends Origin with every POST; one from elsewhere is
// refused even with the secret).
func (c *Console) checkCSRF(r *http.Request, q *request, token string) bool {
	return sameOrigin(r) && token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(q.sess.CSRF)) == 1
}

// session finds the live session of the request's cookie; ok is false
// when there is none. A session of the configured admin token ends when
// the service runs without one. A store that cannot answer is an error,
// not a sign-out: the cookie stays for the next try.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (sess prereg.Session, ok bool, err error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 100 {
		return sess, false, nil
	}
	sess, err = c.st.Sessions.Session(r.Context(), prereg.SessionHash(ck.Value))
	switch {
	case prereg.ErrorCode(err) == prereg.NotFound:
		c.clearCookie(w, r)
		return sess, false, nil
	case err != nil:
		return sess, false, err
	}
	return sess, sess.TokenID != prereg.BootstrapTokenID || c.admin != nil, nil
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := c.session(w, r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "signin", signInData{Next: safeNext(r.URL.Query().Get("next"))})
}

type signInData struct {
	Next    string
	Problem string
}

// signIn exchanges an admin token for a session. A wrong token counts
// against the same failure limit as the API's.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	key := netallow.LimitKey(c.cfg.ClientIP(r))
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	data := signInData{Next: safeNext(r.PostFormValue("next"))}
	if c.cfg.FailureLimiter != nil {
		if blocked, _ := c.cfg.FailureLimiter.Blocked(key); blocked {
			data.Problem = "Too many failed sign-ins from this address; wait a minute and try again."
			c.render(w, r, nil, http.StatusTooManyRequests, "signin", data)
			return
		}
	}
	// No session yet, so no CSRF secret: a sign-in posted from another
	// site is refused by its Origin.
	if !sameOrigin(r) {
		c.errorPage(w, r, nil, prereg.Errorf(prereg.Forbidden, "sign-in from another site is refused"))
		return
	}
	secret := strings.TrimSpace(r.PostFormValue("token"))
	p, ok, err := prereg.Authenticate(r.Context(), secret, c.admin, c.st.Tokens)
	if err != nil {
		c.errorPage(w, r, nil, err)
		return
	}
	if secret == "" || !ok {
		if c.cfg.FailureLimiter != nil {
			c.cfg.FailureLimiter.Fail(key)
		}
		data.Problem = "That is not a valid admin token. Paste the whole token, starting with prt_."
		c.render(w, r, nil, http.StatusUnauthorized, "signin", data)
		return
	}
	cookie := prereg.NewSecret("")
	if _, err := c.st.Sessions.CreateSession(r.Context(), prereg.Session{Hash: prereg.SessionHash(cookie), Principal: p, CSRF: prereg.NewSecret("")}); err != nil {
		c.errorPage(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: cookie, Path: "/console/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.cfg.HTTPS(r)})
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

// sameOrigin refuses a request whose Origin (which browsers send with
// every POST) names another host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// safeNext keeps a post-sign-in destination inside the console: a path
// under /console/, never another host.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/console/") ||
		strings.HasPrefix(next, "/console//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, q *request) {
	if err := c.st.Sessions.DeleteSession(r.Context(), q.sess.Hash); err != nil {
		c.errorPage(w, r, q, err)
		return
	}
	c.uploads.drop(q.sess.Hash)
	c.clearCookie(w, r)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.cfg.HTTPS(r)})
}
