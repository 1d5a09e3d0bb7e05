package dumpio_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/prereg/prereg/internal/dumpio"
	"github.com/prereg/prereg/internal/prereg"
)

var (
	t0 = time.Date(2026, 3, 1, 12, 30, 15, 123456789, time.UTC)
	t1 = t0.Add(90 * time.Minute)
)

// sample holds one item of every kind, every field set.
func sample() []prereg.DumpItem {
	hash := [32]byte{1, 2, 3, 250}
	return []prereg.DumpItem{
		{Kind: prereg.DumpSecret, Secret: &prereg.Secret{Name: "hook-secret", Value: []byte{0, 1, 0xff, '\n'}}},
		{Kind: prereg.DumpToken, Token: &prereg.StoredToken{
			Token: prereg.Token{ID: "tok1", Name: "ci\nbot", OrganizationID: "org_1", ReadOnly: true, CreatedAt: t0, LastUsedAt: &t1},
			Hash:  hash, Revoked: true,
		}},
		{Kind: prereg.DumpToken, Token: &prereg.StoredToken{Token: prereg.Token{ID: "tok2", CreatedAt: t0}}},
		{Kind: prereg.DumpRegistration, Registration: &prereg.Registration{
			ID: "abc", Email: "Ann@Example.com", OrganizationID: "org_1", Roles: []string{"admin", "viewer"},
			Connection: "db", ExpiresAt: &t1, Status: prereg.StatusGranted, GrantedTo: "auth0|1", GrantedAt: &t1,
			CreatedAt: t0, UpdatedAt: t1, Source: "import:imp1", Sync: prereg.SyncDone,
			SyncedRoleIDs: []string{"rol_1", "rol_2"},
		}},
		{Kind: prereg.DumpRegistration, Registration: &prereg.Registration{ID: "def", Email: "b@example.com", Status: prereg.StatusPending, CreatedAt: t0, UpdatedAt: t0}},
		{Kind: prereg.DumpJob, Job: &prereg.SyncJob{ID: "job1", Kind: "grant", RegistrationID: "abc", UserID: "auth0|1", Roles: []string{"admin"}, Attempts: 3, NotBefore: t1, LastError: "429", CreatedAt: t0}},
		{Kind: prereg.DumpImport, Import: &prereg.ImportReport{
			ImportSummary: prereg.ImportSummary{ImportID: "imp1", Rows: 3, Created: 2, Rejected: 1, Organizations: []string{"org_1"}, Actor: "token:tok1", StartedAt: t0, FinishedAt: t1},
			Errors:        []prereg.RowError{{Line: 3, Column: "email", Value: "x", Message: "not an address"}},
			Warnings:      []prereg.RowWarning{{Line: 2, Message: "duplicate"}},
		}},
		{Kind: prereg.DumpAudit, Audit: &prereg.AuditEntry{ID: "aud1", At: t0, Actor: "token:tok1", Action: "import", OrganizationID: "org_1", RegistrationID: "abc", Summary: "2 created"}},
	}
}

