package storetest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prereg/prereg/internal/prereg"
)

// Linearizable runs random logins, writes, revokes and erasures from
// many goroutines against one store opened as serve opens it, and checks
// the history against a sequential model of CONTRACT §1-3 with porcupine:
// every answer must be one that some order of the calls, consistent with
// their real-time order, gives. Monotonic reads (§2) are a consequence.
// Between rounds it runs the store's own Checker, if it has one.
//
// It runs for 3 seconds unless PREREG_LINEARIZABILITY_DURATION says
// otherwise (a time.Duration: 5m).
func Linearizable(t *testing.T, open Open) {
	linearizable(t, []Store{open(t, Options{Serve: true})})
}

// OpenReplicas opens n stores (replicas) on the same fresh data: what one
// writes, the others read.
type OpenReplicas func(t *testing.T, opts Options, n int) []Store

// LinearizableAcross is Linearizable with the calling goroutines spread
// over two replicas of one store: the history must be linearizable as a
// whole, whichever replica answered each call.
func LinearizableAcross(t *testing.T, open OpenReplicas) {
	linearizable(t, open(t, Options{Serve: true}, 2))
}

func linearizable(t *testing.T, stores []Store) {
	d := 3 * time.Second
	if v := os.Getenv("PREREG_LINEARIZABILITY_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("PREREG_LINEARIZABILITY_DURATION: %v", err)
		}
	}
	rounds, ops := 0, 0
	for end := time.Now().Add(d); rounds == 0 || time.Now().Before(end); rounds++ {
		// Each round has addresses and users of its own, so its history
		// starts from an empty model whatever earlier rounds left.
		history := runRound(t, stores, rounds)
		ops += len(history)
		res, info := porcupine.CheckOperationsVerbose(regModel, history, time.Minute)
		switch res {
		case porcupine.Illegal:
			path := filepath.Join(t.ArtifactDir(), fmt.Sprintf("round%d.html", rounds))
			if err := porcupine.VisualizePath(regModel, info, path); err != nil {
				t.Errorf("write the visualization: %v", err)
			}
			t.Fatalf("round %d (%d operations) is not linearizable; porcupine's visualization: %s\nthe longest order found ends with:\n%s",
				rounds, len(history), path, longestTail(info))
		case porcupine.Unknown:
			t.Logf("round %d: the check timed out", rounds)
		}
		for _, s := range stores {
			check(t, s, fmt.Sprintf("round %d", rounds))
		}
	}
	t.Logf("%d rounds, %d operations checked", rounds, ops)
}

// longestTail describes the last calls of the longest partial
// linearization porcupine found: the answer after them is the one no order
// explains.
func longestTail(info porcupine.LinearizationInfo) string {
	var longest []porcupine.Operation
	for _, part := range info.PartialLinearizationsOperations() {
		for _, ops := range part {
			if len(ops) > len(longest) {
				longest = ops
			}
		}
	}
	var b strings.Builder
	for _, op := range longest[max(0, len(longest)-8):] {
		fmt.Fprintf(&b, "  client %d: %s\n", op.ClientId, regModel.DescribeOperation(op.Input, op.Output))
	}
	return b.String()
}

const (
	linClients = 8  // goroutines calling the store
	linCalls   = 40 // calls per goroutine and round
)

// An opKind is one of the calls the test makes.
type opKind int

const (
	opLogin opKind = iota
	opPut
	opRevoke
	opErase
)

// linInput is one call; the fields a kind does not use are empty.
type linInput struct {
	kind                   opKind
	user, email, org, conn string
	verified, force        bool
	roles                  string // joined with |
}

// linOutput is one answer, in a form the model computes exactly: roles and
// grants as sorted sets, a write's change or error code, an erasure's count.
type linOutput struct {
	result string
}

// linReg is the model of one registration.
type linReg struct {
	status      prereg.Status
	grantedTo   string
	roles, conn string
}

// linState maps (organization, lower-cased address) to its registration.
type linState map[string]linReg

func regKey(org, email string) string { return org + " " + strings.ToLower(email) }

