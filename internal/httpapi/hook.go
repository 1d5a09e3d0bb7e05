package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/bytesize"
	"github.com/prereg/prereg/internal/prereg"
)

// hookReadTimeout bounds how long the hook waits for a request body.
const hookReadTimeout = 5 * time.Second

// readBody reads at most limit bytes; more is a TooLarge error.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	return readBodyInto(c, nil, limit)
}

// readBodyInto is readBody appending to buf.
func readBodyInto(c *gin.Context, buf []byte, limit int64) ([]byte, error) {
	b := bytes.NewBuffer(buf)
	_, err := b.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, prereg.Errorf(prereg.TooLarge, "request body larger than %s", bytesize.Format(limit))
		}
		return nil, prereg.Wrap(prereg.Invalid, err, "cannot read the request body")
	}
	return b.Bytes(), nil
}

// decodeJSON decodes one JSON value and refuses trailing data; with strict,
// unknown fields are refused too (admin writes, where a typo must not be
// silently dropped).
func decodeJSON(body []byte, v any, strict bool) error {
	if !strict {
		// The hot path (the hook): one pass; Unmarshal refuses trailing
		// data by itself.
		if err := json.Unmarshal(body, v); err != nil {
			return jsonError(err)
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return prereg.Errorf(prereg.Invalid, "the request body holds more than one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a caller-safe Invalid error.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te):
		return &prereg.Error{Code: prereg.Invalid, Message: "wrong type for " + te.Field,
			Details: []prereg.FieldError{{Field: te.Field, Message: "must be " + jsonTypeName(te.Type)}}}
	case errors.Is(err, io.EOF), err.Error() == "unexpected end of JSON input":
		return prereg.Errorf(prereg.Invalid, "the request body is empty or cut short; a JSON object is expected")
	}
	return prereg.Wrap(prereg.Invalid, err, "the request body is not valid JSON: "+prereg.Truncate(err.Error()))
}

// jsonTypeName names a Go type in JSON's words for a caller ("a list of
// strings", not "[]string").
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if e := t.Elem(); e.Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// Logins answer the login hook.
type Logins interface {
	// Login decides a login; verified is the email_verified acted on.
	Login(ctx context.Context, l prereg.Login, verified bool) (prereg.LoginResult, error)
	// MarkVerificationSent reports whether a verification email may be
	// sent to userID now (at most once per period) and records it.
	MarkVerificationSent(ctx context.Context, userID string, period time.Duration) (bool, error)
	// ForgetVerificationSent undoes the mark after a failed send.
	ForgetVerificationSent(ctx context.Context, userID string) error
}

func (s *Server) hook(c *gin.Context) {
	if s.cfg.HookInFlight != nil {
		release, ok := s.cfg.HookInFlight.TryAcquire()
		if !ok {
			s.failRetry(c, prereg.Errorf(prereg.Unavailable, "too many logins in flight; retry"), time.Second)
			return
		}
		defer release()
	}
	// A login must never wait on a slow sender: the whole 16 KiB body has
	// a few seconds to arrive, whatever the server-wide read timeout.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(hookReadTimeout))
	buf := hookBuffers.Get().(*[]byte)
	defer hookBuffers.Put(buf)
	body, err := readBodyInto(c, (*buf)[:0], MaxHookBody)
	if err != nil {
		s.fail(c, err)
		return
	}
	*buf = body[:0] // keep what it grew to, up to the limit
	if err := s.checkSignature(c, body); err != nil {
		// Not counted against the address: the bearer secret was right,
		// and Auth0's shared addresses must never end up blocked.
		s.fail(c, err)
		return
	}
	var l prereg.Login
	if err := decodeLogin(body, &l); err != nil {
		s.fail(c, err)
		return
	}
	if err := l.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	res, err := s.stores.Logins.Login(ctx, l, s.trusted.Verified(l))
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(res.Jobs) > 0 && s.cfg.Syncer != nil {
		s.syncGrants(ctx, &res)
	}
	if res.Outcome == prereg.OutcomeEmailUnverified && s.cfg.Verification != nil {
		s.sendVerification(l.UserID)
	}
	s.metrics.outcome[res.Outcome].Inc()
	// The answer reuses the body's buffer: the body was decoded into
	// copies, and c.Data copies the answer out before the buffer goes
	// back to the pool.
	*buf = appendHookResult((*buf)[:0], &res.HookResult)
	c.Data(http.StatusOK, "application/json; charset=utf-8", *buf)
}

// syncGrants runs the login's sync jobs within the sync budget, so that
// each grant's answer carries the state its sync reached.
func (s *Server) syncGrants(ctx context.Context, res *prereg.LoginResult) {
	states := s.cfg.Syncer.RunNow(ctx, res.Jobs, s.cfg.SyncBudget)
	byReg := map[string]prereg.SyncState{}
	for _, j := range res.Jobs {
		if st, ok := states[j.ID]; ok {
			byReg[j.RegistrationID] = st
		}
	}
	for i := range res.Grants {
		if st, ok := byReg[res.Grants[i].RegistrationID]; ok {
			res.Grants[i].Sync = st
		}
	}
}

// hookBuffers holds the buffers a hook call reads its body and writes its
// answer into, so that a login allocates neither: at a steady rate the
// collector's work follows what each login allocates.
var hookBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// checkSignature verifies the Standard Webhooks headers when a verifier is
// configured: always when signatures are required, and otherwise whenever
// the request carries them (a bad signature is never ignored).
func (s *Server) checkSignature(c *gin.Context, body []byte) error {
	if s.cfg.Signatures == nil {
		if s.cfg.RequireSignature {
			return prereg.Errorf(prereg.Unauthorized, "signatures are required but no signing secret is configured")
		}
		return nil
	}
	id, ts, sig := c.GetHeader("webhook-id"), c.GetHeader("webhook-timestamp"), c.GetHeader("webhook-signature")
	if id == "" && ts == "" && sig == "" && !s.cfg.RequireSignature {
		return nil
	}
	return s.cfg.Signatures.Verify(id, ts, sig, body)
}

// sendVerification asks Auth0 for a verification email off the login path,
// at most once per user per period (remembered in the store). A failed send
// is forgotten, so the person's next login tries again.
func (s *Server) sendVerification(userID string) {
	s.background.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		send, err := s.stores.Logins.MarkVerificationSent(ctx, userID, s.cfg.VerificationPeriod)
		if err != nil || !send {
			return
		}
		if err := s.cfg.Verification.SendVerificationEmail(ctx, userID); err != nil {
			s.log.Warn("verification email not sent; the next login tries again", slog.String("error", err.Error()))
			// A fresh context: the send may have used up ctx.
			fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer fcancel()
			if err := s.stores.Logins.ForgetVerificationSent(fctx, userID); err != nil {
				s.log.Error("verification email: clearing the failed send failed", slog.String("error", err.Error()))
			}
		}
	})
}
