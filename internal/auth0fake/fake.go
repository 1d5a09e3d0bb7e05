// Package auth0fake is a local stand-in for Auth0's Management API, for
// tests: an httptest server on 127.0.0.1 that answers the calls prereg
// makes with the paths, methods, bodies and status codes of the real API
// (shaped on go-auth0's recordings of it), keeps its state in memory, and
// can be told to rate-limit, fail, slow down or hang.
//
// Point an auth0sync.Client at it with Domain: srv.URL(), ClientID:
// srv.ClientID, ClientSecret: srv.ClientSecret. The fake is strict where
// Auth0 is: users, organizations and roles must exist (AddUser,
// AddOrganization, AddRole) and every API call needs a token from
// /oauth/token.
package auth0fake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is the fake Management API.
type Server struct {
	// ClientID and ClientSecret are the credentials /oauth/token accepts.
	ClientID     string
	ClientSecret string
	// BuildReads is how many reads of a changed Action answer "pending" or
	// "building" before it reads "built"; default 1, like the recordings.
	BuildReads int

	srv       *httptest.Server
	quit      chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	audience      string
	tokens        map[string]bool
	tokensIssued  int
	roles         []Role
	users         map[string]User
	userOrder     []string
	orgs          map[string]bool
	userRoles     map[string][]string
	orgMembers    map[string][]string
	memberRoles   map[string]map[string][]string
	actions       map[string]*Action
	actionOrder   []string
	bindings      map[string][]Binding
	verifications []string
	requests      []Request
	faults        []*fault
	seq           int
}

// New starts a fake on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		ClientID:     "fake-client-" + randHex(6),
		ClientSecret: "fake-secret-" + randHex(16),
		BuildReads:   1,
		quit:         make(chan struct{}),
		tokens:       map[string]bool{},
		users:        map[string]User{},
		orgs:         map[string]bool{},
		userRoles:    map[string][]string{},
		orgMembers:   map[string][]string{},
		memberRoles:  map[string]map[string][]string{},
		actions:      map[string]*Action{},
		bindings:     map[string][]Binding{},
	}
	s.srv = httptest.NewServer(s.routes())
	t.Cleanup(s.Close)
	return s
}

// Close stops the server; hanging calls are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
}

// URL is the server's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// Domain is the host:port part of URL.
func (s *Server) Domain() string { return strings.TrimPrefix(s.srv.URL, "http://") }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%010d%s", prefix, s.seq, randHex(3))
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authed(h)) }
	api("GET /api/v2/roles", s.listRoles)
	api("GET /api/v2/users/{id}/roles", s.getUserRoles)
	api("POST /api/v2/users/{id}/roles", s.assignUserRoles)
	api("DELETE /api/v2/users/{id}/roles", s.removeUserRoles)
	api("GET /api/v2/users/{id}", s.readUser)
	api("PATCH /api/v2/users/{id}", s.updateUser)
	api("GET /api/v2/users-by-email", s.usersByEmail)
	api("POST /api/v2/organizations/{org}/members", s.addMembers)
	api("GET /api/v2/organizations/{org}/members/{uid}/roles", s.getMemberRoles)
	api("POST /api/v2/organizations/{org}/members/{uid}/roles", s.assignMemberRoles)
	api("DELETE /api/v2/organizations/{org}/members/{uid}/roles", s.removeMemberRoles)
	api("POST /api/v2/jobs/verification-email", s.verificationEmail)
	api("GET /api/v2/actions/actions", s.listActions)
	api("POST /api/v2/actions/actions", s.createAction)
	api("GET /api/v2/actions/actions/{id}", s.readAction)
	api("PATCH /api/v2/actions/actions/{id}", s.updateAction)
	api("DELETE /api/v2/actions/actions/{id}", s.deleteAction)
	api("POST /api/v2/actions/actions/{id}/deploy", s.deployAction)
	api("GET /api/v2/actions/actions/{id}/versions", s.listVersions)
	api("GET /api/v2/actions/triggers/{trigger}/bindings", s.getBindings)
	api("PATCH /api/v2/actions/triggers/{trigger}/bindings", s.patchBindings)
	return s.logged(mux)
}

func apiError(w http.ResponseWriter, status int, errText, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "error": errText, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "Bad Request", "Payload validation error: "+err.Error())
		return false
	}
	return true
}

func pageParams(r *http.Request) (page, perPage int) {
	page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	perPage, _ = strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 || perPage > 100 {
		perPage = 50
	}
	return max(page, 0), perPage
}

func paginate[T any](items []T, page, perPage int) []T {
	start := min(page*perPage, len(items))
	end := min(start+perPage, len(items))
	return slices.Clone(items[start:end])
}
