package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// holdsFold reports whether raw holds needle in any ASCII letter case.
func holdsFold(raw []byte, needle string) bool {
	return bytes.Contains(bytes.ToLower(raw), []byte(strings.ToLower(needle)))
}

// storeBytes returns the store file's bytes and a backup stream of it.
func storeBytes(t *testing.T, s *boltstore.Store) (file, backup []byte) {
	t.Helper()
	file, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.Backup(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	return file, buf.Bytes()
}

func putAddr(t *testing.T, s *boltstore.Store, email, org string) prereg.Registration {
	t.Helper()
	return put(t, s, prereg.Input{Email: email, OrganizationID: org, Roles: []string{"viewer"}})
}

// echoingImport keeps an import report of org whose row error echoes value.
func echoingImport(t *testing.T, s *boltstore.Store, id, org, value string) {
	t.Helper()
	rep := prereg.ImportReport{ImportSummary: prereg.ImportSummary{ImportID: id, OrganizationID: org, Actor: "test", Rows: 1, Rejected: 1}, Errors: []prereg.RowError{{Line: 2, Column: "roles", Value: value, Message: "bad roles for " + value}}, Warnings: []prereg.RowWarning{{Line: 2, Message: "row of " + value}}}
	if err := s.SaveImport(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
}

// After an erasure, no byte of the store file and of a backup holds the
// address in any letter case: not the records, not the user_ids that
// contain it (user index, granted_to of another address's grant, sync
// jobs, verification marks, audit summaries), not import reports, not
// the pages the erasure and earlier writes freed.
func TestErasureLeavesNoTrace(t *testing.T) {
	s := open(t, boltstore.Options{LoginSets: true, SyncEnabled: true})
	ctx := context.Background()
	const (
		addr  = "Jane.Doe@Corp.Example"
		alias = "jdoe@corp.example"
		kept  = "kept.person@corp.example"
		user  = "samlp|corp|JANE.DOE@corp.example"
	)
	putAddr(t, s, addr, "")
	putAddr(t, s, strings.ToLower(addr), "org_a")
	putAddr(t, s, alias, "org_a")
	putAddr(t, s, kept, "org_a")
	// The same user claims the address's registrations and an alias's:
	// the alias's grant stays, granted to a user_id holding the address.
	res, err := s.Login(ctx, prereg.Login{UserID: user, Email: addr, EmailVerified: true}, true)
	if err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("login: %v %v", res.Outcome, err)
	}
	if res, err = s.Login(ctx, prereg.Login{UserID: user, Email: alias, EmailVerified: true}, true); err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("alias login: %v %v", res.Outcome, err)
	}
	// A grant force-revoked later keeps its granted_to and its summary.
	putAddr(t, s, "revoked.alias@corp.example", "org_b")
	if _, err := s.Login(ctx, prereg.Login{UserID: user, Email: "revoked.alias@corp.example", EmailVerified: true}, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Revoke(ctx, prereg.RegistrationID("org_b", "revoked.alias@corp.example"), true, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkVerificationSent(ctx, user, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk of " + addr, ReadOnly: true}, "test"); err != nil {
		t.Fatal(err)
	}
	echoingImport(t, s, "imp_1", "", "<"+strings.ToUpper(addr)+">")
	file, backup := storeBytes(t, s)
	if !holdsFold(file, addr) || !holdsFold(backup, addr) {
		t.Fatal("the address is not found before the erasure: the search is broken")
	}

	out, err := s.Erase(ctx, strings.ToUpper(addr), "", "tok_admin")
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Registrations) != 2 {
		t.Fatalf("erasure answered %+v, want 2 registrations", out)
	}
	file, backup = storeBytes(t, s)
	if holdsFold(file, addr) {
		t.Errorf("the store file still holds the address at byte %d", bytes.Index(bytes.ToLower(file), []byte(strings.ToLower(addr))))
	}
	if holdsFold(backup, addr) {
		t.Error("a backup taken after the erasure holds the address")
	}
	if !holdsFold(file, kept) || !holdsFold(file, alias) {
		t.Error("the addresses that were not erased are gone from the file")
	}
	// The alias's grant is still a grant, of a user_id without the address.
	r, err := s.Get(ctx, prereg.RegistrationID("org_a", alias))
	if err != nil || r.Status != prereg.StatusGranted || holdsFold([]byte(r.GrantedTo), addr) || r.GrantedTo == "" {
		t.Errorf("the alias's grant after the erasure: %+v %v", r, err)
	}
	jobs, err := s.DueJobs(ctx, time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if holdsFold([]byte(j.UserID), addr) {
			t.Errorf("a sync job still names the user: %+v", j)
		}
	}
}

// Erasures run while logins read and write the store: every login gets
// its answer, and the file stays consistent (open checks it at the end).
func TestErasureDuringLogins(t *testing.T) {
	s := open(t, boltstore.Options{LoginSets: true})
	ctx := context.Background()
	var items []prereg.Input
	for i := range 2000 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), Roles: []string{"r"}})
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_t", "test", false); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		next atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				i := next.Add(1) % 1000
				l := prereg.Login{UserID: fmt.Sprintf("auth0|%d", i), Email: fmt.Sprintf("user%d@example.com", i), EmailVerified: true}
				res, err := s.Login(ctx, l, true)
				if err != nil || (res.Outcome != prereg.OutcomeGranted && res.Outcome != prereg.OutcomeAlreadyGranted) {
					t.Errorf("login %d: %v %v", i, res.Outcome, err)
					return
				}
			}
		})
	}
	for i := 1000; i < 1040; i++ {
		out, err := s.Erase(ctx, fmt.Sprintf("user%d@example.com", i), "", "test")
		if err != nil || len(out.Registrations) != 1 {
			t.Errorf("erase %d: %+v %v", i, out, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	file, _ := storeBytes(t, s)
	for i := 1000; i < 1040; i++ {
		if holdsFold(file, fmt.Sprintf("user%d@example.com", i)) {
			t.Errorf("user%d is still in the file", i)
		}
	}
}

// The wipe reads the free pages from the freelist page on the file
// rather than asking bbolt about every page: both must agree.
func TestWipeReadsTheFreelist(t *testing.T) {
	for _, n := range []int{10, 20000} {
		s := open(t, boltstore.Options{})
		var items []prereg.Input
		for i := range n {
			items = append(items, prereg.Input{Email: fmt.Sprintf("f%d@example.com", i), Roles: []string{"r"}})
		}
		if _, err := s.ApplyBatch(context.Background(), items, "import:imp_f", "test", false); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			putAddr(t, s, fmt.Sprintf("f%d@example.com", i*n/5), "org_x")
		}
		if err := s.FreelistAgreesForTest(); err != nil {
			t.Errorf("%d records: %v", n, err)
		}
	}
}

// A read transaction that began before an erasure still reads the
// records it began with, erased ones included: the erasure overwrites
// freed pages only once no such transaction is open, and answers after.
func TestErasureWaitsForOlderReaders(t *testing.T) {
	s := open(t, boltstore.Options{})
	ctx := context.Background()
	const n = 3000
	var items []prereg.Input
	for i := range n {
		items = append(items, prereg.Input{Email: fmt.Sprintf("reader%d@example.com", i), Roles: []string{"r"}})
	}
	if _, err := s.ApplyBatch(ctx, items, "import:imp_r", "test", false); err != nil {
		t.Fatal(err)
	}
	const erased = "reader1500@example.com"
	started, release, read := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	letGo := func() { once.Do(func() { close(release) }) }
	defer letGo() // a failure must not leave the reader (and the store's Close) waiting
	seen := map[string]bool{}
	go func() {
		read <- s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error {
			if len(seen) == 0 {
				close(started)
				<-release
			}
			if !strings.HasPrefix(r.Email, "reader") || !strings.HasSuffix(r.Email, "@example.com") {
				return fmt.Errorf("record %s reads %q", r.ID, r.Email)
			}
			seen[r.Email] = true
			return nil
		})
	}()
	<-started
	done := make(chan error, 1)
	go func() {
		_, err := s.Erase(ctx, erased, "", "test")
		done <- err
	}()
	id := prereg.RegistrationID("", erased)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := s.Get(ctx, id); prereg.ErrorCode(err) == prereg.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the erasure did not commit within 10 s")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the erasure answered (%v) while a read transaction that sees its freed pages was open", err)
	case <-time.After(200 * time.Millisecond):
	}
	letGo()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if len(seen) != n || !seen[erased] {
		t.Fatalf("the older read saw %d records (the erased one: %v), want all %d", len(seen), seen[erased], n)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if file, _ := storeBytes(t, s); holdsFold(file, erased) {
		t.Error("the address is still in the file")
	}
}
