package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/prereg"
)

// A schema 4 store may hold records whose ID is not their key, mapped by
// its idx_legacy_id table: migrate4 gives each its key as ID, keeps its
// grant entry in step and drops the table.
func TestMigrate4GivesLegacyIDsTheirKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "prereg.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, prereg.Input{Email: "ana@example.com", Roles: []string{"r"}}, "api", "test"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Login(ctx, prereg.Login{UserID: "auth0|ana", Email: "ana@example.com"}, true); err != nil || res.Outcome != prereg.OutcomeGranted {
		t.Fatalf("claim: %v %+v", err, res.HookResult)
	}
	k := prereg.RegistrationKey("", "ana@example.com")
	const legacy = "reg_legacyidabcdefghijklmnop"
	// Rewrite the record and its grant entry under the legacy ID, as a
	// schema 4 store kept them.
	err = s.db.Update(func(tx *bolt.Tx) error {
		r, err := decodeReg(tx.Bucket(bRecs).Get(k[:]))
		if err != nil {
			return err
		}
		r.ID = legacy
		raw, err := encodeReg(r)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bRecs).Put(k[:], raw); err != nil {
			return err
		}
		if err := tx.Bucket(bByUser).Put(withKey(key("auth0|ana", ""), k), encodeGrant(r)); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bLegacyID4)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(legacy), k[:]); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(keySchema, be64(4))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path, Options{Now: func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckIndexesForTest(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, k.ID())
	if err != nil || r.Email != "ana@example.com" || r.GrantedTo != "auth0|ana" {
		t.Fatalf("get by key: %v %+v", err, r)
	}
	res, err := s.Login(ctx, prereg.Login{UserID: "auth0|ana", Email: "ana@example.com"}, true)
	if err != nil || res.Outcome != prereg.OutcomeAlreadyGranted || len(res.Grants) != 1 || res.Grants[0].RegistrationID != k.ID() {
		t.Fatalf("login after migration: %v %+v", err, res.HookResult)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bLegacyID4) != nil {
			t.Error("idx_legacy_id still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Each schema from oldestSchema up has the step that leaves it.
func TestMigrationsReachSchemaVersion(t *testing.T) {
	if got := oldestSchema + len(migrations); got != SchemaVersion {
		t.Fatalf("oldestSchema %d + %d migrations = %d, want SchemaVersion %d", oldestSchema, len(migrations), got, SchemaVersion)
	}
}
