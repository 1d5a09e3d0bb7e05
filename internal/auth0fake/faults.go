package auth0fake

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault makes the fake answer some of the next calls badly.
type Fault struct {
	// Status to answer with (429, 500, 503…); 0 answers normally after
	// Delay (or hangs when Hang is set).
	Status int
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// RateLimitReset, when not zero, is sent as X-RateLimit-Reset (Unix
	// seconds), with X-RateLimit-Limit and X-RateLimit-Remaining: 0.
	RateLimitReset time.Time
	// Delay before answering (or before the normal answer).
	Delay time.Duration
	// Hang blocks the call until the client gives up or the test ends.
	Hang bool
	// Hold, when set, keeps the call until it is closed (or the client
	// gives up), then answers as the rest of the fault says: a call that is
	// in flight for exactly as long as the test needs, however slow the
	// machine.
	Hold <-chan struct{}
	// Path limits the fault to calls whose path starts with it; empty
	// means every /api/v2/ call (not the token endpoint).
	Path string
	// Method, when set, limits the fault to calls with this method.
	Method string
}

type fault struct {
	Fault
	left int // < 0: forever
}

// FailNext applies f to the next n matching calls; n < 0 applies it until
// ClearFaults.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: n})
}

// RateLimitNext answers the next n API calls 429 with X-RateLimit-Reset
// at reset and Retry-After in whole seconds until then (at least 1).
func (s *Server) RateLimitNext(n int, reset time.Time) {
	secs := int(time.Until(reset).Seconds() + 0.999)
	s.FailNext(n, Fault{Status: http.StatusTooManyRequests, RateLimitReset: reset, RetryAfter: strconv.Itoa(max(secs, 1))})
}

// SetDelay makes every API call wait d before answering (0 to stop).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = slices.DeleteFunc(s.faults, func(f *fault) bool { return f.left < 0 && f.Delay > 0 && f.Status == 0 && !f.Hang })
	if d > 0 {
		s.faults = append(s.faults, &fault{Fault: Fault{Delay: d}, left: -1})
	}
}

// ClearFaults removes every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the fault for this call, if any, consuming one use.
func (s *Server) takeFault(method, path string) *Fault {
	for i, f := range s.faults {
		prefix := f.Path
		if prefix == "" {
			prefix = "/api/v2/"
		}
		if !strings.HasPrefix(path, prefix) || (f.Method != "" && f.Method != method) {
			continue
		}
		out := f.Fault
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

// applyFault waits, hangs or answers as f says, and reports whether it
// answered the call (or gave up on it) so that it must not be routed.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return true
	}
	if f.Hold != nil && !s.hold(r, f.Hold) {
		return true
	}
	if f.Delay > 0 && !s.wait(r, f.Delay) {
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if !f.RateLimitReset.IsZero() {
		w.Header().Set("X-RateLimit-Limit", "10")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.RateLimitReset.Unix(), 10))
	}
	apiError(w, f.Status, http.StatusText(f.Status), "Injected failure")
	return true
}

// wait pauses for d, reporting false when the client or the server gave
// up first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return false
	case <-s.quit:
		return false
	case <-t.C:
		return true
	}
}

// hold waits until release is closed, reporting false when the client or
// the server gave up first.
func (s *Server) hold(r *http.Request, release <-chan struct{}) bool {
	select {
	case <-r.Context().Done():
		return false
	case <-s.quit:
		return false
	case <-release:
		return true
	}
}
