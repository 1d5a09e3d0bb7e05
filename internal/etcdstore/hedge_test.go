//go:build unix

package etcdstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/prereg/prereg/internal/etcdstore"
	"github.com/prereg/prereg/internal/etcdtest"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testio"
)

// A member that stops answering (SIGSTOP here; a defragmentation does
// the same for seconds) while its connections stay open does not stall
// logins: the store's client still routes a share of the reads to it, and
// those are answered by another member, before the call timeout, with
// the right outcome.
func TestLoginsHedgeAroundAStalledMember(t *testing.T) {
	p := etcdtest.StartProcesses(t, 3)
	ctx := context.Background()
	open := func(o etcdstore.Options) *etcdstore.Store { return openProcs(t, p, "/hedge/", o) }
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

// A member whose defragmentation another replica announced gets no read
// and no claim from this one until the announcement ends, so none waits
// for it: here the member is stopped once announced, and the logins,
// claims included, are answered without a read sent twice.
func TestAnnouncedDefragmentationIsAvoided(t *testing.T) {
	p := etcdtest.StartProcesses(t, 3)
	ctx := context.Background()
	open := func(o etcdstore.Options) *etcdstore.Store { return openProcs(t, p, "/announce/", o) }
	eraser := open(etcdstore.Options{CallTimeout: testCallTimeout})
	// The default call timeout: a claim sent to the stopped member
	// would fail as Unavailable.
	s := open(etcdstore.Options{})
	const logins = 6
	claim := func(i int) prereg.Login {
		return prereg.Login{UserID: fmt.Sprintf("auth0|d%d", i), Email: fmt.Sprintf("d%d@x.io", i), EmailVerified: true}
	}
	for i := range logins {
		if _, err := eraser.ApplyBatch(ctx, []prereg.Input{prereg.Input{Email: claim(i).Email, Roles: []string{"r"}}.Normalize()}, "api", "t", false); err != nil {
			t.Fatal(err)
		}
	}

	stopped := follower(t, p)
	release, err := etcdstore.AnnounceDefrag(eraser, ctx, memberIDAt(t, p.Endpoints()[stopped]))
	if err != nil {
		t.Fatal(err)
	}
	testio.WaitFor(t, time.Minute, "the announcement to reach the other replica", func() bool { return etcdstore.Announced(s)[stopped] })
	if err := p.Pause(stopped); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Resume(stopped) })
	for i := range logins {
		// Reads and claims go to the members in turn: without the
		// announcement, each member gets some of both.
		res, err := s.Login(ctx, claim(i), true)
		if err != nil || res.Outcome != prereg.OutcomeGranted {
			t.Fatalf("login %d with member %d announced and stopped: %v %v", i, stopped, res.Outcome, err)
		}
	}
	if n := etcdstore.ReadsHedged(s); n != 0 {
		t.Errorf("%d reads were sent to the announced member and hedged", n)
	}

	if err := p.Resume(stopped); err != nil {
		t.Fatal(err)
	}
	release()
	testio.WaitFor(t, time.Minute, "the announcement's end to reach the other replica", func() bool { return !etcdstore.Announced(s)[stopped] })
}

// memberIDAt is the ID of the member serving endpoint ep.
func memberIDAt(t *testing.T, ep string) uint64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, err := cli.Status(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	return st.Header.MemberId
}

// openProcs opens a store under prefix on the member processes p, closed
// when t ends.
func openProcs(t *testing.T, p *etcdtest.Procs, prefix string, o etcdstore.Options) *etcdstore.Store {
	t.Helper()
	s, err := etcdstore.Open(context.Background(), etcdstore.Config{Endpoints: p.Endpoints(), Prefix: prefix}, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
