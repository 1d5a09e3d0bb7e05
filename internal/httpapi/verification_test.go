package httpapi_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

// heldSender is a verification sender whose sends wait for release and
// then fail, as an Auth0 outage would.
type heldSender struct {
	entered chan string
	release chan struct{}
}

func (h *heldSender) SendVerificationEmail(ctx context.Context, userID string) error {
	h.entered <- userID
	<-h.release
	return errors.New("auth0 unavailable")
}

// A verification email is sent after the login's answer; Wait waits for
// that send and for the store write that records its outcome, so the
// service closes its store only after them.
func TestWaitCoversVerificationSend(t *testing.T) {
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sender := &heldSender{entered: make(chan string, 1), release: make(chan struct{})}
	h := httpapi.New(httpapi.Config{HookSecrets: []string{hookSecret}, AdminToken: adminToken, Verification: sender}, storesOf(store))
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(func() { srv.Close(); store.Close() })
	e := &env{t: t, srv: srv, store: store, tokens: map[string]string{}}
	e.register(map[string]any{"email": "una@example.com", "roles": []string{"r"}})

	const user = "auth0|una"
	if res := e.hook(map[string]any{"user_id": user, "email": "una@example.com", "email_verified": false}); res.Outcome != prereg.OutcomeEmailUnverified {
		t.Fatalf("hook: %+v", res)
	}
	select {
	case <-sender.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no verification send started")
	}
	waited := make(chan struct{})
	go func() {
		h.Wait()
		close(waited)
	}()
	close(sender.release)
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the send ended")
	}
	// The failed send was already forgotten, so the next login may send.
	if again, err := store.MarkVerificationSent(context.Background(), user, time.Hour); err != nil || !again {
		t.Fatalf("after Wait the failed send is still marked sent (send again %v, %v)", again, err)
	}
}
