package boltstore_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// testdata/store/v1.db was written by prereg at schema 1 (before the sync
// index): four registrations (pending, granted with sync done in org_fixture1,
// granted with sync failed, revoked), a limited token and their audit trail.
func TestOpenMigratesSchema1Store(t *testing.T) {
	src, err := os.Open("../../testdata/store/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "v1.db")
	dst, _ := os.Create(path)
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()

	now := func() time.Time { return time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC) }
	s, err := boltstore.Open(path, boltstore.Options{Now: now, SyncEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if errs := s.Check(); len(errs) > 0 {
			t.Errorf("Tx.Check: %v", errs)
		}
		s.Close()
	}()
	ctx := context.Background()
	tests := []struct {
		name string
		f    boltstore.Filter
		want []string
	}{
		{"failed syncs (new index)", boltstore.Filter{Sync: prereg.SyncFailed}, []string{prereg.RegistrationID("", "failed@example.com")}},
		{"done syncs (new index)", boltstore.Filter{Sync: prereg.SyncDone}, []string{prereg.RegistrationID("org_fixture1", "granted@example.com")}},
		{"pending", boltstore.Filter{Status: prereg.StatusPending}, []string{prereg.RegistrationID("", "pending@example.com")}},
		{"revoked", boltstore.Filter{Status: prereg.StatusRevoked}, []string{prereg.RegistrationID("", "revoked@example.com")}},
	}
	for _, tt := range tests {
		items, _, err := s.List(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(items) != len(tt.want) || items[0].ID != tt.want[0] {
			t.Fatalf("%s: got %+v, want %v", tt.name, items, tt.want)
		}
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|granted", Email: "granted@example.com", OrganizationID: "org_fixture1"}, true)
	if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted || len(res.Roles) != 2 {
		t.Fatalf("old grant after migration: %v %+v", err, res)
	}
	toks, err := s.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].OrganizationID != "org_fixture1" {
		t.Fatalf("tokens: %v %+v", err, toks)
	}
	// The index keeps following changes after the migration.
	if _, err := s.RetrySync(ctx, prereg.RegistrationID("", "failed@example.com"), "test"); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := s.List(ctx, boltstore.Filter{Sync: prereg.SyncFailed}); len(items) != 0 {
		t.Fatalf("failed after retry: %+v", items)
	}
	if items, _, _ := s.List(ctx, boltstore.Filter{Sync: prereg.SyncPending}); len(items) != 1 {
		t.Fatalf("pending sync after retry: %+v", items)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSchemaForTest(boltstore.SchemaVersion + 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = boltstore.Open(path, boltstore.Options{})
	if err == nil || prereg.ErrorMessage(err) == "" || !containsAll(prereg.ErrorMessage(err), "newer prereg") {
		t.Fatalf("newer schema: %v", err)
	}
}
