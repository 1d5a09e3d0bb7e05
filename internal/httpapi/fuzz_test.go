package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

const fuzzHookSecret = "fuzz-hook-secret-0123456789-0123456789-abc"

// contractCodes maps each CONTRACT §5 error code to its status.
var contractCodes = map[string]int{
	"invalid_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
	"conflict": 409, "payload_too_large": 413, "unsupported_media_type": 415,
	"rate_limited": 429, "internal": 500, "unavailable": 503,
}

// FuzzHookBody posts arbitrary bytes, with a valid hook secret, to the real
// router on a real store holding a few registrations. Whatever the body,
// the answer is never a 5xx: it is either 200 with a hook answer of the
// contract's shape (a known outcome, roles and grants always arrays) or an
// error in the contract's shape whose code matches the status.
func FuzzHookBody(f *testing.F) {
	store, err := boltstore.Open(filepath.Join(f.TempDir(), "prereg.db"), boltstore.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if errs := store.Check(); len(errs) > 0 {
			f.Errorf("Tx.Check: %v", errs)
		}
		store.Close()
	})
	for _, in := range []prereg.Input{
		{Email: "Ana.Silva@Example.com", Roles: []string{"billing-admin"}},
		{Email: "ana.silva@example.com", OrganizationID: "org_dr3b5S9l3sReLayv", Roles: []string{"rol_lEh5V8omwZrnZd9o"}},
		{Email: "pinned@example.com", Connection: "corp-saml", Roles: []string{"viewer"}},
		{Email: "bob@example.com", Roles: []string{"editor", "viewer"}},
	} {
		in = in.Normalize()
		if _, _, err := store.Put(context.Background(), in, "api", "fuzz"); err != nil {
			f.Fatal(err)
		}
	}
	h := httpapi.New(httpapi.Config{HookSecrets: []string{fuzzHookSecret}, TrustedConnections: []string{"corp-saml"}}, storesOf(store)).Handler()
	outcomes := []prereg.Outcome{prereg.OutcomeGranted, prereg.OutcomeAlreadyGranted, prereg.OutcomeEmailUnverified, prereg.OutcomeNoMatch}

	// The files in testdata/fuzz/FuzzHookBody are the seed corpus; a few
	// more are added here so the shapes are visible next to the target.
	f.Add([]byte(`{"user_id":"auth0|63d16bb22b2c1a2ae38bad61","email":"Ana.Silva@Example.com","email_verified":true,"organization_id":"org_dr3b5S9l3sReLayv","connection":"Username-Password-Authentication"}`))
	f.Add([]byte(`{"user_id":"u","email":"bob@example.com","email_verified":"yes"}`))
	f.Add([]byte(`{"user_id":"u","email":null,"unknown":{"a":[1,2,3]}}`))

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/hooks/post-login", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+fuzzHookSecret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("%d for body %q: %s", rec.Code, body, raw)
		}
		if rec.Code == http.StatusOK {
			var res struct {
				Outcome       prereg.Outcome   `json:"outcome"`
				EmailVerified *bool            `json:"email_verified"`
				Roles         []string         `json:"roles"`
				Grants        []map[string]any `json:"grants"`
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("200 with a body that is not JSON: %q", raw)
			}
			if !slices.Contains(outcomes, res.Outcome) || res.EmailVerified == nil || res.Roles == nil || res.Grants == nil {
				t.Fatalf("200 with a body not in the hook answer's shape: %s", raw)
			}
			if res.Outcome != prereg.OutcomeGranted && res.Outcome != prereg.OutcomeAlreadyGranted && (len(res.Roles) > 0 || len(res.Grants) > 0) {
				t.Fatalf("%s answer carries roles or grants: %s", res.Outcome, raw)
			}
			return
		}
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error == nil || e.Error.Message == "" {
			t.Fatalf("%d with a body not in the error shape: %q", rec.Code, raw)
		}
		if contractCodes[e.Error.Code] != rec.Code {
			t.Fatalf("%d answered with code %q", rec.Code, e.Error.Code)
		}
	})
}
