package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
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
		deadline := time.Now().Add(5 * time.Second)
		for open.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := open.Load(); n != 0 {
			t.Errorf("%+v: %d of %d connections still open after the attack", l, n, opened.Load())
		}
	}
}
