package httpapi_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
	"github.com/prereg/prereg/internal/testfs"
	"github.com/prereg/prereg/internal/testio"
)

// A record the store cannot decode is a fault of ours (500 internal, the
// cause in the log under the request ID), not a store that cannot be
// written right now (503).
func TestCorruptRecordIsInternal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prereg.db")
	store, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg, _, err := store.Put(context.Background(), prereg.Input{Email: "ana@example.com", Roles: []string{"r"}}, "api", "test")
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("recs"))
		k, _ := b.Cursor().First()
		return b.Put(k, []byte{0x01, 0xff, 0xff, 0xff})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	store, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var logs testio.Buffer
	srv := newServer(t, httpapi.Config{AdminToken: adminToken, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, storesOf(store))
	defer srv.Close()
	e := &env{t: t, srv: srv, store: store}
	code, raw := e.doHeaders("GET", "/v1/registrations/"+reg.ID, adminToken, nil, map[string]string{"X-Request-ID": "corrupt-1"})
	if code != 500 || decodeErr(t, raw).Error.Code != "internal" || decodeErr(t, raw).Error.Message != "internal error" {
		t.Fatalf("corrupt record: %d %s", code, raw)
	}
	if want := `"msg":"request failed","request_id":"corrupt-1"`; !strings.Contains(logs.String(), want) {
		t.Errorf("no %s in the log:\n%s", want, logs.String())
	}
}

// A backup whose audit entry cannot be written is still delivered, and the
// lost audit entry is logged under the request ID.
func TestBackupAuditFailureIsLogged(t *testing.T) {
	dir := testfs.Tiny(t, "512k")
	store, err := boltstore.Open(filepath.Join(dir, "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fillDisk(t, store)
	var logs testio.Buffer
	srv := newServer(t, httpapi.Config{AdminToken: adminToken, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, storesOf(store))
	defer srv.Close()
	e := &env{t: t, srv: srv, store: store}
	code, raw := e.doHeaders("GET", "/v1/backup", adminToken, nil, map[string]string{"X-Request-ID": "backup-1"})
	if code != 200 || int64(len(raw)) != store.Size() {
		t.Fatalf("backup: %d, %d bytes of %d", code, len(raw), store.Size())
	}
	// The client has the whole copy before the handler writes the audit
	// entry: Close waits for the handler to return.
	srv.Close()
	log := logs.String()
	if !strings.Contains(log, `"request_id":"backup-1"`) || !strings.Contains(log, `"msg":"audit entry not written"`) {
		t.Fatalf("lost audit entry not logged:\n%s", log)
	}
}
