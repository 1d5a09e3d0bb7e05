package client_test

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/client"
	"github.com/prereg/prereg/internal/httpapi"
	"github.com/prereg/prereg/internal/prereg"
)

const adminToken = "client-admin-token-0123456789-0123456789"

// service is the real router over HTTP on a real store in a temp dir.
func service(t *testing.T) string {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "prereg.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{HookSecrets: []string{"client-hook-secret-0123456789-0123456789"}, AdminToken: adminToken}, httpapi.Stores{
		Logins: store, Registrations: store, SyncQueue: store, Stats: store, Erasures: store,
		Audit: store, Backups: store, Imports: store, Tokens: store, Health: store,
	}).Handler())
	t.Cleanup(func() {
		srv.Close()
		if errs := store.Check(); len(errs) > 0 {
			t.Errorf("Tx.Check: %v", errs)
		}
		store.Close()
	})
	return srv.URL
}

func TestClientCalls(t *testing.T) {
	url := service(t)
	ctx := context.Background()
	c := client.New(url+"/", adminToken)
	body := map[string]any{"email": "ana@example.com", "roles": []string{"viewer"}}
	for _, want := range []prereg.Change{prereg.Created, prereg.Unchanged} {
		var r prereg.Registration
		h, err := c.JSONHeader(ctx, "POST", "/v1/registrations", nil, body, &r)
		if err != nil || prereg.Change(h.Get("X-Prereg-Change")) != want || r.Email != "ana@example.com" {
			t.Fatalf("create: %v, change %q, %+v", err, h.Get("X-Prereg-Change"), r)
		}
	}
	var backup bytes.Buffer
	if err := c.Request(ctx, "GET", "/v1/backup", nil, nil, "", &backup); err != nil || !bytes.Contains(backup.Bytes(), []byte("ana@example.com")) {
		t.Fatalf("backup into a writer: %v, %d bytes", err, backup.Len())
	}

	tests := []struct {
		name   string
		c      *client.Client
		method string
		path   string
		body   any
		code   prereg.Code
		msg    string
	}{
		{"service's error", c, "POST", "/v1/registrations", map[string]any{"email": "x"}, prereg.Invalid, "not valid"},
		{"not found", c, "GET", "/v1/registrations/reg_none", nil, prereg.NotFound, ""},
		{"bad token", client.New(url, "wrong-token-0123456789-0123456789-0123"), "GET", "/v1/stats", nil, prereg.Unauthorized, ""},
		{"nobody there", client.New("http://"+closedAddr(t), adminToken), "GET", "/v1/stats", nil, prereg.Unavailable, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.JSON(ctx, tt.method, tt.path, nil, tt.body, nil)
			if prereg.ErrorCode(err) != tt.code || !strings.Contains(prereg.ErrorMessage(err), tt.msg) {
				t.Fatalf("got %v (%s), want %s with %q", err, prereg.ErrorCode(err), tt.code, tt.msg)
			}
			// The cause is named once, without the method and URL again.
			if strings.Contains(prereg.ErrorMessage(err), `Get "`) {
				t.Fatalf("message repeats the request: %s", prereg.ErrorMessage(err))
			}
		})
	}
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
