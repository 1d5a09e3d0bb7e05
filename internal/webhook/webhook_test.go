package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/webhook"
)

// The test vector published with the Standard Webhooks reference libraries
// (libraries/go/webhook_test.go, TestWebhookSign).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// clock is a settable time source shared with the Verifier.
type clock struct{ unixNano atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}
func (c *clock) set(t time.Time)     { c.unixNano.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) { c.unixNano.Add(int64(d)) }
func (c *clock) now() time.Time      { return time.Unix(0, c.unixNano.Load()) }
func mustKey(t testing.TB, s string) []byte {
	t.Helper()
	k, err := webhook.ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return k
}

// independentSign computes the signature with nothing from the package under
// test, as the Action does with Node's crypto.
func independentSign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestSpecVector(t *testing.T) {
	key := mustKey(t, specSecret)
	if len(key) != 24 {
		t.Fatalf("spec key decodes to %d bytes, want 24", len(key))
	}
	got := webhook.Sign(key, specID, time.Unix(specTimestamp, 0), []byte(specPayload))
	if got != specSignature {
		t.Fatalf("Sign = %q, want %q", got, specSignature)
	}
	if ind := independentSign(key, specID, strconv.Itoa(specTimestamp), []byte(specPayload)); ind != specSignature {
		t.Fatalf("independent HMAC = %q, want %q", ind, specSignature)
	}
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: func() time.Time { return time.Unix(specTimestamp+10, 0) }}
	if err := v.Verify(specID, strconv.Itoa(specTimestamp), specSignature, []byte(specPayload)); err != nil {
		t.Fatalf("Verify(spec vector) = %v", err)
	}
}

