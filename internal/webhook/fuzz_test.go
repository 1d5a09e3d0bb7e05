package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/webhook"
)

// FuzzVerify feeds arbitrary headers and bodies to Verify. It must never
// panic, must answer every refusal with a coded *prereg.Error, and may accept
// only what an independent implementation of the rules accepts. Half of the
// inputs are re-signed with the real key so that the fuzzer also explores
// the paths after the signature check.
func FuzzVerify(f *testing.F) {
	f.Add(specID, strconv.Itoa(specTimestamp), specSignature, []byte(specPayload), false)
	f.Add(specID, strconv.Itoa(specTimestamp), "v1a,xyz v2,abc "+specSignature, []byte(specPayload), false)
	f.Add("msg_1", "1614265330", "v1,AAAA v1,", []byte("{}"), true)
	f.Add("msg.1", "+1614265330", ",", []byte(nil), true)
	f.Add("", "", "", []byte(nil), false)
	f.Add("a", "0000001614265330", "v1,"+strings.Repeat("A", 44), []byte("x"), true)
	key, _ := webhook.ParseSecret(specSecret)
	now := time.Unix(specTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, resign bool) {
		if resign {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(id + "." + ts + "."))
			m.Write(body)
			sig = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)) + " " + sig
		}
		v := &webhook.Verifier{Secrets: [][]byte{key}, Now: func() time.Time { return now }}
		err := v.Verify(id, ts, sig, body)
		if err != nil {
			var pe *prereg.Error
			if !errors.As(err, &pe) || (pe.Code != prereg.Unauthorized && pe.Code != prereg.Unavailable) {
				t.Fatalf("Verify returned %T %v, want an unauthorized *prereg.Error", err, err)
			}
			return
		}
		// Accepted: check every rule independently.
		if id == "" || len(id) > webhook.MaxIDLen || strings.ContainsAny(id, ". ") {
			t.Fatalf("accepted id %q", id)
		}
		n, perr := strconv.ParseUint(ts, 10, 63)
		if perr != nil || strings.HasPrefix(ts, "+") || n+300 < uint64(now.Unix()) || n > uint64(now.Unix())+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		if !strings.Contains(" "+strings.Join(strings.Fields(sig), " ")+" ", " "+want+" ") {
			t.Fatalf("accepted signature header %q without the right v1 entry", sig)
		}
		if err := v.Verify(id, ts, sig, body); !errors.Is(err, webhook.ErrReplay) {
			t.Fatalf("second Verify = %v, want ErrReplay", err)
		}
	})
}

// FuzzParseSecret: never panics, and what it accepts round-trips.
func FuzzParseSecret(f *testing.F) {
	f.Add(specSecret)
	f.Add("whsec_")
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==")
	f.Add("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			if prereg.ErrorCode(err) != prereg.Invalid {
				t.Fatalf("code %q", prereg.ErrorCode(err))
			}
			return
		}
		if len(k) < webhook.MinKeyLen || len(k) > webhook.MaxKeyLen {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
		k2, err := webhook.ParseSecret(webhook.FormatSecret(k))
		if err != nil || string(k2) != string(k) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}
