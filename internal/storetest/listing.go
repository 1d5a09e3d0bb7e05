package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// testListing covers the list of CONTRACT §3: filters, limit, cursors to
// the end, a stable order, no entry twice or missed while writes happen.
func testListing(t *testing.T, open Open) {
	t.Run("Filters", func(t *testing.T) { testListFilters(t, open) })
	t.Run("StableOrder", func(t *testing.T) { testListStableOrder(t, open(t, Options{})) })
	t.Run("GrantedOfOneOrganization", func(t *testing.T) { testGrantedListings(t, open(t, Options{})) })
	t.Run("WhileWriting", func(t *testing.T) { testListWhileWriting(t, open(t, Options{Serve: true})) })
	t.Run("StatusChangesWhilePaging", func(t *testing.T) { testListStatusChanges(t, open(t, Options{})) })
	t.Run("BadCursor", func(t *testing.T) {
		s := open(t, Options{})
		Put(t, s, prereg.Input{Email: "a@x.io", Roles: []string{"r"}})
		for _, f := range []prereg.Filter{{}, {Status: prereg.StatusGranted}, {Status: prereg.StatusPending}, {OrganizationSet: true}} {
			f.Cursor = "garbage!"
			if _, _, err := s.List(context.Background(), f); prereg.ErrorCode(err) != prereg.Invalid {
				t.Errorf("bad cursor for %+v: %v", f, err)
			}
		}
	})
}

// seedMixed writes n registrations (every other one in org_odd, every
// fifth with an expiry an hour away), grants the first 100 and revokes
// the next 50; the caller's clock then passes the expiry.
func seedMixed(t *testing.T, s Store, c *clock, n int) {
	t.Helper()
	ctx := context.Background()
	exp := c.now().Add(time.Hour)
	var items []prereg.Input
	for i := range n {
		in := prereg.Input{Email: fmt.Sprintf("user%d@example.com", i), Roles: []string{"r"}}
		if i%2 == 1 {
			in.OrganizationID = "org_odd"
		}
		if i%5 == 0 {
			in.ExpiresAt = &exp
		}
		items = append(items, in)
	}
	applyBatch(t, s, items, "import:imp_1", false)
	for i := 0; i < 100; i++ {
		if _, err := s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("user%d@example.com", i)}, true); err != nil {
			t.Fatal(err)
		}
	}
	for i := 100; i < 150; i++ {
		org := ""
		if i%2 == 1 {
			org = "org_odd"
		}
		if _, _, err := s.Revoke(ctx, prereg.RegistrationID(org, fmt.Sprintf("user%d@example.com", i)), false, "t"); err != nil {
			t.Fatal(err)
		}
	}
	c.add(2 * time.Hour) // every fifth pending one expires
}

