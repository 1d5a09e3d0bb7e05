package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prereg/prereg/internal/prereg"
)

// Errors from etcd and gRPC get the code the API maps to its status: a
// cluster that cannot answer now is Unavailable (503, Retry-After).
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want prereg.Code
	}{
		{"no leader", rpctypes.ErrNoLeader, prereg.Unavailable},
		{"no leader as gRPC status", rpctypes.ErrGRPCNoLeader, prereg.Unavailable},
		{"timed out", rpctypes.ErrTimeout, prereg.Unavailable},
		{"timed out by leader failure", rpctypes.ErrTimeoutDueToLeaderFail, prereg.Unavailable},
		{"too many requests", rpctypes.ErrTooManyRequests, prereg.Unavailable},
		{"unreachable", status.Error(codes.Unavailable, "connection refused"), prereg.Unavailable},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), prereg.Unavailable},
		{"cancelled", context.Canceled, prereg.Unavailable},
		{"quota", rpctypes.ErrNoSpace, prereg.Unavailable},
		{"compacted", rpctypes.ErrCompacted, prereg.Unavailable},
		{"too many operations", rpctypes.ErrTooManyOps, prereg.Internal},
		{"ours", prereg.Errorf(prereg.Conflict, "taken"), prereg.Conflict},
		{"anything else", errors.New("boom"), prereg.Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := prereg.ErrorCode(translate(tc.err)); got != tc.want {
				t.Fatalf("%v: %s, want %s", tc.err, got, tc.want)
			}
		})
	}
	if translate(nil) != nil {
		t.Fatal("nil is not an error")
	}
}
