package auth0fake

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
)

// SetCanonicalDomain makes the fake a tenant whose canonical domain is host
// and whose URL is a custom domain: like Auth0, the token endpoint then
// grants Management API tokens only for https://<host>/api/v2/.
func (s *Server) SetCanonicalDomain(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audience = "https://" + host + "/api/v2/"
}

// Audience is the only audience the token endpoint accepts: the fake's own
// URL + /api/v2/ unless SetCanonicalDomain changed it.
func (s *Server) Audience() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audience != "" {
		return s.audience
	}
	return s.srv.URL + "/api/v2/"
}

// TokensIssued counts the access tokens handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		valid := ok && s.tokens[tok]
		s.mu.Unlock()
		if !valid {
			apiError(w, http.StatusUnauthorized, "Unauthorized", "Invalid token")
			return
		}
		h(w, r)
	})
}

// token implements the client-credentials grant, with the secret either
// in the form (client_secret_post) or in Basic authentication.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	var id, secret, grant, audience string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			GrantType    string `json:"grant_type"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
			Audience     string `json:"audience"`
		}
		if !decode(w, r, &body) {
			return
		}
		id, secret, grant, audience = body.ClientID, body.ClientSecret, body.GrantType, body.Audience
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "bad form"})
			return
		}
		id, secret, grant, audience = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"), r.PostForm.Get("grant_type"), r.PostForm.Get("audience")
		if u, p, ok := r.BasicAuth(); ok {
			id, _ = url.QueryUnescape(u)
			secret, _ = url.QueryUnescape(p)
		}
	}
	if grant != "client_credentials" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "unauthorized_client", "error_description": "Grant type not allowed"})
		return
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(s.ClientID)) != 1 || subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "access_denied", "error_description": "Unauthorized"})
		return
	}
	if audience != s.Audience() {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "access_denied", "error_description": "Service not found: " + audience})
		return
	}
	tok := "fake-token-" + randHex(16)
	s.mu.Lock()
	s.tokens[tok] = true
	s.tokensIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 86400, "scope": "read:roles create:role_members"})
}
