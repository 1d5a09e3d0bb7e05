package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/client"
	"github.com/prereg/prereg/internal/config"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

const adminTestToken = "admin-test-token-0123456789-0123456789"

// testStore is a real store in a temp dir, checked when the test ends.
func testStore(t *testing.T) (*boltstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prereg.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if errs := s.Check(); len(errs) > 0 {
			t.Errorf("Tx.Check: %v", errs)
		}
		s.Close()
	})
	return s, path
}

// admins are the two implementations of admin, each on a store of its own:
// the HTTP client in front of the real router, and the file adapter.
func admins(t *testing.T) map[string]admin {
	remote, path := testStore(t)
	api := httpapi.Config{HookSecrets: []string{"admin-test-hook-secret-0123456789-0123456789"}, AdminToken: adminTestToken}
	wireCSV(config.Serve{DB: path}, remote, &api)
	srv := httptest.NewServer(httpapi.New(api, apiStores(remote)).Handler())
	t.Cleanup(srv.Close)
	file, path := testStore(t)
	e := &env{getenv: func(string) string { return "" }}
	return map[string]admin{
		"client": client.New(srv.URL, adminTestToken),
		"local":  &local{s: file, tmp: filepath.Dir(path), e: e},
	}
}

// TestAdminImplementationsAgree runs one scenario on both implementations:
// the CLI's commands rely on them answering alike.
func TestAdminImplementationsAgree(t *testing.T) {
	for name, a := range admins(t) {
		t.Run(name, func(t *testing.T) { adminScenario(t, a) })
	}
}

func adminScenario(t *testing.T, a admin) {
	ctx := context.Background()
	in := prereg.Input{Email: "ana@example.com", OrganizationID: "org_a", Roles: []string{"viewer"}}
	for _, want := range []prereg.Change{prereg.Created, prereg.Unchanged} {
		r, ch, err := a.Put(ctx, in)
		if err != nil || ch != want || r.Email != in.Email || r.Status != prereg.StatusPending {
			t.Fatalf("Put: %+v %q %v, want change %q", r, ch, err, want)
		}
	}
	var progress int64
	csv := "email,roles\nbo@example.com,admin\nnot-an-address,admin\n"
	rep, err := a.Import(ctx, strings.NewReader(csv), prereg.ImportOptions{Progress: func(n int64) { progress = n }})
	if err != nil || rep.Created != 1 || rep.Rejected != 1 || progress < int64(len(csv)) {
		t.Fatalf("Import: %+v %v, progress %d of %d bytes", rep, err, progress, len(csv))
	}
	if rep2, err := a.ImportReport(ctx, rep.ImportID); err != nil || rep2.ImportID != rep.ImportID || rep2.Created != 1 {
		t.Fatalf("ImportReport: %+v %v", rep2, err)
	}
	if sums, _, err := a.Imports(ctx, prereg.ImportFilter{Limit: 10}); err != nil || len(sums) != 1 || sums[0].ImportID != rep.ImportID {
		t.Fatalf("Imports: %+v %v", sums, err)
	}
	items, next, err := a.List(ctx, prereg.Filter{OrganizationID: "org_a", OrganizationSet: true, Limit: 10})
	if err != nil || len(items) != 1 || next != "" || items[0].Email != in.Email {
		t.Fatalf("List org_a: %+v %q %v", items, next, err)
	}
	items, next, err = a.List(ctx, prereg.Filter{Limit: 1})
	if err != nil || len(items) != 1 || next == "" {
		t.Fatalf("List page of 1: %+v %q %v", items, next, err)
	}
	r, err := a.Revoke(ctx, items[0].ID, false)
	if err != nil || r.Status != prereg.StatusRevoked {
		t.Fatalf("Revoke: %+v %v", r, err)
	}
	if _, err := a.Revoke(ctx, "reg_missing", false); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("Revoke of a missing ID: %v, want not_found", err)
	}
	if err := a.RetrySync(ctx, "reg_missing"); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("RetrySync of a missing ID: %v, want not_found", err)
	}
	if err := a.RetrySync(ctx, r.ID); prereg.ErrorCode(err) != prereg.Conflict {
		t.Fatalf("RetrySync of a revoked registration: %v, want conflict", err)
	}
	st, err := a.Stats(ctx, prereg.StatsFilter{})
	if err != nil || st.Overall.Total != 2 || st.Overall.Revoked != 1 {
		t.Fatalf("Stats: %+v %v", st, err)
	}
	var out bytes.Buffer
	if err := a.Export(ctx, &out, prereg.Filter{Status: prereg.StatusPending}); err != nil || strings.Count(out.String(), "@example.com") != 1 {
		t.Fatalf("Export pending: %v\n%s", err, out.String())
	}
	adminTokens(t, a)
	er, err := a.Erase(ctx, "bo@example.com")
	if err != nil || len(er.Registrations) != 1 {
		t.Fatalf("Erase: %+v %v", er, err)
	}
	trail, _, err := a.AuditTrail(ctx, prereg.AuditFilter{Action: prereg.AuditErased, Limit: 10})
	if err != nil || len(trail) != 1 {
		t.Fatalf("AuditTrail erased: %+v %v", trail, err)
	}
	out.Reset()
	if err := a.Backup(ctx, &out); err != nil || out.Len() == 0 {
		t.Fatalf("Backup: %v, %d bytes", err, out.Len())
	}
}

func adminTokens(t *testing.T, a admin) {
	ctx := context.Background()
	tok, secret, err := a.CreateToken(ctx, prereg.TokenRequest{Name: "ci", ReadOnly: true})
	if err != nil || tok.ID == "" || tok.Name != "ci" || !tok.ReadOnly || secret == "" {
		t.Fatalf("CreateToken: %+v %q %v", tok, secret, err)
	}
	toks, err := a.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].ID != tok.ID {
		t.Fatalf("Tokens: %+v %v", toks, err)
	}
	if err := a.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := a.RevokeToken(ctx, tok.ID); prereg.ErrorCode(err) != prereg.NotFound {
		t.Fatalf("RevokeToken twice: %v, want not_found", err)
	}
}
