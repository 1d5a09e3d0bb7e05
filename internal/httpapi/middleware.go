package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/prereg"
)

const ctxPrincipal = "prereg.principal"

// requestID is the ID requestIDAndLog gave the request. It is read back
// from the response header rather than kept in the context's keys: the
// keys map would be allocated for every login only to hold it.
func requestID(c *gin.Context) string { return c.Writer.Header().Get("X-Request-ID") }

func principal(c *gin.Context) prereg.Principal {
	p, _ := c.Get(ctxPrincipal)
	pr, _ := p.(prereg.Principal)
	return pr
}

// validRequestID accepts a caller's X-Request-ID only if it is short and
// plain, so it can go into logs as is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Request IDs are a random per-process prefix and a counter: unique, and
// no system call per request.
var (
	requestIDPrefix = func() string {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}()
	requestIDSeq atomic.Uint64
)

func newRequestID() string {
	return requestIDPrefix + "-" + strconv.FormatUint(requestIDSeq.Add(1), 36)
}

// requestIDAndLog tags each request with an ID and writes one log line per
// request: route template (never the query, which may hold an address),
// status, latency, ID. Metrics are taken here too.
func (s *Server) requestIDAndLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Header("X-Request-ID", id)
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		s.metrics.observe(route, c.Request.Method, status, elapsed)
		if !s.log.Enabled(c.Request.Context(), slog.LevelInfo) {
			return
		}
		// Integer microseconds: cheaper to format than a float, and this
		// line is written for every login.
		attrs := [6]slog.Attr{
			slog.String("request_id", id),
			slog.String("method", c.Request.Method),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("latency_us", elapsed.Microseconds()),
		}
		n := 5
		if p, ok := c.Get(ctxPrincipal); ok {
			attrs[n] = slog.String("actor", p.(prereg.Principal).TokenID)
			n++
		}
		// A record of our own rather than LogAttrs, which walks the stack
		// for a source position this line never prints.
		rec := slog.NewRecord(start.Add(elapsed), slog.LevelInfo, "request", 0)
		rec.AddAttrs(attrs[:n]...)
		_ = s.log.Handler().Handle(c.Request.Context(), rec)
	}
}

// recoverer turns a panic into a 500 in the contract shape; the panic goes
// to the log, never to the client.
func (s *Server) recoverer() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic", slog.String("request_id", requestID(c)), slog.Any("panic", v))
				if !c.Writer.Written() {
					s.fail(c, prereg.Errorf(prereg.Internal, "internal error"))
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

// bearer returns the Authorization bearer credential.
func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authFailed counts a failed authentication against the source address
// and answers 401.
func (s *Server) authFailed(c *gin.Context, msg string) {
	if s.cfg.FailureLimiter != nil {
		s.cfg.FailureLimiter.Fail(netallow.LimitKey(s.cfg.ClientIP(c.Request)))
	}
	s.failUnread(c, prereg.Errorf(prereg.Unauthorized, "%s", msg))
}

// failUnread answers a request refused before authentication without
// reading its body: the connection is closed after the answer and its read
// deadline moved to now, so the server neither waits for nor drains a body
// that a slow (or hostile) client may never finish sending.
func (s *Server) failUnread(c *gin.Context, err error) {
	if c.Request.ContentLength != 0 && c.Request.ProtoMajor == 1 {
		c.Header("Connection", "close")
		_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now())
	}
	s.fail(c, err)
}

// blocked refuses a source that has used up its failed authentications.
func (s *Server) blocked(c *gin.Context) bool {
	if s.cfg.FailureLimiter == nil {
		return false
	}
	if b, after := s.cfg.FailureLimiter.Blocked(netallow.LimitKey(s.cfg.ClientIP(c.Request))); b {
		c.Header("Retry-After", retryAfter(after))
		s.failUnread(c, prereg.Errorf(prereg.RateLimited, "too many failed authentications from this address; retry later"))
		return true
	}
	return false
}

// hookAuth admits the Action: optional source allow-list and the hook
// secret. It reads no body; the handler checks a signature, which needs
// the body, once it has read it (checkSignature).
func (s *Server) hookAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.HookAllow != nil && !s.cfg.HookAllow.Contains(s.cfg.ClientIP(c.Request)) {
			s.failUnread(c, prereg.Errorf(prereg.Forbidden, "this source address may not call the hook"))
			return
		}
		// A valid secret always passes, even from an address over its
		// failure budget: Auth0 calls every tenant's Actions from the same
		// few addresses, so another tenant's misconfigured (or hostile)
		// Action must not be able to lock our logins out.
		tok := bearer(c)
		if tok != "" && matchHash(prereg.HashSecret(tok), s.hookHashes) {
			c.Next()
			return
		}
		if s.blocked(c) {
			return
		}
		if tok == "" {
			s.authFailed(c, "missing bearer hook secret")
			return
		}
		s.authFailed(c, "invalid hook secret")
	}
}

// adminAuth admits admin tokens: the configured bootstrap token or one from
// the store. A hook secret is not an admin token. Calls are then limited per
// token.
func (s *Server) adminAuth() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.blocked(c) {
			return
		}
		tok := bearer(c)
		if tok == "" {
			s.authFailed(c, "missing bearer admin token")
			return
		}
		p, ok, err := prereg.Authenticate(c.Request.Context(), tok, s.adminHash, s.stores.Tokens)
		if err != nil {
			s.fail(c, err)
			return
		}
		if !ok {
			s.authFailed(c, "invalid admin token")
			return
		}
		if s.cfg.AdminLimiter != nil {
			if ok, after := s.cfg.AdminLimiter.Allow(p.TokenID); !ok {
				s.failRetry(c, prereg.Errorf(prereg.RateLimited, "rate limit for this token exceeded"), after)
				return
			}
		}
		c.Set(ctxPrincipal, p)
		c.Next()
	}
}
