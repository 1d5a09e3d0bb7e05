package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testfs"
	"github.com/prereg/prereg/internal/testio"
)

// On a full disk the service answers 503 JSON at once, /readyz fails, and
// everything comes back by itself once there is room.
func TestDiskFullAnswers503AndRecovers(t *testing.T) {
	dir := testfs.Tiny(t, "512k")
	store, err := boltstore.Open(filepath.Join(dir, "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, tokens: map[string]string{}}
	var logs testio.Buffer
	srv := newServer(t, httpapi.Config{HookSecrets: []string{hookSecret}, AdminToken: adminToken, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, storesOf(store))
	e.srv = srv
	t.Cleanup(func() { srv.Close(); store.Close() })
	e.register(map[string]any{"email": "waiting@example.com", "roles": []string{"r"}})
	fillDisk(t, store)
	for _, c := range []struct {
		method, path, bearer string
		body                 any
	}{
		{"GET", "/readyz", "", nil},
		{"POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u1", "email": "waiting@example.com", "email_verified": true}},
		{"POST", "/v1/registrations", adminToken, map[string]any{"email": "new@example.com", "roles": []string{"r"}}},
	} {
		start := time.Now()
		id := "full-" + strings.ReplaceAll(c.path, "/", "-")
		code, raw := e.doHeaders(c.method, c.path, c.bearer, c.body, map[string]string{"X-Request-ID": id})
		if code != 503 || decodeErr(t, raw).Error.Code != "unavailable" || time.Since(start) > 200*time.Millisecond {
			t.Fatalf("%s %s on a full disk: %d %s after %s", c.method, c.path, code, raw, time.Since(start))
		}
		// The failure is logged under the request's ID, to be found
		// from the answer's X-Request-ID.
		if want := `"msg":"request failed","request_id":"` + id + `"`; c.path != "/readyz" && !strings.Contains(logs.String(), want) {
			t.Errorf("%s %s: no %s in the log:\n%s", c.method, c.path, want, logs.String())
		}
	}
	testfs.Grow(t, dir, "64m")
	deadline := time.Now().Add(5 * time.Second)
	for !store.Writable() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// /readyz keeps its last probe for a second: it may take that long to
	// see the recovery.
	code, raw := e.do("GET", "/readyz", "", nil)
	for code != 200 && time.Now().Before(deadline.Add(2*time.Second)) {
		time.Sleep(20 * time.Millisecond)
		code, raw = e.do("GET", "/readyz", "", nil)
	}
	if code != 200 {
		t.Fatalf("readyz after recovery: %d %s", code, raw)
	}
	if res := e.hook(map[string]any{"user_id": "u1", "email": "waiting@example.com", "email_verified": true}); res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("hook after recovery: %+v", res)
	}
}

// fillDisk writes registrations until the store's file system is full.
func fillDisk(t *testing.T, store *boltstore.Store) {
	t.Helper()
	for i := 0; store.Writable() && i < 500; i++ {
		var items []prereg.Input
		for j := range 200 {
			items = append(items, prereg.Input{Email: fmt.Sprintf("f%d-%d@example.com", i, j), Roles: []string{"a-fairly-long-role-name-to-fill-pages"}})
		}
		_, _ = store.ApplyBatch(context.Background(), items, "import:imp_fill", "test", false)
	}
	if store.Writable() {
		t.Fatal("could not fill the disk")
	}
}
