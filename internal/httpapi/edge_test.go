package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
)

// A request that fails authentication is answered 401 at once, without
// waiting for a body the client declared but never sends, and the server
// closes the connection instead of draining it.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ path, bearer string }{
		{"/v1/hooks/post-login", "wrong-secret"},
		{"/v1/hooks/post-login", ""},
		{"/v1/imports", "wrong-token"},
		{"/v1/registrations", adminToken[1:]},
	} {
		t.Run(c.path+"/"+c.bearer, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "POST " + c.path + " HTTP/1.1\r\nHost: prereg\r\nContent-Type: text/csv\r\nContent-Length: 200000\r\n"
			if c.bearer != "" {
				req += "Authorization: Bearer " + c.bearer + "\r\n"
			}
			if _, err := io.WriteString(conn, req+"\r\n{"); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer while the body is pending: %v", err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || decodeErr(t, raw).Error.Code != "unauthorized" || !resp.Close {
				t.Fatalf("answer: %d close=%v %s", resp.StatusCode, resp.Close, raw)
			}
			// The server hangs up rather than waiting for the rest.
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("after the 401: read %d, %v; want the server to close", n, err)
			}
		})
	}
}

// A token holds at most one import slot: a second import of the same token
// is refused with 429 and Retry-After, while other tokens still import.
func TestImportSlotPerToken(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var first atomic.Bool
	imp := &csvImporter{tmp: t.TempDir(), before: func() {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}}
	e := newEnv(t, func(c *httpapi.Config) {
		c.MaxConcurrentImports = 2
		c.Importer = imp
	})
	imp.store = e.store
	csv := "email,organization_id,roles\nana@example.com,org_a,r\n"
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // a failure below must not leave the first import hanging
	done := make(chan int, 1)
	go func() {
		code, _ := e.doHeaders("POST", "/v1/imports", e.tokens["org_a"], csv, map[string]string{"Content-Type": "text/csv"})
		done <- code
	}()
	<-entered
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/imports", strings.NewReader(csv))
	req.Header.Set("Authorization", "Bearer "+e.tokens["org_a"])
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || decodeErr(t, raw).Error.Code != "rate_limited" {
		t.Fatalf("second import of the same token: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	if code, raw := e.doHeaders("POST", "/v1/imports", adminToken, "email,roles\nbo@example.com,r\n", map[string]string{"Content-Type": "text/csv"}); code != 200 {
		t.Fatalf("another token's import while the first runs: %d %s", code, raw)
	}
	free()
	if code := <-done; code != 200 {
		t.Fatalf("first import: %d", code)
	}
	// The slot is free again.
	if code, raw := e.doHeaders("POST", "/v1/imports", e.tokens["org_a"], csv, map[string]string{"Content-Type": "text/csv"}); code != 200 {
		t.Fatalf("import after the first ended: %d %s", code, raw)
	}
}

// pingCounter is the real store with its readiness commits counted.
type pingCounter struct {
	*boltstore.Store
	n atomic.Int64
}

func (p *pingCounter) Ping(ctx context.Context) error {
	p.n.Add(1)
	return p.Store.Ping(ctx)
}

// /readyz commits at most once a second however many callers poll it.
func TestReadyzProbesAtMostOnceASecond(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pc := &pingCounter{Store: e.store}
	stores := storesOf(e.store)
	stores.Health = pc
	srv := newServer(t, httpapi.Config{HookSecrets: []string{hookSecret}, Now: clock}, stores)
	defer srv.Close()
	poll := func() {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 10 {
					resp, err := http.Get(srv.URL + "/readyz")
					if err != nil {
						t.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("readyz: %d", resp.StatusCode)
					}
				}
			})
		}
		wg.Wait()
	}
	for i, step := range []struct {
		advance time.Duration
		want    int64
	}{{0, 1}, {999 * time.Millisecond, 1}, {time.Millisecond, 2}, {5 * time.Second, 3}} {
		mu.Lock()
		now = now.Add(step.advance)
		mu.Unlock()
		poll()
		if got := pc.n.Load(); got != step.want {
			t.Fatalf("step %d: %d probes, want %d", i, got, step.want)
		}
	}
}

// A method a route does not have is 405 method_not_allowed with Allow.
func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		method, path string
		allow        []string
	}{
		{"GET", "/v1/hooks/post-login", []string{"POST"}},
		{"PUT", "/v1/registrations/x", []string{"GET", "DELETE"}},
		{"DELETE", "/v1/registrations", []string{"GET", "POST"}},
		{"POST", "/healthz", []string{"GET"}},
		{"PATCH", "/v1/tokens", []string{"GET", "POST"}},
		{"GET", "/v1/erasures", []string{"POST"}},
	} {
		code, raw, h := e.doFull(c.method, c.path, adminToken)
		allow := strings.Split(h.Get("Allow"), ", ")
		slices.Sort(allow)
		slices.Sort(c.allow)
		if code != 405 || decodeErr(t, raw).Error.Code != "method_not_allowed" || !slices.Equal(allow, c.allow) {
			t.Errorf("%s %s: %d Allow=%q %s", c.method, c.path, code, h.Get("Allow"), raw)
		}
	}
}
