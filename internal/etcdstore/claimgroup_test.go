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

// Claims of logins arriving together share requests, and each is still
// its own: every user gets its own registration's roles once, the record
// names that user, and a second login finds it already granted.
func TestLoginClaimsAreGrouped(t *testing.T) {
	s := openReplicas(t, storetest.Options{SyncEnabled: true}, 1)[0]
	ctx := context.Background()
	const n = 200
	ids := make([]string, n)
	for i := range n {
		ids[i] = storetest.Put(t, s, prereg.Input{Email: fmt.Sprintf("c%d@x.io", i), Roles: []string{fmt.Sprintf("r%d", i)}}).ID
	}
	sent0, shared0 := etcdstore.ClaimGroupsSent(s)
	for round, want := range []prereg.Outcome{prereg.OutcomeGranted, prereg.OutcomeAlreadyGranted} {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				res, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("c%d@x.io", i), EmailVerified: true}, true)
				if err != nil || res.Outcome != want || len(res.Roles) != 1 || res.Roles[0] != fmt.Sprintf("r%d", i) {
					t.Errorf("round %d, login %d: %s %v %v", round, i, res.Outcome, res.Roles, err)
				}
				if round == 0 && len(res.Jobs) != 1 {
					t.Errorf("login %d queued %d sync jobs, want 1", i, len(res.Jobs))
				}
			})
		}
		close(start)
		wg.Wait()
	}
	for i, id := range ids {
		r, err := s.Get(ctx, id)
		if err != nil || r.Status != prereg.StatusGranted || r.GrantedTo != fmt.Sprintf("u%d", i) {
			t.Fatalf("registration %d: %+v %v", i, r, err)
		}
	}
	sent, shared := etcdstore.ClaimGroupsSent(s)
	t.Logf("%d claims: %d requests, %d shared", n, sent-sent0, shared-shared0)
	if sent-sent0 >= n || shared == shared0 {
		t.Errorf("%d claims at once sent %d requests, %d of them shared: none was grouped", n, sent-sent0, shared-shared0)
	}
	if errs := s.Check(); len(errs) > 0 {
		t.Fatalf("check after grouped claims: %v", errs)
	}
}

// Logins racing for the same addresses, and one user logging in with
// several addresses at once, through two replicas: each registration gets
// exactly one owner, each user's answer holds every grant it made, and
// the claims that lost their race read again and are told so.
func TestGroupedClaimsRacing(t *testing.T) {
	rs := openReplicas(t, storetest.Options{}, 2)
	ctx := context.Background()
	const addrs, users = 12, 6
	regs := make([]string, addrs)
	for a := range addrs {
		// Two organizations' registrations under each address: a claim
		// writes several records.
		regs[a] = storetest.Put(t, rs[0], prereg.Input{Email: fmt.Sprintf("a%d@x.io", a), Roles: []string{"r"}}).ID
		storetest.Put(t, rs[1], prereg.Input{Email: fmt.Sprintf("a%d@x.io", a), OrganizationID: "org_b", Roles: []string{"b"}})
	}
	type login struct {
		user string
		addr int
		res  prereg.LoginResult
	}
	var logins []*login
	for a := range addrs {
		for u := range users {
			// User u%3 logs in with several addresses at once.
			logins = append(logins, &login{user: fmt.Sprintf("u%d-%d", u%3, a%2), addr: a})
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range logins {
		wg.Go(func() {
			<-start
			res, err := rs[i%2].Login(ctx, prereg.Login{UserID: l.user, Email: fmt.Sprintf("a%d@x.io", l.addr), EmailVerified: true}, true)
			if err != nil {
				t.Error(err)
			}
			l.res = res
		})
	}
	close(start)
	wg.Wait()
	for a := range addrs {
		r, err := rs[1].Get(ctx, regs[a])
		if err != nil || r.Status != prereg.StatusGranted {
			t.Fatalf("address %d: %+v %v", a, r, err)
		}
		granted := 0
		for _, l := range logins {
			if l.addr != a {
				continue
			}
			switch {
			case l.res.Outcome == prereg.OutcomeGranted && l.user == r.GrantedTo:
				granted++
			case l.res.Outcome == prereg.OutcomeGranted:
				t.Errorf("address %d: %s told granted, the record names %s", a, l.user, r.GrantedTo)
			}
			// The owner's every answer holds both of the address's
			// registrations (and any other address it claimed before).
			if l.user == r.GrantedTo && len(l.res.Grants) < 2 {
				t.Errorf("address %d: owner %s answered %+v", a, l.user, l.res.Grants)
			}
		}
		if granted != 1 {
			t.Errorf("address %d: %d logins told granted", a, granted)
		}
	}
	for _, s := range rs {
		if errs := s.Check(); len(errs) > 0 {
			t.Fatalf("check: %v", errs)
		}
	}
}
