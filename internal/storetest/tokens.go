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
	f := &tokenFlow{s: open(t, Options{})}
	runSteps(t,
		step{"Create", f.create},
		step{"Authenticate", f.authenticate},
		step{"List", f.list},
		step{"Revoke", f.revoke},
	)
}

// tokenFlow is what the steps of testTokens hand on: an organization's
// read-only token and a tenant-wide one, with their secrets.
type tokenFlow struct {
	s                  Store
	tok, wide          prereg.Token
	secret, wideSecret string
}

func (f *tokenFlow) create(t *testing.T) {
	ctx := context.Background()
	tok, secret, err := f.s.CreateToken(ctx, prereg.TokenRequest{Name: "help desk", OrganizationID: "org_a", ReadOnly: true}, "test")
	noErr(t, err)
	expect(t, strings.HasPrefix(secret, prereg.TokenPrefix) && tok.ID != "" && tok.Name == "help desk",
		"created %+v with secret prefix %q", tok, secret[:min(4, len(secret))])
	wide, wideSecret, err := f.s.CreateToken(ctx, prereg.TokenRequest{Name: "ops"}, "test")
	expect(t, err == nil && wide.ID != tok.ID, "second token: %+v %v", wide, err)
	f.tok, f.secret, f.wide, f.wideSecret = tok, secret, wide, wideSecret
}

func (f *tokenFlow) authenticate(t *testing.T) {
	ctx := context.Background()
	got, ok, err := f.s.Authenticate(ctx, prereg.HashSecret(f.secret))
	expect(t, err == nil && ok && got.ID == f.tok.ID && got.OrganizationID == "org_a" && got.ReadOnly, "authenticate: %v %v %+v", err, ok, got)
	got, ok, _ = f.s.Authenticate(ctx, prereg.HashSecret(f.wideSecret))
	expect(t, ok && got.ID == f.wide.ID && got.OrganizationID == "" && !got.ReadOnly, "authenticate the tenant-wide token: %v %+v", ok, got)
	_, ok, _ = f.s.Authenticate(ctx, prereg.HashSecret(f.secret+"x"))
	expect(t, !ok, "wrong secret accepted")
}

func (f *tokenFlow) list(t *testing.T) {
	list, err := f.s.Tokens(context.Background())
	expect(t, err == nil && len(list) == 2, "tokens: %+v %v", list, err)
	for _, l := range list {
		report(t, !(l.ID == f.tok.ID && (l.OrganizationID != "org_a" || !l.ReadOnly) || strings.Contains(fmt.Sprint(l), f.secret)), "listed %+v", l)
	}
}

func (f *tokenFlow) revoke(t *testing.T) {
	ctx := context.Background()
	_, err := f.s.RevokeToken(ctx, f.tok.ID, "test")
	noErr(t, err)
	_, ok, _ := f.s.Authenticate(ctx, prereg.HashSecret(f.secret))
	expect(t, !ok, "revoked token accepted")
	_, ok, _ = f.s.Authenticate(ctx, prereg.HashSecret(f.wideSecret))
	expect(t, ok, "revoking one token stopped another")
	_, err = f.s.RevokeToken(ctx, f.tok.ID, "test")
	expect(t, prereg.ErrorCode(err) == prereg.NotFound, "revoking it again: %v", err)
	list, _ := f.s.Tokens(ctx)
	expect(t, len(list) == 1 && list[0].ID == f.wide.ID, "tokens after the revoke: %+v", list)
}
