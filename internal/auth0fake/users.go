package auth0fake

import (
	"encoding/json"
	"net/http"
	"strings"
)

// User is an Auth0 user as far as the fake cares.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	// Connection of the user's identity; default
	// "Username-Password-Authentication".
	Connection string
	// AppMetadata is the user's app_metadata, as JSON would decode it.
	AppMetadata map[string]any
}

// AddUser defines a user.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Connection == "" {
		u.Connection = "Username-Password-Authentication"
	}
	u.AppMetadata = cloneJSON(u.AppMetadata)
	if _, ok := s.users[u.ID]; !ok {
		s.userOrder = append(s.userOrder, u.ID)
	}
	s.users[u.ID] = u
}

// user checks that the path's user exists, answering 404.
func (s *Server) user(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if _, ok := s.users[id]; !ok {
		apiError(w, http.StatusNotFound, "Not Found", "The user does not exist.")
		return "", false
	}
	return id, true
}

func (s *Server) userJSON(u User) map[string]any {
	provider, raw := identityOf(u.ID)
	out := map[string]any{
		"user_id": u.ID, "email": u.Email, "email_verified": u.EmailVerified, "name": u.Email,
		"created_at": "2023-01-25T19:00:31.387Z",
		"identities": []map[string]any{{"connection": u.Connection, "user_id": raw, "provider": provider, "isSocial": provider != "auth0"}},
	}
	if u.AppMetadata != nil {
		out["app_metadata"] = cloneJSON(u.AppMetadata)
	}
	return out
}

// usersByEmail is exact and case-sensitive, like Auth0's.
func (s *Server) usersByEmail(w http.ResponseWriter, r *http.Request) {
	email := r.URL.Query().Get("email")
	if email == "" {
		apiError(w, http.StatusBadRequest, "Bad Request", "Query validation error: 'Missing required property: email'.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, id := range s.userOrder {
		if u := s.users[id]; u.Email == email {
			out = append(out, s.userJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

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
