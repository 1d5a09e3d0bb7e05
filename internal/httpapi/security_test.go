package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/limits"
	"github.com/prereg/prereg/internal/netallow"
	"github.com/prereg/prereg/internal/webhook"
)

func TestSignedHook(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	old := []byte("fedcba9876543210fedcba9876543210")
	verifier := &webhook.Verifier{Secrets: [][]byte{key, old}}
	for _, required := range []bool{true, false} {
		t.Run(fmt.Sprintf("required=%v", required), func(t *testing.T) {
			e := newEnv(t, func(c *httpapi.Config) { c.Signatures = verifier; c.RequireSignature = required })
			body := []byte(`{"user_id":"auth0|1","email":"a@example.com","email_verified":true}`)
			now := time.Now()
			sign := func(id string, ts time.Time, k []byte, b []byte) map[string]string {
				return map[string]string{"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10), "webhook-signature": webhook.Sign(k, id, ts, b)}
			}
			tests := []struct {
				name    string
				headers map[string]string
				status  int
			}{
				{"valid", sign("msg_1"+fmt.Sprint(required), now, key, body), 200},
				{"rotated secret", sign("msg_2"+fmt.Sprint(required), now, old, body), 200},
				{"replayed id", sign("msg_1"+fmt.Sprint(required), now, key, body), 401},
				{"stale", sign("msg_3", now.Add(-6*time.Minute), key, body), 401},
				{"future", sign("msg_4", now.Add(6*time.Minute), key, body), 401},
				{"other body", sign("msg_5", now, key, []byte(`{}`)), 401},
				{"unsigned", nil, map[bool]int{true: 401, false: 200}[required]},
			}
			for _, tt := range tests {
				code, raw := e.doHeaders("POST", "/v1/hooks/post-login", hookSecret, body, tt.headers)
				if code != tt.status {
					t.Fatalf("%s: %d, want %d: %s", tt.name, code, tt.status, raw)
				}
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("admin calls per token", func(t *testing.T) {
		e := newEnv(t, func(c *httpapi.Config) { c.AdminLimiter = limits.New(1, 2, 0) })
		codes := []int{}
		for range 3 {
			code, _ := e.do("GET", "/v1/stats", adminToken, nil)
			codes = append(codes, code)
		}
		if fmt.Sprint(codes) != "[200 200 429]" {
			t.Fatalf("codes %v", codes)
		}
		// Another token has its own budget.
		if code, _ := e.do("GET", "/v1/stats", e.tokens["tenant_ro"], nil); code != 200 {
			t.Fatalf("other token: %d", code)
		}
		code, raw, hdr := e.doFull("GET", "/v1/stats", adminToken)
		if code != 429 || hdr.Get("Retry-After") == "" || decodeErr(t, raw).Error.Code != "rate_limited" {
			t.Fatalf("429 shape: %d %s %v", code, raw, hdr)
		}
	})
	t.Run("failed authentications per address", func(t *testing.T) {
		e := newEnv(t, func(c *httpapi.Config) { c.FailureLimiter = limits.PerMinute(3) })
		for i := range 3 {
			if code, _ := e.do("GET", "/v1/stats", "wrong", nil); code != 401 {
				t.Fatalf("failure %d: %d", i, code)
			}
		}
		// Over the budget the address is refused on the admin API even with
		// a good token, and with a bad hook secret on the hook...
		if code, _ := e.do("GET", "/v1/stats", adminToken, nil); code != 429 {
			t.Fatalf("blocked address, admin: %d", code)
		}
		if code, _ := e.do("POST", "/v1/hooks/post-login", "wrong", map[string]any{"user_id": "u"}); code != 429 {
			t.Fatalf("blocked address, bad hook secret: %d", code)
		}
		// ...but a valid hook secret still logs people in: Auth0's shared
		// outbound addresses must not be locked out by someone else.
		if code, _ := e.do("POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u"}); code != 200 {
			t.Fatalf("blocked address, good hook secret: %d", code)
		}
	})
	t.Run("authenticated hook calls are never limited per address", func(t *testing.T) {
		e := newEnv(t, func(c *httpapi.Config) { c.FailureLimiter = limits.PerMinute(1); c.AdminLimiter = limits.New(1, 1, 0) })
		for i := range 50 {
			if code, raw := e.do("POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u"}); code != 200 {
				t.Fatalf("hook call %d: %d %s", i, code, raw)
			}
		}
	})
}

func TestHookInFlightCapAnswers503(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.HookInFlight = limits.NewInFlight(1) })
	// Hold the only slot with a request whose body never finishes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/hooks/post-login HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", hookSecret)
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	code, raw := e.do("POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u"})
	if code != 503 || decodeErr(t, raw).Error.Code != "unavailable" || time.Since(start) > time.Second {
		t.Fatalf("over the cap: %d %s after %s", code, raw, time.Since(start))
	}
	conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		code, _ := e.do("POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u"})
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not released: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHookAllowList(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) {
		c.HookAllow = netallow.New(netip.MustParsePrefix("192.0.2.1/32"))
	})
	code, raw := e.do("POST", "/v1/hooks/post-login", hookSecret, map[string]any{"user_id": "u"})
	if code != 403 || decodeErr(t, raw).Error.Code != "forbidden" {
		t.Fatalf("loopback not in allow-list: %d %s", code, raw)
	}
	// The admin API is not restricted by the hook allow-list.
	if code, _ := e.do("GET", "/v1/stats", adminToken, nil); code != 200 {
		t.Fatalf("admin: %d", code)
	}
}

func TestSlowHookBodyIsCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the hook read deadline")
	}
	e := newEnv(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/hooks/post-login HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{", hookSecret)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "400") || time.Since(start) > 8*time.Second {
		t.Fatalf("slow body: %q %v after %s", line, err, time.Since(start))
	}
}