func testListFilters(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now})
	const n = 2500
	seedMixed(t, s, c, n)
	// pending: 2500 - 100 granted - 50 revoked, minus the expired among them.
	expired, oddPending := 0, 0
	for i := 150; i < n; i++ {
		if i%5 == 0 {
			expired++
		} else if i%2 == 1 {
			oddPending++
		}
	}
	tests := []struct {
		name string
		f    prereg.Filter
		want int
	}{
		{"all", prereg.Filter{}, n},
		{"granted", prereg.Filter{Status: prereg.StatusGranted}, 100},
		{"revoked", prereg.Filter{Status: prereg.StatusRevoked}, 50},
		{"expired", prereg.Filter{Status: prereg.StatusExpired}, expired},
		{"pending", prereg.Filter{Status: prereg.StatusPending}, n - 150 - expired},
		{"org", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true}, n / 2},
		{"tenant-wide", prereg.Filter{OrganizationSet: true}, n / 2},
		{"tenant-wide granted", prereg.Filter{OrganizationSet: true, Status: prereg.StatusGranted}, 50},
		{"org granted", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusGranted}, 50},
		{"org pending", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusPending}, oddPending},
		{"org revoked", prereg.Filter{OrganizationID: "org_odd", OrganizationSet: true, Status: prereg.StatusRevoked}, 25},
		{"email", prereg.Filter{Email: " USER7@example.com "}, 1},
		{"unknown organization", prereg.Filter{OrganizationID: "org_none", OrganizationSet: true}, 0},
	}
	ctx := context.Background()
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := prereg.Counts{Pending: int64(n - 150 - expired), Granted: 100, Revoked: 50, Expired: int64(expired), Total: n}
	if st.Overall != want {
		t.Fatalf("stats %+v, want %+v", st.Overall, want)
	}
	if st.ByOrganization["org_odd"].Total != n/2 {
		t.Fatalf("org stats %+v", st.ByOrganization["org_odd"])
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Several pages even for the smaller listings; every item
			// matches the filter.
			ids := listAll(t, s, tt.f, 37)
			if len(ids) != tt.want {
				t.Fatalf("got %d, want %d", len(ids), tt.want)
			}
			err := s.Each(ctx, tt.f, func(r prereg.Registration) error {
				if tt.f.Status != "" && r.Status != tt.f.Status || tt.f.OrganizationSet && r.OrganizationID != tt.f.OrganizationID {
					return fmt.Errorf("%s (%s, %q) does not match the filter", r.ID, r.Status, r.OrganizationID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Two listings of the same data, by any page size, give the same order.
func testListStableOrder(t *testing.T, s Store) {
	var items []prereg.Input
	for i := range 300 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("s%d@x.io", (i*7919)%300), OrganizationID: []string{"", "org_a", "org_b"}[i%3], Roles: []string{"r"}})
	}
	applyBatch(t, s, items, "import:imp_1", false)
	for _, f := range []prereg.Filter{{}, {Status: prereg.StatusPending}, {OrganizationID: "org_a", OrganizationSet: true}} {
		want := listAll(t, s, f, 1000)
		for _, limit := range []int{1, 7, 100} {
			if got := listAll(t, s, f, limit); !slices.Equal(got, want) {
				t.Errorf("%+v by %d: another order than one page gives", f, limit)
			}
		}
		var each []string
		if err := s.Each(context.Background(), f, func(r prereg.Registration) error { each = append(each, r.ID); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(each) != len(want) {
			t.Errorf("%+v: Each visited %d, List gave %d", f, len(each), len(want))
		}
	}
}

// One organization's granted records listed three at a time, with many
// writes between two pages: every grant is listed exactly once.
func testGrantedListings(t *testing.T, s Store) {
	ctx := context.Background()
	add := func(org, prefix string, n, granted int) map[string]bool {
		t.Helper()
		var items []prereg.Input
		for i := range n {
			items = append(items, prereg.Input{Email: fmt.Sprintf("%s%d@example.com", prefix, i), OrganizationID: org, Roles: []string{"r"}})
		}
		applyBatch(t, s, items, "import:imp_1", false)
		ids := map[string]bool{}
		for i := range granted {
			l := prereg.Login{UserID: fmt.Sprintf("auth0|%s%d", prefix, i), Email: items[i].Email, OrganizationID: org}
			if res, err := s.Login(ctx, l, true); err != nil || res.Outcome != prereg.OutcomeGranted {
				t.Fatalf("grant %s: %v %v", l.Email, res.Outcome, err)
			}
			ids[prereg.RegistrationID(org, items[i].Email)] = true
		}
		return ids
	}
	small := add("org_small", "s", 30, 20)
	big := add("org_big", "b", 300, 10)
	// page lists the organization's granted records three at a time; mid
	// runs once, after the first page.
	page := func(org string, mid func()) map[string]bool {
		t.Helper()
		f := prereg.Filter{Status: prereg.StatusGranted, OrganizationID: org, OrganizationSet: true, Limit: 3}
		got := map[string]bool{}
		for {
			items, next, err := s.List(ctx, f)
			if err != nil {
				t.Fatalf("%s: %v", org, err)
			}
			for _, r := range items {
				if got[r.ID] || r.Status != prereg.StatusGranted || r.OrganizationID != org {
					t.Fatalf("%s: %s (%s, %q) listed twice or wrongly", org, r.ID, r.Status, r.OrganizationID)
				}
				got[r.ID] = true
			}
			if next == "" {
				return got
			}
			if mid != nil {
				mid()
				mid = nil
			}
			f.Cursor = next
		}
	}
	for _, tt := range []struct {
		org  string
		want map[string]bool
		mid  func()
	}{
		{"org_small", small, nil},
		{"org_big", big, nil},
		// The organization grows past all its grants mid-listing.
		{"org_small", small, func() { add("org_small", "t", 100, 0) }},
		// Grants elsewhere outnumber the organization mid-listing.
		{"org_big", big, func() { add("org_other", "o", 400, 400) }},
	} {
		if got := page(tt.org, tt.mid); !maps.Equal(got, tt.want) {
			t.Errorf("%s: listed %d of its %d grants: %v", tt.org, len(got), len(tt.want), got)
		}
	}
}

// Paging while other registrations are written, updated, claimed and
// revoked between two pages: every registration that exists from the
// first page to the last is listed exactly once. Writes from another
// goroutine run meanwhile too.
func testListWhileWriting(t *testing.T, s Store) {
	ctx := context.Background()
	var items []prereg.Input
	for i := range 600 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("k%03d@x.io", i), OrganizationID: []string{"", "org_a"}[i%2], Roles: []string{"r"}})
	}
	applyBatch(t, s, items, "import:imp_1", false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			in := prereg.Input{Email: fmt.Sprintf("n%d@x.io", i), OrganizationID: []string{"", "org_a"}[i%2], Roles: []string{"r"}}
			if _, _, err := s.Put(ctx, in, "api", "t"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for _, f := range []prereg.Filter{{}, {OrganizationID: "org_a", OrganizationSet: true}, {Status: prereg.StatusPending}} {
		f.Limit = 13
		seen := map[string]bool{}
		for page := 0; ; page++ {
			got, next, err := s.List(ctx, f)
			noErr(t, err)
			for _, r := range got {
				expect(t, !seen[r.ID], "%+v: %s listed twice", f, r.ID)
				seen[r.ID] = true
			}
			if next == "" {
				break
			}
			f.Cursor = next
			// Between pages: a new record sorting anywhere, an update and
			// a claim of records listed or not yet listed.
			i := (page * 37) % 600
			Put(t, s, prereg.Input{Email: fmt.Sprintf("k%03d-%d@x.io", i, page), OrganizationID: "org_a", Roles: []string{"r"}})
			Put(t, s, prereg.Input{Email: items[(i+300)%600].Email, OrganizationID: items[(i+300)%600].OrganizationID, Roles: []string{"r", fmt.Sprint(page)}})
			_, err = s.Login(ctx, prereg.Login{UserID: fmt.Sprintf("u%d", page), Email: items[(i+150)%600].Email}, true)
			noErr(t, err)
		}
		for _, in := range items {
			if (in.OrganizationID == f.OrganizationID || !f.OrganizationSet) && f.Status == "" {
				id := prereg.RegistrationID(in.OrganizationID, in.Email)
				report(t, seen[id], "%+v: %s, there all along, was not listed", f, id)
			}
		}
	}
}

// testStats: the counters equal a full scan, overall and per organization,
// after writes, claims, revokes, expiry and erasure.
func testStats(t *testing.T, open Open) {
	c := newClock(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, Options{Now: c.now, Serve: true})
	ctx := context.Background()
	seedMixed(t, s, c, 1000)
	_, err := s.Erase(ctx, "user200@example.com", "", "t")
	noErr(t, err)
	_, _, err = s.Revoke(ctx, prereg.RegistrationID("", "user0@example.com"), true, "t")
	noErr(t, err)
	Put(t, s, prereg.Input{Email: "user102@example.com", Roles: []string{"again"}}) // reopens a revoked one
	want := prereg.Stats{ByOrganization: map[string]prereg.Counts{}}
	noErr(t, s.Each(ctx, prereg.Filter{}, func(r prereg.Registration) error {
		want.Overall.Add(r.Status, 1)
		o := want.ByOrganization[r.OrganizationID]
		o.Add(r.Status, 1)
		want.ByOrganization[r.OrganizationID] = o
		return nil
	}))
	expect(t, want.Overall.Total == 999 && want.Overall.Expired != 0 && want.Overall.Revoked != 0 && want.Overall.Granted != 0,
		"the scan found %+v: the seed is broken", want.Overall)
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	noErr(t, err)
	report(t, st.Overall == want.Overall, "stats %+v, the scan %+v", st.Overall, want.Overall)
	for org, w := range want.ByOrganization {
		if st.ByOrganization[org] != w {
			t.Errorf("organization %q: stats %+v, the scan %+v", org, st.ByOrganization[org], w)
		}
		one, err := s.Stats(ctx, prereg.StatsFilter{OrganizationID: org, OrganizationSet: true})
		if err != nil || one.Overall != w {
			t.Errorf("stats of %q alone: %+v %v, the scan %+v", org, one.Overall, err, w)
		}
		for o := range one.ByOrganization {
			if o != org {
				t.Errorf("stats of %q hold organization %q", org, o)
			}
		}
	}
}

// testListStatusChanges revokes and reopens registrations between the
// pages of each listing: every registration is listed exactly once, in
// whatever state the page that held it saw.
func testListStatusChanges(t *testing.T, s Store) {
	ctx := context.Background()
	var items []prereg.Input
	for i := range 40 {
		items = append(items, prereg.Input{Email: fmt.Sprintf("p%02d@x.io", i), OrganizationID: []string{"", "org_a"}[i%2], Roles: []string{"r"}})
	}
	applyBatch(t, s, items, "import:imp_1", false)
	for i := 1; i < 40; i += 4 { // every other org_a one starts revoked
		_, _, err := s.Revoke(ctx, prereg.RegistrationID("org_a", items[i].Email), false, "t")
		noErr(t, err)
	}
	for _, f := range []prereg.Filter{{}, {OrganizationID: "org_a", OrganizationSet: true}} {
		f.Limit = 3
		seen := map[string]int{}
		for page := 0; ; page++ {
			got, next, err := s.List(ctx, f)
			noErr(t, err)
			for _, r := range got {
				seen[r.ID]++
				// Flip it: a revoked one is written again (reopened), a
				// pending one revoked.
				if r.Status == prereg.StatusRevoked {
					_, _, err = s.Put(ctx, prereg.Input{Email: r.Email, OrganizationID: r.OrganizationID, Roles: r.Roles}, "api", "t")
				} else {
					_, _, err = s.Revoke(ctx, r.ID, false, "t")
				}
				noErr(t, err)
			}
			if next == "" {
				break
			}
			f.Cursor = next
		}
		want := 40
		if f.OrganizationSet {
			want = 20
		}
		expect(t, len(seen) == want, "%+v: %d registrations listed, want %d", f, len(seen), want)
		for id, n := range seen {
			expect(t, n == 1, "%+v: %s listed %d times", f, id, n)
		}
	}
}
