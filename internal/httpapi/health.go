package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/prereg/prereg/internal/prereg"
)

// Health is the store's readiness.
type Health interface {
	// Ping commits a probe write: a store that cannot write is not ready.
	Ping(ctx context.Context) error
}

func (s *Server) readyz(c *gin.Context) {
	if err := s.ready.check(c.Request.Context(), s.stores.Health, s.cfg.Now); err != nil {
		s.fail(c, prereg.Wrap(prereg.Unavailable, err, "the store is not writable"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// readiness keeps the last store probe for readyEvery: each probe commits
// a write, and probes are cheap to ask for, so however often /readyz is
// called the store sees at most one probe a second. Callers that arrive
// during a probe wait for it and share its result.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

const readyEvery = time.Second

func (r *readiness) check(ctx context.Context, store Health, now func() time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := now(); !r.at.IsZero() && t.Sub(r.at) < readyEvery && !t.Before(r.at) {
		return r.err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	r.err = store.Ping(pctx)
	r.at = now()
	return r.err
}
