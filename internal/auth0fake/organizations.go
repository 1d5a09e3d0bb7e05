package auth0fake

import (
	"net/http"
	"slices"
)

// AddOrganization defines an organization.
func (s *Server) AddOrganization(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgs[id] = true
}

// Members returns an organization's members.
func (s *Server) Members(orgID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.orgMembers[orgID])
}

// MemberRoles returns the role IDs of a member of an organization.
func (s *Server) MemberRoles(orgID, userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.memberRoles[orgID][userID])
}

func (s *Server) addMembers(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Members []string `json:"members"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org := r.PathValue("org")
	if !s.orgs[org] {
		apiError(w, http.StatusNotFound, "Not Found", "No organization found by that id or name")
		return
	}
	for _, m := range body.Members {
		if _, ok := s.users[m]; !ok {
			apiError(w, http.StatusBadRequest, "Bad Request", "One or more users do not exist.")
			return
		}
	}
	for _, m := range body.Members {
		if !slices.Contains(s.orgMembers[org], m) {
			s.orgMembers[org] = append(s.orgMembers[org], m)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// member checks the organization and the membership, answering 404.
func (s *Server) member(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	org, uid := r.PathValue("org"), r.PathValue("uid")
	if !s.orgs[org] {
		apiError(w, http.StatusNotFound, "Not Found", "No organization found by that id or name")
		return "", "", false
	}
	if !slices.Contains(s.orgMembers[org], uid) {
		apiError(w, http.StatusNotFound, "Not Found", "Member not found")
		return "", "", false
	}
	return org, uid, true
}

func (s *Server) getMemberRoles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	org, uid, ok := s.member(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.rolesList(s.memberRoles[org][uid], r))
}

func (s *Server) assignMemberRoles(w http.ResponseWriter, r *http.Request) {
	var body rolesBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, uid, ok := s.member(w, r)
	if !ok || !s.checkRoles(w, body.Roles) {
		return
	}
	if s.memberRoles[org] == nil {
		s.memberRoles[org] = map[string][]string{}
	}
	s.memberRoles[org][uid] = addRoles(s.memberRoles[org][uid], body.Roles)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeMemberRoles(w http.ResponseWriter, r *http.Request) {
	var body rolesBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, uid, ok := s.member(w, r)
	if !ok {
		return
	}
	if m := s.memberRoles[org]; m != nil {
		m[uid] = removeRoles(m[uid], body.Roles)
	}
	w.WriteHeader(http.StatusNoContent)
}
