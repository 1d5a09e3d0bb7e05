package prereg

import (
	"crypto/sha256"
	"time"
)

// Limits of a console session: it ends after SessionIdle without a request
// or SessionMax after sign-in, whichever comes first.
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 8 * time.Hour
	// SessionTouchEvery bounds how often a session's LastSeenAt is
	// written: page views stay reads, and idle expiry is exact to it.
	SessionTouchEvery = time.Minute
)

// BootstrapTokenID is the principal of the configured admin token, which
// has no record in the store.
const BootstrapTokenID = "bootstrap"

// Session is a console sign-in as a store keeps it. The cookie's value is
// never stored, only its SHA-256 (Hash), so a copy of the store opens no
// session. The principal is copied from the token at sign-in: a token
// never changes its scope, it can only be revoked.
//
// A store answers a session as gone once it has expired or once its token
// is no longer stored (revoked), checking on every read. A session of the
// configured admin token (BootstrapTokenID) has no record to check: it
// ends by time or at sign-out, and the console refuses it while the
// service runs without an admin token configured. Sessions are not part of
// a dump: a copied store starts with none.
type Session struct {
	Hash [32]byte
	Principal
	// CSRF is the secret every form that changes anything must echo.
	CSRF       string
	CreatedAt  time.Time
	LastSeenAt time.Time
}

// SessionHash is how a session is found from its cookie's value.
func SessionHash(cookie string) [32]byte { return sha256.Sum256([]byte(cookie)) }

// Expired reports whether the session has ended by time at now.
func (s Session) Expired(now time.Time) bool {
	return !now.Before(s.LastSeenAt.Add(SessionIdle)) || !now.Before(s.CreatedAt.Add(SessionMax))
}

// NeedsTouch reports whether a request at now should move LastSeenAt.
func (s Session) NeedsTouch(now time.Time) bool { return now.Sub(s.LastSeenAt) >= SessionTouchEvery }

// ExpiresAt is when the session ends unless used again.
func (s Session) ExpiresAt() time.Time {
	idle, max := s.LastSeenAt.Add(SessionIdle), s.CreatedAt.Add(SessionMax)
	if idle.Before(max) {
		return idle
	}
	return max
}