func TestParseSecret(t *testing.T) {
	b := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	raw := func(n int) string { return base64.RawStdEncoding.EncodeToString(make([]byte, n)) }
	tests := []struct {
		name    string
		in      string
		wantLen int // 0: error expected
	}{
		{"spec vector", specSecret, 24},
		{"32 bytes", "whsec_" + b(32), 32},
		{"64 bytes", "whsec_" + b(64), 64},
		{"surrounding space", "  whsec_" + b(32) + "\n", 32},
		{"unpadded base64", "whsec_" + raw(32), 32},
		{"no prefix", b(32), 0},
		{"wrong prefix", "whsk_" + b(32), 0},
		{"empty", "", 0},
		{"prefix only", "whsec_", 0},
		{"not base64", "whsec_!!!!not-base64!!!!not-base64!!!!", 0},
		{"23 bytes", "whsec_" + b(23), 0},
		{"65 bytes", "whsec_" + b(65), 0},
		{"huge", "whsec_" + b(1<<16), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := webhook.ParseSecret(tt.in)
			if tt.wantLen == 0 {
				if err == nil {
					t.Fatalf("ParseSecret succeeded, want error")
				}
				if prereg.ErrorCode(err) != prereg.Invalid {
					t.Errorf("code = %q, want %q", prereg.ErrorCode(err), prereg.Invalid)
				}
				if enc := strings.TrimPrefix(strings.TrimSpace(tt.in), "whsec_"); len(enc) > 8 && strings.Contains(err.Error(), enc) {
					t.Errorf("error repeats the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret: %v", err)
			}
			if len(key) != tt.wantLen {
				t.Errorf("len = %d, want %d", len(key), tt.wantLen)
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	a, _ := webhook.GenerateSecret()
	b, _ := webhook.GenerateSecret()
	keys, err := webhook.ParseSecrets(a + ", " + b + ",")
	if err != nil {
		t.Fatalf("ParseSecrets: %v", err)
	}
	if len(keys) != 2 || string(keys[0]) != string(mustKey(t, a)) || string(keys[1]) != string(mustKey(t, b)) {
		t.Fatalf("ParseSecrets returned %d keys, or in the wrong order", len(keys))
	}
	bad := "whsec_c2hvcnQ="
	_, err = webhook.ParseSecrets(a + "," + bad)
	if err == nil || !strings.Contains(err.Error(), "#2") || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("ParseSecrets(bad second) = %v, want an error naming #2 without the value", err)
	}
	if keys, err := webhook.ParseSecrets(""); err != nil || len(keys) != 0 {
		t.Fatalf("ParseSecrets(\"\") = %v, %v; want no keys, no error", keys, err)
	}
}

func TestGenerateSecret(t *testing.T) {
	s1, err := webhook.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := webhook.GenerateSecret()
	if s1 == s2 {
		t.Fatal("two generated secrets are equal")
	}
	if k := mustKey(t, s1); len(k) != webhook.StrongKeyLen || webhook.FormatSecret(k) != s1 {
		t.Fatalf("generated secret does not round-trip at %d bytes", webhook.StrongKeyLen)
	}
}

func TestVerify(t *testing.T) {
	key1 := mustKey(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	key2 := mustKey(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210")))
	other := mustKey(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte("not-a-configured-key-at-all-0000")))
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"user_id":"auth0|1","email":"a@example.com"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := func(k []byte, id, ts string, b []byte) string { return independentSign(k, id, ts, b) }
	good := sig(key1, "msg_1", ts, body)
	bogus := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	tsAt := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }

	tests := []struct {
		name    string
		secrets [][]byte
		id, ts  string
		sig     string
		body    []byte
		want    error
	}{
		{"valid", nil, "msg_1", ts, good, body, nil},
		{"second entry matches", nil, "msg_1", ts, bogus + " " + good, body, nil},
		{"several spaces and tabs", nil, "msg_1", ts, "  " + bogus + " \t " + good + "  ", body, nil},
		{"other versions ignored", nil, "msg_1", ts, "v1a,abc v2," + strings.TrimPrefix(good, "v1,") + " " + good, body, nil},
		{"second secret matches", [][]byte{other, key1}, "msg_1", ts, good, body, nil},
		{"signed with second secret", [][]byte{key1, key2}, "msg_1", ts, sig(key2, "msg_1", ts, body), body, nil},
		{"empty body", nil, "msg_1", ts, sig(key1, "msg_1", ts, nil), nil, nil},
		{"exactly tolerance old", nil, "msg_1", tsAt(-5 * time.Minute), sig(key1, "msg_1", tsAt(-5*time.Minute), body), body, nil},
		{"exactly tolerance ahead", nil, "msg_1", tsAt(5 * time.Minute), sig(key1, "msg_1", tsAt(5*time.Minute), body), body, nil},

		{"stale", nil, "msg_1", tsAt(-5*time.Minute - time.Second), sig(key1, "msg_1", tsAt(-5*time.Minute-time.Second), body), body, webhook.ErrStale},
		{"future", nil, "msg_1", tsAt(5*time.Minute + time.Second), sig(key1, "msg_1", tsAt(5*time.Minute+time.Second), body), body, webhook.ErrFuture},
		{"ancient", nil, "msg_1", "0", sig(key1, "msg_1", "0", body), body, webhook.ErrStale},
		{"wrong secret", [][]byte{other}, "msg_1", ts, good, body, webhook.ErrNoMatch},
		{"tampered body", nil, "msg_1", ts, good, append([]byte(nil), append(body, ' ')...), webhook.ErrNoMatch},
		{"signature for another id", nil, "msg_2", ts, good, body, webhook.ErrNoMatch},
		{"signature for another timestamp", nil, "msg_1", tsAt(time.Second), good, body, webhook.ErrNoMatch},
		{"leading zero changes the signed bytes", nil, "msg_1", "0" + ts, good, body, webhook.ErrNoMatch},
		{"v1 entry not base64", nil, "msg_1", ts, "v1,????????????????????????????????????????????", body, webhook.ErrNoMatch},
		{"v1 entry short", nil, "msg_1", ts, "v1,AAAA", body, webhook.ErrNoMatch},
		{"signature under v2 only", nil, "msg_1", ts, "v2," + strings.TrimPrefix(good, "v1,"), body, webhook.ErrBadSignature},
		{"no comma", nil, "msg_1", ts, strings.TrimPrefix(good, "v1,"), body, webhook.ErrBadSignature},
		{"empty version", nil, "msg_1", ts, "," + strings.TrimPrefix(good, "v1,"), body, webhook.ErrBadSignature},
		{"only spaces", nil, "msg_1", ts, "   ", body, webhook.ErrBadSignature},
		{"too many entries", nil, "msg_1", ts, strings.Repeat("v1,AAAA ", webhook.MaxSignatures) + good, body, webhook.ErrBadSignature},
		{"header too long", nil, "msg_1", ts, good + strings.Repeat(" ", webhook.MaxSignatureHeaderLen), body, webhook.ErrBadSignature},
		{"missing id", nil, "", ts, good, body, webhook.ErrMissingHeaders},
		{"missing timestamp", nil, "msg_1", "", good, body, webhook.ErrMissingHeaders},
		{"missing signature", nil, "msg_1", ts, "", body, webhook.ErrMissingHeaders},
		{"id with dot", nil, "msg.1", ts, sig(key1, "msg.1", ts, body), body, webhook.ErrBadID},
		{"id with space", nil, "msg 1", ts, sig(key1, "msg 1", ts, body), body, webhook.ErrBadID},
		{"id with newline", nil, "msg\n1", ts, good, body, webhook.ErrBadID},
		{"id not ASCII", nil, "msg_é", ts, good, body, webhook.ErrBadID},
		{"id too long", nil, strings.Repeat("a", webhook.MaxIDLen+1), ts, good, body, webhook.ErrBadID},
		{"timestamp with sign", nil, "msg_1", "+" + ts, good, body, webhook.ErrBadTimestamp},
		{"negative timestamp", nil, "msg_1", "-1", good, body, webhook.ErrBadTimestamp},
		{"timestamp with fraction", nil, "msg_1", ts + ".5", good, body, webhook.ErrBadTimestamp},
		{"timestamp in milliseconds overflow", nil, "msg_1", "9999999999999", good, body, webhook.ErrBadTimestamp},
		{"timestamp RFC 3339", nil, "msg_1", now.Format(time.RFC3339), good, body, webhook.ErrBadTimestamp},
		{"no secrets configured", [][]byte{}, "msg_1", ts, good, body, webhook.ErrNoSecrets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets
			if secrets == nil {
				secrets = [][]byte{key1}
			}
			v := &webhook.Verifier{Secrets: secrets, Now: func() time.Time { return now }}
			err := v.Verify(tt.id, tt.ts, tt.sig, tt.body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil {
				return
			}
			if prereg.ErrorCode(err) != prereg.Unauthorized {
				t.Errorf("code = %q, want %q", prereg.ErrorCode(err), prereg.Unauthorized)
			}
			msg := err.Error()
			for _, k := range secrets {
				if strings.Contains(msg, base64.StdEncoding.EncodeToString(k)) {
					t.Errorf("error carries a secret: %s", msg)
				}
			}
			if len(tt.sig) > 8 && strings.Contains(msg, tt.sig) {
				t.Errorf("error carries the signature: %s", msg)
			}
			if v.Remembered() != 0 {
				t.Errorf("a refused request was remembered")
			}
		})
	}
}

func TestVerifyRequestHeaders(t *testing.T) {
	key := mustKey(t, specSecret)
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("Webhook-Timestamp", strconv.Itoa(specTimestamp))
	h.Set("WEBHOOK-SIGNATURE", specSignature)
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: func() time.Time { return time.Unix(specTimestamp, 0) }}
	if err := v.VerifyRequest(h, []byte(specPayload)); err != nil {
		t.Fatalf("VerifyRequest = %v", err)
	}
	if err := v.VerifyRequest(http.Header{}, []byte(specPayload)); !errors.Is(err, webhook.ErrMissingHeaders) {
		t.Fatalf("VerifyRequest(no headers) = %v, want ErrMissingHeaders", err)
	}
}

func TestReplay(t *testing.T) {
	key := mustKey(t, specSecret)
	clk := newClock(time.Unix(1_700_000_000, 0))
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: clk.now}
	body := []byte(`{}`)
	send := func(id string) error {
		ts := strconv.FormatInt(clk.now().Unix(), 10)
		return v.Verify(id, ts, webhook.Sign(key, id, clk.now(), body), body)
	}

	// A refused signature does not burn the id.
	if err := v.Verify("msg_a", strconv.FormatInt(clk.now().Unix(), 10), "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)), body); !errors.Is(err, webhook.ErrNoMatch) {
		t.Fatalf("bad signature = %v", err)
	}
	if err := send("msg_a"); err != nil {
		t.Fatalf("first msg_a = %v", err)
	}
	if err := send("msg_a"); !errors.Is(err, webhook.ErrReplay) {
		t.Fatalf("second msg_a = %v, want ErrReplay", err)
	}
	if prereg.ErrorCode(webhook.ErrReplay) != prereg.Unauthorized {
		t.Fatalf("replay code = %q", prereg.ErrorCode(webhook.ErrReplay))
	}
	// Same id, later timestamp, freshly signed: still a replay inside the window.
	clk.add(4 * time.Minute)
	if err := send("msg_a"); !errors.Is(err, webhook.ErrReplay) {
		t.Fatalf("msg_a re-signed 4 min later = %v, want ErrReplay", err)
	}
	if err := send("msg_b"); err != nil {
		t.Fatalf("msg_b = %v", err)
	}
	if n := v.Remembered(); n != 2 {
		t.Fatalf("Remembered = %d, want 2", n)
	}
	// msg_a (signed at t0) leaves the window at t0+5m; msg_b at t0+9m.
	clk.add(time.Minute + 2*time.Second)
	if n := v.Remembered(); n != 1 {
		t.Fatalf("Remembered after msg_a expired = %d, want 1", n)
	}
	clk.add(5 * time.Minute)
	if n := v.Remembered(); n != 0 {
		t.Fatalf("Remembered after all expired = %d, want 0", n)
	}
	// Once expired the id is accepted again with a fresh timestamp: the
	// old request itself is refused as stale by then.
	if err := send("msg_a"); err != nil {
		t.Fatalf("msg_a after the window = %v", err)
	}
}

func TestReplayCacheFull(t *testing.T) {
	key := mustKey(t, specSecret)
	clk := newClock(time.Unix(1_700_000_000, 0))
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: clk.now, MaxIDs: 3, Tolerance: time.Minute}
	body := []byte(`{}`)
	send := func(id string) error {
		return v.Verify(id, strconv.FormatInt(clk.now().Unix(), 10), webhook.Sign(key, id, clk.now(), body), body)
	}
	for i := 0; i < 3; i++ {
		if err := send(fmt.Sprintf("msg_%d", i)); err != nil {
			t.Fatalf("msg_%d = %v", i, err)
		}
	}
	err := send("msg_3")
	if !errors.Is(err, webhook.ErrReplayCacheFull) || prereg.ErrorCode(err) != prereg.Unavailable {
		t.Fatalf("4th id with MaxIDs 3 = %v, want ErrReplayCacheFull (unavailable)", err)
	}
	// A replay is still told apart from a full cache.
	if err := send("msg_0"); !errors.Is(err, webhook.ErrReplay) {
		t.Fatalf("replay while full = %v, want ErrReplay", err)
	}
	clk.add(time.Minute + time.Second)
	if err := send("msg_3"); err != nil {
		t.Fatalf("after expiry = %v", err)
	}
}

