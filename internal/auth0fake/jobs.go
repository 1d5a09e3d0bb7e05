package auth0fake

import (
	"net/http"
	"slices"
	"time"
)

// VerificationEmails returns the user IDs a verification email was sent to.
func (s *Server) VerificationEmails() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.verifications)
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
