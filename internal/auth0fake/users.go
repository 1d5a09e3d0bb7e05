package auth0fake

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// SetAppMetadata replaces a user's app_metadata, as a login's Action does.
func (s *Server) SetAppMetadata(userID string, md map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	u.AppMetadata = cloneJSON(md)
	s.users[userID] = u
}

// AppMetadata returns a copy of a user's app_metadata (nil for none).
func (s *Server) AppMetadata(userID string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneJSON(s.users[userID].AppMetadata)
}

// cloneJSON deep-copies a decoded JSON object through JSON.
func cloneJSON(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	return out
}

// identityOf splits a user_id into the provider and the user_id of its
// primary identity, as Auth0 builds them.
func identityOf(userID string) (provider, raw string) {
	if p, rest, ok := strings.Cut(userID, "|"); ok {
		return p, rest
	}
	return "auth0", userID
}

func (s *Server) readUser(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.user(w, r); ok {
		writeJSON(w, http.StatusOK, s.userJSON(s.users[id]))
	}
}

// updateUser applies app_metadata as Auth0 does: merged into what the user
// has at the top level, a property set to null removed. Other fields the
// fake does not keep are refused, so a test notices what it would lose.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if !decode(w, r, &body) {
		return
	}
	var md map[string]any
	for k, v := range body {
		if k != "app_metadata" {
			apiError(w, http.StatusBadRequest, "Bad Request", "the fake does not update "+k)
			return
		}
		if err := json.Unmarshal(v, &md); err != nil {
			apiError(w, http.StatusBadRequest, "Bad Request", "Payload validation error: 'Expected type object' on property app_metadata")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.user(w, r)
	if !ok {
		return
	}
	u := s.users[id]
	if u.AppMetadata == nil && len(md) > 0 {
		u.AppMetadata = map[string]any{}
	}
	for k, v := range md {
		if v == nil {
			delete(u.AppMetadata, k)
		} else {
			u.AppMetadata[k] = v
		}
	}
	s.users[id] = u
	writeJSON(w, http.StatusOK, s.userJSON(u))
}

// verificationEmail needs the identity for any user whose primary identity
// is not a database one (provider "auth0"), and the identity given must be
// the user's, as Auth0 requires.
func (s *Server) verificationEmail(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserID   string `json:"user_id"`
		Identity *struct {
			UserID   string `json:"user_id"`
			Provider string `json:"provider"`
		} `json:"identity"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[body.UserID]; !ok {
		apiError(w, http.StatusNotFound, "Not Found", "User not found")
		return
	}
	provider, raw := identityOf(body.UserID)
	switch {
	case body.Identity == nil && provider != "auth0":
		apiError(w, http.StatusBadRequest, "Bad Request", "identity is required to verify the email of a social, enterprise or passwordless user")
		return
	case body.Identity != nil && (body.Identity.Provider != provider || body.Identity.UserID != raw):
		apiError(w, http.StatusBadRequest, "Bad Request", "the identity does not belong to the user")
		return
	}
	s.verifications = append(s.verifications, body.UserID)
	writeJSON(w, http.StatusCreated, map[string]any{"type": "verification_email", "status": "pending", "created_at": time.Now().UTC().Format(time.RFC3339Nano), "id": s.nextID("job_")})
}
