package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSignInFailuresLimited: wrong tokens count against the auth-failure
// limit shared with the API; once it is used up, even the right token is
// refused from that address, and so is the API.
func TestSignInFailuresLimited(t *testing.T) {
	e := newEnv(t)
	post := func(token string) int {
		t.Helper()
		resp, err := http.Post(e.srv.URL+"/console/signin", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 60 {
		if st := post("prt_wrong"); st != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d: %d", i+1, st)
		}
	}
	if st := post(adminToken); st != http.StatusTooManyRequests {
		t.Fatalf("after 60 failures the right token answered %d", st)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/stats", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the API after 60 failed sign-ins: %d", resp.StatusCode)
	}
}
