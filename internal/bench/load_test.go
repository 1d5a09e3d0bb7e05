package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/testio"
)

// An attack leaves no connection open in its target: every attack makes
// its own client, and idle connections left behind would sit in the
// target (up to its idle timeout) and in the memory measured of it.
func TestAttackClosesItsConnections(t *testing.T) {
	var open, opened atomic.Int64
	srv := httptest.NewUnstartedServer(BareHandler())
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			open.Add(1)
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	for _, l := range []Load{
		{Concurrency: 8, Duration: 200 * time.Millisecond, MaxRequests: 500},
		{Rate: 500, Duration: 200 * time.Millisecond, MaxRequests: 100},
	} {
		res := attack(context.Background(), "no_match", getTargeter([]string{srv.URL + "/v1/hooks/post-login"}, "t"), l, nil)
		if res.Requests == 0 || opened.Load() == 0 {
			t.Fatalf("%+v: %d requests over %d connections", l, res.Requests, opened.Load())
		}
		testio.WaitFor(t, 5*time.Second, fmt.Sprintf("%+v: every connection closed after the attack (%d opened)", l, opened.Load()), func() bool { return open.Load() == 0 })
	}
}
