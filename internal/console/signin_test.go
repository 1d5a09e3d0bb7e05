package console_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/prereg/prereg/internal/prereg"
)

// TestSignInAndOut: a wrong token is refused on the page, the configured
// token opens the console (an empty store says what to do first), and
// signing out ends the session on the server: the old cookie opens
// nothing.
func TestSignInAndOut(t *testing.T) {
	e := newEnv(t)
	b := e.open(t)
	if st := b.visit("/console/registrations"); st != 200 || b.path() != "/console/signin?next=%2Fconsole%2Fregistrations" {
		b.fail("signed out: %d at %s", st, b.path())
	}
	b.do(chromedp.SetValue(chromedp.ID("token"), "prt_wrong"))
	if st := b.submit("main button[type=submit]"); st != 401 {
		b.fail("a wrong token answered %d", st)
	}
	b.expectText(".problem", "not a valid admin token")
	b.a11y()

	// From the keyboard alone: the token field has the focus, Enter
	// sends the form.
	b.visit("/console/signin?next=%2Fconsole%2F")
	// Chromium applies autofocus at a rendering update after the load,
	// not at it: wait for the focus to land (at most 5 s), then check.
	if id := eval[string](b, focusedID); id != "token" {
		b.fail("the focus is on %q, not the token field", id)
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent(adminToken+"\r"))); err != nil {
		b.fail("sign in from the keyboard: %v", err)
	}
	if b.path() != "/console/" {
		b.fail("after sign-in: %s", b.path())
	}
	b.expectText("main", "No registrations yet", "Import a CSV", "Action")
	b.expectText("header", "bootstrap", "tenant-wide")
	b.a11y()
	cookie := eval[string](b, "document.cookie")
	if cookie != "" {
		b.fail("the session cookie is readable from the page: %q", cookie)
	}

	b.submit("header form button[type=submit]")
	if b.path() != "/console/signin" {
		b.fail("after sign-out: %s", b.path())
	}
	if st := b.visit("/console/"); st != 200 || b.path() != "/console/signin?next=%2Fconsole%2F" {
		b.fail("after sign-out the console opened: %d %s", st, b.path())
	}
}

// TestSessionExpiry: a session ends after 30 minutes without a request,
// and 8 hours after sign-in however busy; the clock is moved, not waited
// for.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.open(t)
	b.signIn(adminToken)
	e.clock.add(prereg.SessionIdle - time.Minute)
	if b.visit("/console/registrations"); b.path() != "/console/registrations" {
		b.fail("29 minutes idle ended the session: %s", b.path())
	}
	e.clock.add(prereg.SessionIdle)
	if b.visit("/console/registrations"); b.path() != "/console/signin?next=%2Fconsole%2Fregistrations" {
		b.fail("30 minutes idle did not end the session: %s", b.path())
	}

	b.signIn(adminToken)
	for range 8*60/20 - 1 {
		e.clock.add(20 * time.Minute)
		if b.visit("/console/"); b.path() != "/console/" {
			b.fail("a session used every 20 minutes ended at %v", e.clock.now())
		}
	}
	e.clock.add(20 * time.Minute)
	if b.visit("/console/"); b.path() != "/console/signin?next=%2Fconsole%2F" {
		b.fail("a session is open 8 hours after sign-in: %s", b.path())
	}
}

// focusedID resolves to the focused element's ID once it has one, or
// whatever has the focus after 5 s.
const focusedID = `new Promise(resolve => {
	const start = Date.now();
	const look = () => {
		const id = document.activeElement ? document.activeElement.id : "";
		if (id || Date.now() - start > 5000) resolve(id); else setTimeout(look, 10);
	};
	look();
})`
