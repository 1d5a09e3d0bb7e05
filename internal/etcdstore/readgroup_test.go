package etcdstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/storetest"
)

// Logins arriving together share read transactions, and each still gets
// its own answer: its own user's grants and its own address's
// registrations, claimed once.
func TestLoginReadsAreGrouped(t *testing.T) {
	s := openReplicas(t, storetest.Options{}, 1)[0]
	ctx := context.Background()
	const n = 200
	for i := range n {
		storetest.Put(t, s, prereg.Input{Email: fmt.Sprintf("g%d@x.io", i), Roles: []string{fmt.Sprintf("r%d", i)}})
	}
	login := func(i int) prereg.LoginResult {
		res, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("g%d@x.io", i), EmailVerified: true}, true)
		if err != nil {
			t.Error(err)
		}
		return res
	}
	for round, want := range []prereg.Outcome{prereg.OutcomeGranted, prereg.OutcomeAlreadyGranted} {
		before := etcdstore.ReadGroupsSent(s)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				res := login(i)
				if res.Outcome != want || len(res.Roles) != 1 || res.Roles[0] != fmt.Sprintf("r%d", i) {
					t.Errorf("round %d, login %d: %s %v", round, i, res.Outcome, res.Roles)
				}
			})
		}
		close(start)
		wg.Wait()
		// Claims read again after a failed compare, so count reads of
		// the second round only, where nobody claims.
		if sent := etcdstore.ReadGroupsSent(s) - before; round == 1 && sent >= n {
			t.Errorf("%d logins at once sent %d read transactions: none was shared", n, sent)
		}
	}
}

// A login that gives up while its read is queued leaves the others
// answered: the group is sent without it.
func TestGroupReadOutlivesACaller(t *testing.T) {
	s := openReplicas(t, storetest.Options{}, 1)[0]
	storetest.Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			if i%2 == 0 {
				cancel() // gone before its read is answered
			}
			defer cancel()
			res, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: "nobody@x.io", EmailVerified: true}, true)
			if i%2 == 1 && (err != nil || res.Outcome != prereg.OutcomeNoMatch) {
				t.Errorf("login %d: %v %v", i, res.Outcome, err)
			}
		})
	}
	wg.Wait()
	res, err := s.Login(context.Background(), prereg.Login{UserID: "u", Email: "a@x.io", EmailVerified: true}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("a login after them: %v %v", res.Outcome, err)
	}
}
