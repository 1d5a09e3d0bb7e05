package boltstore_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// cursorFilters are the listings FuzzCursor tries; sel picks one. Each
// walks a different index (email, organization, status, records).
var cursorFilters = []prereg.Filter{
	{},
	{Status: prereg.StatusPending},
	{Status: prereg.StatusGranted},
	{Status: prereg.StatusExpired},
	{Status: prereg.StatusRevoked},
	{OrganizationID: "org_a", OrganizationSet: true},
	{OrganizationID: "", OrganizationSet: true},
	{OrganizationID: "org_b", OrganizationSet: true, Status: prereg.StatusPending},
	{Email: "Person03@Example.com"},
	{Email: "nobody@example.com"},
}

// FuzzCursor hands arbitrary cursor strings to List (every kind of filter)
// and to AuditTrail on a small real store. Neither ever panics; each
// answers either a page or an Invalid error. An accepted List cursor
// yields a contiguous run of the full listing, in order, never more than
// the limit.
func FuzzCursor(f *testing.F) {
	s := openPath(f, filepath.Join(f.TempDir(), "prereg.db"), boltstore.Options{
		Now: func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	ctx := context.Background()
	past := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 24 {
		org := []string{"", "org_a", "org_b"}[i%3]
		in := prereg.Input{Email: "person" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "@example.com", OrganizationID: org, Roles: []string{"viewer"}}
		if i%5 == 4 {
			in.ExpiresAt = &past
		}
		in = in.Normalize()
		if _, _, err := s.Put(ctx, in, "api", "fuzz"); err != nil {
			f.Fatal(err)
		}
		switch i % 4 {
		case 1:
			if _, err := s.Login(ctx, prereg.Login{UserID: "auth0|u" + in.Email, Email: in.Email, EmailVerified: true, OrganizationID: org}, true); err != nil {
				f.Fatal(err)
			}
		case 2:
			if _, _, err := s.Revoke(ctx, prereg.RegistrationID(org, in.Email), false, "fuzz"); err != nil {
				f.Fatal(err)
			}
		}
	}
	full := make([][]string, len(cursorFilters))
	for i, flt := range cursorFilters {
		flt.Limit = 1000
		page, next, err := s.List(ctx, flt)
		if err != nil || next != "" {
			f.Fatalf("full listing %d: %v %q", i, err, next)
		}
		for _, r := range page {
			full[i] = append(full[i], r.ID)
		}
		// Real cursors of every listing are seeds too.
		flt.Limit = 2
		if _, next, _ := s.List(ctx, flt); next != "" {
			f.Add(next, uint8(i), uint8(2))
		}
	}
	if _, next, _ := s.AuditTrail(ctx, prereg.AuditFilter{Limit: 3}); next != "" {
		f.Add(next, uint8(0), uint8(3))
	}
	f.Add("", uint8(0), uint8(0))
	f.Add("AXI", uint8(1), uint8(1))

	f.Fuzz(func(t *testing.T, cursor string, sel, limit uint8) {
		i := int(sel) % len(cursorFilters)
		flt := cursorFilters[i]
		flt.Cursor = cursor
		flt.Limit = int(limit % 8) // 0 means the default
		page, next, err := s.List(ctx, flt)
		if err != nil {
			if prereg.ErrorCode(err) != prereg.Invalid {
				t.Fatalf("List(%+v): %v, want a page or an Invalid error", flt, err)
			}
			if cursor == "" {
				t.Fatalf("List without a cursor refused: %v", err)
			}
		} else {
			if flt.Limit > 0 && len(page) > flt.Limit {
				t.Fatalf("page of %d for limit %d", len(page), flt.Limit)
			}
			if len(page) > 0 {
				at := slices.Index(full[i], page[0].ID)
				if at < 0 || at+len(page) > len(full[i]) {
					t.Fatalf("page %v is not in the full listing %v", ids(page), full[i])
				}
				if !slices.Equal(ids(page), full[i][at:at+len(page)]) {
					t.Fatalf("page %v is not a contiguous run of %v", ids(page), full[i])
				}
				if next == "" && at+len(page) != len(full[i]) {
					t.Fatalf("no next cursor, but the listing goes on after %v", ids(page))
				}
			} else if next != "" {
				t.Fatalf("empty page with a next cursor %q", next)
			}
		}
		items, _, err := s.AuditTrail(ctx, prereg.AuditFilter{Cursor: cursor, Limit: int(limit % 8)})
		if err != nil {
			if prereg.ErrorCode(err) != prereg.Invalid {
				t.Fatalf("AuditTrail(cursor %q): %v, want a page or an Invalid error", cursor, err)
			}
		} else if limit%8 > 0 && len(items) > int(limit%8) {
			t.Fatalf("audit page of %d for limit %d", len(items), limit%8)
		}
	})
}

func ids(rs []prereg.Registration) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
