package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// testTokens: a token authenticates by the hash of its secret, keeps its
// scope and read-only flag, and stops working the moment it is revoked.
func testTokens(t *testing.T, open Open) {
	s := open(t, Options{})
	ctx := context.Background()
	tok, secret, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, prereg.TokenPrefix) || tok.ID == "" || tok.Name != "help desk" {
		t.Fatalf("created %+v with secret prefix %q", tok, secret[:min(4, len(secret))])
	}
	wide, wideSecret, err := s.CreateToken(ctx, prereg.TokenRequest{Name: "ops"}, "test")
	if err != nil || wide.ID == tok.ID {
		t.Fatalf("second token: %+v %v", wide, err)
	}
	got, ok, err := s.Authenticate(ctx, prereg.HashSecret(secret))
	if err != nil || !ok || got.ID != tok.ID || got.OrganizationID != "org_a" || !got.ReadOnly {
		t.Fatalf("authenticate: %v %v %+v", err, ok, got)
	}
	if got, ok, _ := s.Authenticate(ctx, prereg.HashSecret(wideSecret)); !ok || got.ID != wide.ID || got.OrganizationID != "" || got.ReadOnly {
		t.Fatalf("authenticate the tenant-wide token: %v %+v", ok, got)
	}
	if _, ok, _ := s.Authenticate(ctx, prereg.HashSecret(secret+"x")); ok {
		t.Fatal("wrong secret accepted")
	}
	list, err := s.Tokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("tokens: %+v %v", list, err)
	}
	for _, l := range list {
		if l.ID == tok.ID && (l.OrganizationID != "org_a" || !l.ReadOnly) || strings.Contains(fmt.Sprint(l), secret) {
			t.Errorf("listed %+v", l)
		}
	}
	if _, err := s.RevokeToken(ctx, tok.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Authenticate(ctx, prereg.HashSecret(secret)); ok {
		t.Fatal("revoked token accepted")
	}
	if _, ok, _ := s.Authenticate(ctx, prereg.HashSecret(wideSecret)); !ok {
		t.Fatal("revoking one token stopped another")
	}
	if _, err := s.RevokeToken(ctx, tok.ID, "test"); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("revoking it again: %v", err)
	}
	if list, _ := s.Tokens(ctx); len(list) != 1 || list[0].ID != wide.ID {
		t.Fatalf("tokens after the revoke: %+v", list)
	}
}