func TestReplayConcurrent(t *testing.T) {
	key := mustKey(t, specSecret)
	now := time.Unix(1_700_000_000, 0)
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: func() time.Time { return now }}
	body := []byte(`{"user_id":"x"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := webhook.Sign(key, "msg_race", now, body)
	var ok, replay atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := v.Verify("msg_race", ts, sig, body); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, webhook.ErrReplay):
				replay.Add(1)
			default:
				t.Errorf("Verify = %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replay.Load() != 31 {
		t.Fatalf("accepted %d, replays %d; want 1 and 31", ok.Load(), replay.Load())
	}
}

func TestDefaultTolerance(t *testing.T) {
	key := mustKey(t, specSecret)
	now := time.Unix(1_700_000_000, 0)
	v := &webhook.Verifier{Secrets: [][]byte{key}, Now: func() time.Time { return now }}
	for _, tc := range []struct {
		off  time.Duration
		want error
	}{{-webhook.DefaultTolerance, nil}, {-webhook.DefaultTolerance - time.Second, webhook.ErrStale}, {webhook.DefaultTolerance + time.Second, webhook.ErrFuture}} {
		at := now.Add(tc.off)
		id := fmt.Sprintf("msg_%d", int(tc.off.Seconds()))
		err := v.Verify(id, strconv.FormatInt(at.Unix(), 10), webhook.Sign(key, id, at, nil), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("offset %v: %v, want %v", tc.off, err, tc.want)
		}
	}
}
