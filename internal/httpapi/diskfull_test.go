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
		id := "full-" + strings.ReplaceAll(c.path, "/", "-")
		code, raw := e.doHeaders(c.method, c.path, c.bearer, c.body, map[string]string{"X-Request-ID": id})
		if code != 503 || decodeErr(t, raw).Error.Code != "unavailable" {
			t.Fatalf("%s %s on a full disk: %d %s", c.method, c.path, code, raw)
		}
		// The failure is logged under the request's ID, to be found from
		// the answer's X-Request-ID. Its cause shows it was answered at
		// once by the store's write gate, not after trying the full disk.
		if line := logLine(logs.String(), `"msg":"request failed","request_id":"`+id+`"`); !strings.Contains(line, "it is retried in the background") {
			t.Errorf("%s %s: logged %q, want the write gate's refusal, in:\n%s", c.method, c.path, line, logs.String())
		}
	}
	testfs.Grow(t, dir, "64m")
	testio.WaitFor(t, 5*time.Second, "the store writable again", store.Writable)
	// /readyz keeps its last probe for a second: it may take that long to
	// see the recovery.
	testio.WaitFor(t, 5*time.Second, "readyz 200 after recovery", func() bool {
		code, _ := e.do("GET", "/readyz", "", nil)
		return code == 200
	})
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

// logLine returns the first line of logs that holds part, or "".
func logLine(logs, part string) string {
	for line := range strings.Lines(logs) {
		if strings.Contains(line, part) {
			return line
		}
	}
	return ""
}