func write(t testing.TB, items []prereg.DumpItem) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := dumpio.NewWriter(&buf)
	for _, it := range items {
		if err := w.Write(it); err != nil {
			t.Fatalf("Write(%s): %v", it.Kind, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func readAll(r io.Reader) ([]prereg.DumpItem, error) {
	rd, err := dumpio.NewReader(r)
	if err != nil {
		return nil, err
	}
	var items []prereg.DumpItem
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []prereg.DumpItem
	}{
		{"every kind", sample()},
		{"empty store", nil},
		{"registrations only", sample()[3:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := write(t, tc.items)
			if !dumpio.Sniff(b) {
				t.Errorf("Sniff does not recognise the stream %q", b[:min(len(b), 40)])
			}
			got, err := readAll(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("read back: %v\n%s", err, b)
			}
			if !reflect.DeepEqual(got, tc.items) {
				t.Errorf("read back\n%+v\nwant\n%+v", got, tc.items)
			}
		})
	}
}

// The stream keeps what the API's JSON leaves out and writes bytes as
// base64, not as arrays of numbers.
func TestWireForm(t *testing.T) {
	s := string(write(t, sample()))
	for _, want := range []string{
		`"synced_role_ids":["rol_1","rol_2"]`,
		`"hash":"AQID+gAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`,
		`"created_at":"2026-03-01T12:30:15.123456789Z"`,
		`{"kind":"end","counts":{"audit":1,"import":1,"job":1,"registration":2,"secret":1,"token":2}}`,
		`"secret":{"name":"hook-secret","value":"AAH/Cg=="}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("stream lacks %s:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "\n"); n != len(sample())+2 {
		t.Errorf("%d lines, want %d (header, items, end)", n, len(sample())+2)
	}
}

func TestWriterRefuses(t *testing.T) {
	reg := sample()[3]
	for _, tc := range []struct {
		name  string
		items []prereg.DumpItem
		want  string
	}{
		{"kinds out of order", []prereg.DumpItem{reg, sample()[0]}, "a secret item after registration items"},
		{"no payload", []prereg.DumpItem{{Kind: prereg.DumpToken}}, "has 0 payloads"},
		{"payload of another kind", []prereg.DumpItem{{Kind: prereg.DumpToken, Registration: reg.Registration}}, "lacks its payload"},
		{"two payloads", []prereg.DumpItem{{Kind: prereg.DumpRegistration, Registration: reg.Registration, Audit: &prereg.AuditEntry{}}}, "has 2 payloads"},
		{"unknown kind", []prereg.DumpItem{{Kind: "user", Audit: &prereg.AuditEntry{}}}, `unknown dump kind "user"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dumpio.NewWriter(io.Discard)
			var err error
			for _, it := range tc.items {
				if err = w.Write(it); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReaderRefuses(t *testing.T) {
	good := strings.Split(strings.TrimSuffix(string(write(t, sample())), "\n"), "\n")
	join := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	end := good[len(good)-1]
	body := good[1 : len(good)-1]
	for _, tc := range []struct {
		name, stream, want string
	}{
		{"empty", "", "dump stream is empty"},
		{"bbolt or other file", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00", "line 1: not a prereg dump"},
		{"CSV export", "email,organization_id\n", "line 1: not a prereg dump"},
		{"newer version", join(`{"format":"prereg-dump","version":2}`, end), "line 1: dump format version 2, this prereg reads version 1"},
		{"cut short", join(good[:5]...), "line 6: the stream ends without its end line"},
		{"no newline and cut", strings.Join(good[:3], "\n"), "line 4: the stream ends without its end line"},
		{"broken JSON", join(good[0], good[1], `{"kind":"token","token":{"id":`, end), "line 3: invalid JSON"},
		{"unknown field", join(good[0], `{"kind":"secret","secret":{"name":"a","value":"","colour":1}}`, end), `line 2: invalid JSON: json: unknown field "colour"`},
		{"unknown kind", join(good[0], `{"kind":"user","audit":{}}`, end), `line 2: unknown kind "user"`},
		{"payload of another kind", join(good[0], `{"kind":"token","audit":{"id":"x"}}`, end), `line 2: a token line must hold exactly the "token" object`},
		{"two payloads", join(good[0], `{"kind":"audit","audit":{"id":"x"},"job":{"id":"y"}}`, end), `line 2: a audit line must hold exactly`},
		{"short hash", join(good[0], `{"kind":"token","token":{"id":"t","hash":"AQI="}}`, end), `line 2: token "t": hash of 2 bytes, want 32`},
		{"bad base64", join(good[0], `{"kind":"secret","secret":{"name":"a","value":"!!"}}`, end), "line 2: invalid JSON"},
		{"bad time", join(good[0], `{"kind":"audit","audit":{"id":"x","at":"yesterday"}}`, end), "line 2: invalid JSON"},
		{"out of order", join(good[0], body[3], body[0], end), "line 3: a secret item after registration items"},
		{"counts disagree", join(slices.Concat(good[:3], []string{end})...), "line 4: end line counts 2 token items, the stream held 1"},
		{"data after end", join(slices.Concat(good, []string{`{"kind":"secret"}`})...), "line 11: data after the end line"},
		{"two objects on a line", join(good[0], body[0]+`{}`, end), "line 2: data after the JSON object"},
		{"end without counts", join(good[0], `{"kind":"end"}`), "line 2: end line without counts"},
		{"end counts an unknown kind", join(good[0], `{"kind":"end","counts":{"user":0}}`), `line 2: end line counts an unknown kind "user"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(strings.NewReader(tc.stream))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestReaderRefusesLongLine(t *testing.T) {
	s := `{"format":"prereg-dump","version":1}` + "\n" + strings.Repeat("x", dumpio.MaxLineBytes+1)
	_, err := readAll(strings.NewReader(s))
	if err == nil || !strings.Contains(err.Error(), "line 2: longer than") {
		t.Errorf("got %v, want line 2 refused as too long", err)
	}
}

// A reader's error stays: Next after a failure does not go on past the
// broken line.
func TestReaderErrorSticks(t *testing.T) {
	rd, err := dumpio.NewReader(strings.NewReader(`{"format":"prereg-dump","version":1}` + "\n{\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := rd.Next()
	_, err2 := rd.Next()
	if err1 == nil || !errors.Is(err2, err1) {
		t.Errorf("Next: %v, then %v; want the same error twice", err1, err2)
	}
}

// Sniff tells a stream from a real bbolt file, which restore must also
// accept.
func TestSniffBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prereg.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dumpio.Sniff(b[:64]) {
		t.Error("Sniff takes a bbolt file for a dump stream")
	}
	if dumpio.Sniff([]byte(`{"format":"prereg`)) {
		t.Error("Sniff accepts a prefix too short to tell")
	}
}

// FuzzReader: no input makes the reader panic or loop, and whatever it
// reads whole is written back to a stream that reads the same.
func FuzzReader(f *testing.F) {
	good := write(f, sample())
	f.Add(good)
	f.Add(write(f, nil))
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"prereg-dump","version":1}` + "\n" + `{"kind":"end","counts":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := readAll(bytes.NewReader(b))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "dump stream is empty") {
				t.Fatalf("error does not name the line: %v", err)
			}
			return
		}
		again, err := readAll(bytes.NewReader(write(t, items)))
		if err != nil {
			t.Fatalf("rewritten stream unreadable: %v", err)
		}
		if !reflect.DeepEqual(again, items) {
			t.Fatalf("rewritten stream reads\n%+v\nwant\n%+v", again, items)
		}
	})
}
