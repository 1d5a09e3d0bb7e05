package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testSessions: a console session is found by the hash of its cookie,
// keeps its principal and CSRF secret, and ends after 30 minutes idle,
// 8 hours after sign-in, at sign-out, and at once when its token is
// revoked. A session of the configured admin token has no token record to
// check.
func testSessions(t *testing.T, open Open) {
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f := &sessionFlow{clock: newClock(start)}
	f.s = open(t, Options{Now: f.clock.now})
	runSteps(t,
		step{"Create", f.create},
		step{"Idle", f.idle},
		step{"Absolute", f.absolute},
		step{"TokenRevoked", f.tokenRevoked},
		step{"Delete", f.delete},
	)
}

// sessionFlow is what the steps of testSessions hand on.
type sessionFlow struct {
	s     Store
	clock *clock
	tok   prereg.Token
}

// newSession stores a session for p under the cookie value and returns it.
func (f *sessionFlow) newSession(t *testing.T, cookie string, p prereg.Principal) prereg.Session {
	t.Helper()
	sess, err := f.s.CreateSession(context.Background(), prereg.Session{Hash: prereg.SessionHash(cookie), Principal: p, CSRF: "csrf-" + cookie})
	noErr(t, err)
	expect(t, sess.CreatedAt.Equal(f.clock.now()) && sess.LastSeenAt.Equal(f.clock.now()), "created %+v at %v", sess, f.clock.now())
	return sess
}

// live reports whether the session of cookie is still open, failing t on
// an error other than not_found.
func (f *sessionFlow) live(t *testing.T, cookie string) (prereg.Session, bool) {
	t.Helper()
	sess, err := f.s.Session(context.Background(), prereg.SessionHash(cookie))
	if prereg.ErrorCode(err) == prereg.NotFound {
		return sess, false
	}
	noErr(t, err)
	return sess, true
}

func (f *sessionFlow) create(t *testing.T) {
	tok, _, err := f.s.CreateToken(context.Background(), prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	noErr(t, err)
	f.tok = tok
	f.newSession(t, "c1", prereg.Principal{TokenID: tok.ID, OrganizationID: "org_a", ReadOnly: true})
	got, ok := f.live(t, "c1")
	expect(t, ok && got.TokenID == tok.ID && got.OrganizationID == "org_a" && got.ReadOnly && got.CSRF == "csrf-c1" && got.Hash == prereg.SessionHash("c1"),
		"read back %+v %v", got, ok)
	_, ok = f.live(t, "c2")
	expect(t, !ok, "a session never created is found")
}

func (f *sessionFlow) idle(t *testing.T) {
	f.newSession(t, "idle", prereg.Principal{TokenID: prereg.BootstrapTokenID})
	f.clock.add(prereg.SessionIdle - time.Second)
	got, ok := f.live(t, "idle")
	expect(t, ok && got.LastSeenAt.Equal(f.clock.now()), "used before 30 minutes idle: %v, last seen %v", ok, got.LastSeenAt)
	f.clock.add(prereg.SessionIdle - time.Second)
	_, ok = f.live(t, "idle")
	expect(t, ok, "a request 29 minutes after the last one found no session")
	f.clock.add(prereg.SessionIdle)
	_, ok = f.live(t, "idle")
	expect(t, !ok, "a session 30 minutes idle is still open")
	f.clock.add(-prereg.SessionIdle)
	_, ok = f.live(t, "idle")
	expect(t, !ok, "an expired session was kept (found again with the clock set back)")
}

func (f *sessionFlow) absolute(t *testing.T) {
	f.newSession(t, "long", prereg.Principal{TokenID: prereg.BootstrapTokenID})
	for range 8*60/20 - 1 {
		f.clock.add(20 * time.Minute)
		_, ok := f.live(t, "long")
		expect(t, ok, "a session used every 20 minutes ended before 8 hours, at %v", f.clock.now())
	}
	f.clock.add(20 * time.Minute)
	_, ok := f.live(t, "long")
	expect(t, !ok, "a session is open 8 hours after sign-in")
}

func (f *sessionFlow) tokenRevoked(t *testing.T) {
	f.newSession(t, "rev", prereg.Principal{TokenID: f.tok.ID, OrganizationID: "org_a", ReadOnly: true})
	f.newSession(t, "boot", prereg.Principal{TokenID: prereg.BootstrapTokenID})
	_, err := f.s.RevokeToken(context.Background(), f.tok.ID, "test")
	noErr(t, err)
	_, ok := f.live(t, "rev")
	expect(t, !ok, "the session of a revoked token is still open")
	_, ok = f.live(t, "boot")
	expect(t, ok, "revoking a token ended the configured admin token's session")
}

func (f *sessionFlow) delete(t *testing.T) {
	ctx := context.Background()
	f.newSession(t, "out", prereg.Principal{TokenID: prereg.BootstrapTokenID})
	noErr(t, f.s.DeleteSession(ctx, prereg.SessionHash("out")))
	_, ok := f.live(t, "out")
	expect(t, !ok, "a deleted session is still open")
	noErr(t, f.s.DeleteSession(ctx, prereg.SessionHash("out")))
	_, ok = f.live(t, "boot")
	expect(t, ok, "deleting one session ended another")
}
