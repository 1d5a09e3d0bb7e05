package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// statusOf is the one place a domain error code becomes an HTTP status and
// a contract error code (CONTRACT §5).
var statusOf = map[prereg.Code]struct {
	status int
	code   string
}{
	prereg.Invalid:          {http.StatusBadRequest, "invalid_request"},
	prereg.Unauthorized:     {http.StatusUnauthorized, "unauthorized"},
	prereg.Forbidden:        {http.StatusForbidden, "forbidden"},
	prereg.NotFound:         {http.StatusNotFound, "not_found"},
	prereg.MethodNotAllowed: {http.StatusMethodNotAllowed, "method_not_allowed"},
	prereg.Conflict:         {http.StatusConflict, "conflict"},
	prereg.TooLarge:         {http.StatusRequestEntityTooLarge, "payload_too_large"},
	prereg.UnsupportedMedia: {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	prereg.RateLimited:      {http.StatusTooManyRequests, "rate_limited"},
	prereg.Unavailable:      {http.StatusServiceUnavailable, "unavailable"},
	prereg.Internal:         {http.StatusInternalServerError, "internal"},
}

// Status is the HTTP status of err, as the API answers it; the console's
// pages answer with the same.
func Status(err error) int {
	if m, ok := statusOf[prereg.ErrorCode(err)]; ok {
		return m.status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Details []prereg.FieldError `json:"details,omitempty"`
}

// fail answers err in the CONTRACT §5 shape and stops the chain. Anything
// that is not a *prereg.Error, or is Internal, shows the caller only
// "internal error"; the cause goes to the log.
func (s *Server) fail(c *gin.Context, err error) {
	code := prereg.ErrorCode(err)
	m, ok := statusOf[code]
	if !ok {
		m = statusOf[prereg.Internal]
	}
	body := errorBody{Error: errorPayload{Code: m.code, Message: prereg.ErrorMessage(err)}}
	if pe, ok := err.(*prereg.Error); ok && code != prereg.Internal {
		body.Error.Details = pe.Details
	}
	if m.status >= 500 {
		s.log.LogAttrs(c.Request.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)), slog.String("route", c.FullPath()), slog.String("error", err.Error()))
	}
	// A 503 is mostly a store that cannot answer for a moment (an etcd
	// election, a lost quorum, a full disk): say when to try again, so
	// that the Action and clients back off instead of hammering it.
	if m.status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", "1")
	}
	c.Abort()
	c.JSON(m.status, body)
}

// failRetry answers a 429 or 503 with Retry-After.
func (s *Server) failRetry(c *gin.Context, err error, after time.Duration) {
	c.Header("Retry-After", retryAfter(after))
	s.fail(c, err)
}

// retryAfter is a wait as a Retry-After value: whole seconds, at least 1.
func retryAfter(after time.Duration) string {
	return strconv.Itoa(max(int(after.Round(time.Second)/time.Second), 1))
}
