package auth0fake

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Request is one call the fake received.
type Request struct {
	Method string
	// Path is the unescaped path, e.g. /api/v2/users/auth0|1/roles.
	Path  string
	Query url.Values
	Body  []byte
	At    time.Time
}

// Requests returns every call received so far, the token endpoint included.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many calls had this method and a path starting with
// prefix ("" for any method).
func (s *Server) Count(method, prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// ResetRequests forgets the calls received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

const maxBody = 1 << 20

// logged records the call and applies faults before routing it.
func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			apiError(w, http.StatusRequestEntityTooLarge, "Payload Too Large", "request body too large")
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, At: time.Now()})
		f := s.takeFault(r.Method, r.URL.Path)
		s.mu.Unlock()
		if f != nil && s.applyFault(w, r, f) {
			return
		}
		next.ServeHTTP(w, r)
	})
}