var regModel = porcupine.Model{
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		want, next := linStep(state.(linState), input.(linInput))
		return want == output.(linOutput).result, next
	},
	Equal: func(a, b any) bool { return maps.Equal(a.(linState), b.(linState)) },
	DescribeOperation: func(input, output any) string {
		in := input.(linInput)
		var call string
		switch in.kind {
		case opLogin:
			call = fmt.Sprintf("login(%s, %s, org=%q, conn=%q, verified=%v)", in.user, in.email, in.org, in.conn, in.verified)
		case opPut:
			call = fmt.Sprintf("Put(%q, %s, roles=%s, conn=%q)", in.org, in.email, in.roles, in.conn)
		case opRevoke:
			call = fmt.Sprintf("revoke(%q, %s, force=%v)", in.org, in.email, in.force)
		case opErase:
			call = fmt.Sprintf("erase(%s)", in.email)
		}
		return call + " -> " + output.(linOutput).result
	},
	DescribeState: func(state any) string {
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(state.(linState))) {
			r := state.(linState)[k]
			fmt.Fprintf(&b, "[%s] %s %s roles=%s conn=%q\n", k, r.status, r.grantedTo, r.roles, r.conn)
		}
		return b.String()
	},
}

// linStep is the sequential specification: the answer a call gets from
// state, and the state after it.
func linStep(st linState, in linInput) (string, linState) {
	next := maps.Clone(st)
	switch in.kind {
	case opPut:
		return linPut(st, next, in)
	case opRevoke:
		return linRevoke(st, next, in)
	case opErase:
		return linErase(st, next, in)
	}
	return linLogin(st, next, in)
}

func linPut(st, next linState, in linInput) (string, linState) {
	k := regKey(in.org, in.email)
	r, ok := st[k]
	same := ok && r.roles == in.roles && r.conn == in.conn
	switch {
	case !ok:
		next[k] = linReg{status: prereg.StatusPending, roles: in.roles, conn: in.conn}
		return string(prereg.Created), next
	case r.status == prereg.StatusGranted && same:
		return string(prereg.Unchanged), st
	case r.status == prereg.StatusGranted:
		return string(prereg.Conflict), st
	case r.status == prereg.StatusPending && same:
		return string(prereg.Unchanged), st
	}
	next[k] = linReg{status: prereg.StatusPending, roles: in.roles, conn: in.conn}
	return string(prereg.Updated), next
}

func linRevoke(st, next linState, in linInput) (string, linState) {
	k := regKey(in.org, in.email)
	r, ok := st[k]
	switch {
	case !ok:
		return string(prereg.NotFound), st
	case r.status == prereg.StatusGranted && !in.force:
		return string(prereg.Conflict), st
	}
	r.status = prereg.StatusRevoked
	next[k] = r
	return string(r.status), next
}

func linErase(st, next linState, in linInput) (string, linState) {
	n := 0
	for k := range st {
		if strings.HasSuffix(k, " "+strings.ToLower(in.email)) {
			delete(next, k)
			n++
		}
	}
	return fmt.Sprintf("erased %d", n), next
}

// linLogin is CONTRACT §2 on the model: claim every claimable
// registration of the address when verified, answer with every grant of
// the user.
func linLogin(st, next linState, in linInput) (string, linState) {
	claimable := linClaim(st, next, in)
	var grants, roles []string
	for k, r := range next {
		if r.status != prereg.StatusGranted || r.grantedTo != in.user {
			continue
		}
		org, email, _ := strings.Cut(k, " ")
		grants = append(grants, prereg.RegistrationID(org, email)+"="+r.roles)
		if org == "" || org == in.org {
			roles = append(roles, strings.Split(r.roles, "|")...)
		}
	}
	outcome := prereg.OutcomeNoMatch
	switch {
	case claimable > 0 && in.verified:
		outcome = prereg.OutcomeGranted
	case len(grants) > 0:
		outcome = prereg.OutcomeAlreadyGranted
	case claimable > 0:
		outcome = prereg.OutcomeEmailUnverified
	}
	if !in.verified {
		next = st
	}
	return loginResult(outcome, roles, grants), next
}

