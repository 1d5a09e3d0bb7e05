//go:build unix

package etcdstore_test

import (
	"context"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
)

// A member that stops answering (SIGSTOP here; a defragmentation does
// the same for seconds) while its connections stay open does not stall
// logins: the store's client still routes a share of the reads to it, and
// those are answered by another member, before the call timeout, with
// the right outcome.
func TestLoginsHedgeAroundAStalledMember(t *testing.T) {
	p := etcdtest.StartProcesses(t, 3)
	ctx := context.Background()
	open := func(o etcdstore.Options) *etcdstore.Store {
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: p.Endpoints(), Prefix: "/hedge/"}, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	writer := open(etcdstore.Options{CallTimeout: testCallTimeout})
	// The default call timeout: a read left waiting on the stalled
	// member would fail as Unavailable.
	s := open(etcdstore.Options{})
	const users = 10
	login := func(i int) prereg.Login {
		return prereg.Login{UserID: fmt.Sprintf("auth0|h%d", i), Email: fmt.Sprintf("h%d@x.io", i), EmailVerified: true}
	}
	for i := range users {
		if _, err := writer.ApplyBatch(ctx, []prereg.Input{prereg.Input{Email: login(i).Email, Roles: []string{"r"}}.Normalize()}, "api", "t", false); err != nil {
			t.Fatal(err)
		}
		if res, err := writer.Login(ctx, login(i), true); err != nil || res.Outcome != prereg.OutcomeGranted {
			t.Fatalf("grant %d: %v %v", i, res.Outcome, err)
		}
	}

	// Pending, claimed once the stalled member is gone.
	const pending = 5
	claim := func(i int) prereg.Login {
		return prereg.Login{UserID: fmt.Sprintf("auth0|c%d", i), Email: fmt.Sprintf("c%d@x.io", i), EmailVerified: true}
	}
	for i := range pending {
		if _, err := writer.ApplyBatch(ctx, []prereg.Input{prereg.Input{Email: claim(i).Email, Roles: []string{"r"}}.Normalize()}, "api", "t", false); err != nil {
			t.Fatal(err)
		}
	}

	stalled := follower(t, p)
	if err := p.Pause(stalled); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Resume(stalled) })
	for i := range 3 * users {
		l, want := login(i%users), prereg.OutcomeAlreadyGranted
		if i%3 == 0 {
			l, want = prereg.Login{UserID: fmt.Sprintf("auth0|n%d", i), Email: fmt.Sprintf("n%d@x.io", i), EmailVerified: true}, prereg.OutcomeNoMatch
		}
		res, err := s.Login(ctx, l, true)
		if err != nil || res.Outcome != want {
			t.Fatalf("login %d with member %d stalled: %v %v, want %v", i, stalled, res.Outcome, err, want)
		}
	}
	if etcdstore.ReadsHedged(s) == 0 {
		t.Errorf("no read was sent to a second member, though member %d answered none", stalled)
	}

	// Claims are not hedged: they go only to members that answer, and
	// the stalled member, now lost, has not answered since.
	p.Kill(stalled)
	for i := range pending {
		res, err := s.Login(ctx, claim(i), true)
		if err != nil || res.Outcome != prereg.OutcomeGranted {
			t.Fatalf("claim %d with member %d lost: %v %v, want granted", i, stalled, res.Outcome, err)
		}
	}
}

// follower is the index of a member that does not lead: stalling the
// leader stalls every linearizable read until another is elected.
func follower(t *testing.T, p *etcdtest.Procs) int {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: p.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i, ep := range p.Endpoints() {
		st, err := cli.Status(context.Background(), ep)
		if err != nil {
			t.Fatal(err)
		}
		if st.Header.MemberId != st.Leader {
			return i
		}
	}
	t.Fatal("every member leads")
	return 0
}
