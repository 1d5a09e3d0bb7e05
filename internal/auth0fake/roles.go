package auth0fake

import (
	"net/http"
	"slices"
	"strings"
)

// Role is an Auth0 role.
type Role struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// AddRole defines a role; an empty id gets a generated rol_ ID, returned.
func (s *Server) AddRole(id, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = "rol_" + strings.ReplaceAll(s.nextID("R"), "_", "")
	}
	s.roles = append(s.roles, Role{ID: id, Name: name})
	return id
}

// RenameRole renames a role, as an admin may in the dashboard; its ID and
// assignments stay.
func (s *Server) RenameRole(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.roles {
		if s.roles[i].ID == id {
			s.roles[i].Name = name
		}
	}
}

// UserRoles returns the IDs of the roles assigned to a user, in order.
func (s *Server) UserRoles(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.userRoles[userID])
}

func (s *Server) roleByID(id string) (Role, bool) {
	for _, r := range s.roles {
		if r.ID == id {
			return r, true
		}
	}
	return Role{}, false
}

// listRoles: name_filter matches substrings, case-insensitively, as Auth0's does.
func (s *Server) listRoles(w http.ResponseWriter, r *http.Request) {
	filter := strings.ToLower(r.URL.Query().Get("name_filter"))
	page, perPage := pageParams(r)
	s.mu.Lock()
	var match []Role
	for _, role := range s.roles {
		if strings.Contains(strings.ToLower(role.Name), filter) {
			match = append(match, role)
		}
	}
	s.mu.Unlock()
	out := paginate(match, page, perPage)
	if out == nil {
		out = []Role{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out, "start": page * perPage, "limit": perPage, "total": len(match)})
}

func (s *Server) rolesList(ids []string, r *http.Request) map[string]any {
	page, perPage := pageParams(r)
	roles := []Role{}
	for _, id := range ids {
		if role, ok := s.roleByID(id); ok {
			roles = append(roles, role)
		}
	}
	out := paginate(roles, page, perPage)
	if out == nil {
		out = []Role{}
	}
	return map[string]any{"roles": out, "start": page * perPage, "limit": perPage, "total": len(roles)}
}

type rolesBody struct {
	Roles []string `json:"roles"`
}

// checkRoles answers 404 when a role does not exist, as Auth0 does.
func (s *Server) checkRoles(w http.ResponseWriter, ids []string) bool {
	if len(ids) == 0 {
		apiError(w, http.StatusBadRequest, "Bad Request", "Payload validation error: 'Array is too short (0), minimum 1' on property roles.")
		return false
	}
	for _, id := range ids {
		if _, ok := s.roleByID(id); !ok {
			apiError(w, http.StatusNotFound, "Not Found", "One or more of the roles do not exist")
			return false
		}
	}
	return true
}

// addRoles adds the roles a list does not have yet, as Auth0's assignment
// does (assigning an assigned role is not an error).
func addRoles(list, roles []string) []string {
	for _, role := range roles {
		if !slices.Contains(list, role) {
			list = append(list, role)
		}
	}
	return list
}

// removeRoles drops the roles from a list.
func removeRoles(list, roles []string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return slices.Contains(roles, x) })
}

func (s *Server) getUserRoles(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.user(w, r); ok {
		writeJSON(w, http.StatusOK, s.rolesList(s.userRoles[id], r))
	}
}

func (s *Server) assignUserRoles(w http.ResponseWriter, r *http.Request) {
	var body rolesBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.user(w, r)
	if !ok || !s.checkRoles(w, body.Roles) {
		return
	}
	s.userRoles[id] = addRoles(s.userRoles[id], body.Roles)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeUserRoles(w http.ResponseWriter, r *http.Request) {
	var body rolesBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.user(w, r); ok {
		s.userRoles[id] = removeRoles(s.userRoles[id], body.Roles)
		w.WriteHeader(http.StatusNoContent)
	}
}