// linClaim counts the registrations of st in.email's login may claim and,
// when verified, grants them to in.user in next.
func linClaim(st, next linState, in linInput) int {
	claimable := 0
	for k, r := range st {
		if strings.HasSuffix(k, " "+strings.ToLower(in.email)) && r.status == prereg.StatusPending && (r.conn == "" || r.conn == in.conn) {
			claimable++
			if in.verified {
				r.status, r.grantedTo = prereg.StatusGranted, in.user
				next[k] = r
			}
		}
	}
	return claimable
}

func loginResult(outcome prereg.Outcome, roles, grants []string) string {
	slices.Sort(roles)
	slices.Sort(grants)
	return fmt.Sprintf("%s roles=%v grants=%v", outcome, slices.Compact(roles), grants)
}

// runRound makes linCalls random calls from each of linClients goroutines
// (spread over stores) on round's own addresses and users, and returns
// their history.
func runRound(t *testing.T, stores []Store, round int) []porcupine.Operation {
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		wg      sync.WaitGroup
	)
	start := time.Now()
	for c := range linClients {
		s := stores[c%len(stores)]
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(round), uint64(c)))
			for range linCalls {
				in := randomCall(rnd, round)
				call := time.Since(start).Nanoseconds()
				out := linCall(t, s, in)
				ret := time.Since(start).Nanoseconds()
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return history
}

// randomCall picks a call: mostly logins, by four users sharing three
// addresses (each user mostly its own, in any letter case).
func randomCall(rnd *rand.Rand, round int) linInput {
	pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
	addr := rnd.IntN(3)
	email := fmt.Sprintf("a%d.r%d@x.io", addr, round)
	in := linInput{email: email, org: pick("", "", "org_a", "org_b"), conn: pick("", "", "google")}
	switch n := rnd.IntN(100); {
	case n < 60:
		user := rnd.IntN(4)
		if rnd.IntN(4) > 0 {
			addr = user % 3
		}
		in.kind, in.user, in.verified = opLogin, fmt.Sprintf("auth0|u%d.r%d", user, round), rnd.IntN(5) > 0
		in.email = pick(fmt.Sprintf("a%d.r%d@x.io", addr, round), fmt.Sprintf("A%d.R%d@X.io", addr, round))
	case n < 82:
		in.kind, in.roles = opPut, pick("r1", "r2", "r1|r2")
	case n < 97:
		in.kind, in.force = opRevoke, rnd.IntN(2) == 0
	default:
		in.kind = opErase
	}
	return in
}

// linCall makes one call on the store and describes its answer as the
// model does.
func linCall(t *testing.T, s Store, in linInput) linOutput {
	ctx := context.Background()
	var err error
	switch in.kind {
	case opLogin:
		var res prereg.LoginResult
		res, err = s.Login(ctx, prereg.Login{UserID: in.user, Email: in.email, OrganizationID: in.org, Connection: in.conn, EmailVerified: in.verified}, in.verified)
		if err == nil {
			var grants []string
			for _, g := range res.Grants {
				grants = append(grants, g.RegistrationID+"="+strings.Join(g.Roles, "|"))
			}
			return linOutput{loginResult(res.Outcome, slices.Clone(res.Roles), grants)}
		}
	case opPut:
		var change prereg.Change
		_, change, err = s.Put(ctx, prereg.Input{Email: in.email, OrganizationID: in.org, Roles: strings.Split(in.roles, "|"), Connection: in.conn}, "api", "test")
		if err == nil {
			return linOutput{string(change)}
		}
	case opRevoke:
		var r prereg.Registration
		r, _, err = s.Revoke(ctx, prereg.RegistrationID(in.org, in.email), in.force, "test")
		if err == nil {
			return linOutput{string(r.Status)}
		}
	case opErase:
		var e prereg.Erasure
		e, err = s.Erase(ctx, in.email, "", "test")
		if err == nil {
			return linOutput{fmt.Sprintf("erased %d", len(e.Registrations))}
		}
	}
	if code := prereg.ErrorCode(err); code == prereg.Conflict || code == prereg.NotFound {
		return linOutput{string(code)}
	}
	t.Errorf("%+v: %v", in, err)
	return linOutput{err.Error()}
}
