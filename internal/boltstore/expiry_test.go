package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/boltstore"
	"github.com/prereg/prereg/internal/prereg"
)

// CONTRACT §1 v2: an expiry at either end of the accepted range is stored,
// read back, listed, counted and compared on the hook exactly as
// accepted, also after the store is reopened.
func TestExpiryBoundsRoundTrip(t *testing.T) {
	tests := []struct {
		email, in, want string
		status          prereg.Status
	}{
		{"first@example.com", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", prereg.StatusExpired},
		{"last@example.com", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", prereg.StatusPending},
		{"never@example.com", "9999-12-31", "9999-12-31T23:59:59Z", prereg.StatusPending},
		{"nanos@example.com", "9999-12-31T23:59:58.999999999Z", "9999-12-31T23:59:58.999999999Z", prereg.StatusPending},
	}
	path := filepath.Join(t.TempDir(), "prereg.db")
	opts := boltstore.Options{Now: func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }}
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		exp, err := prereg.ParseExpiry(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		put(t, s, prereg.Input{Email: tt.email, Roles: []string{"r"}, ExpiresAt: exp})
	}
	s.Close()
	s = openPath(t, path, opts) // read back from the file, not from memory
	ctx := context.Background()
	listed := map[string]prereg.Registration{}
	items, _, err := s.List(ctx, prereg.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range items {
		listed[r.Email] = r
	}
	var want prereg.Counts
	for _, tt := range tests {
		r, err := s.Get(ctx, prereg.RegistrationID("", tt.email))
		if err != nil || prereg.FormatExpiry(r.ExpiresAt) != tt.want || r.Status != tt.status {
			t.Errorf("get %s: %v %s %s, want %s %s", tt.email, err, prereg.FormatExpiry(r.ExpiresAt), r.Status, tt.want, tt.status)
		}
		if l := listed[tt.email]; prereg.FormatExpiry(l.ExpiresAt) != tt.want || l.Status != tt.status {
			t.Errorf("list %s: %s %s, want %s %s", tt.email, prereg.FormatExpiry(l.ExpiresAt), l.Status, tt.want, tt.status)
		}
		res, err := s.Login(ctx, prereg.Login{UserID: "auth0|" + tt.email, Email: tt.email}, true)
		if wantOut := map[prereg.Status]prereg.Outcome{prereg.StatusPending: prereg.OutcomeGranted, prereg.StatusExpired: prereg.OutcomeNoMatch}[tt.status]; err != nil || res.Outcome != wantOut {
			t.Errorf("login %s: %v %s, want %s", tt.email, err, res.Outcome, wantOut)
		}
		want.Total++
		if tt.status == prereg.StatusExpired {
			want.Expired++
		} else {
			want.Granted++
		}
	}
	st, err := s.Stats(ctx, prereg.StatsFilter{})
	if err != nil || st.Overall != want {
		t.Errorf("stats: %v %+v, want %+v", err, st.Overall, want)
	}
}

// The list, the hook and the stats agree on a registration expiring
// within the current second: its nanoseconds count.
func TestExpiryWithinTheSecond(t *testing.T) {
	c := &clock{}
	base := time.Date(2027, 1, 31, 18, 0, 0, 0, time.UTC)
	c.set(base)
	s := open(t, boltstore.Options{Now: c.now})
	ctx := context.Background()
	exp := base.Add(500 * time.Millisecond)
	put(t, s, prereg.Input{Email: "half@example.com", Roles: []string{"r"}, ExpiresAt: &exp})
	for _, tt := range []struct {
		at     time.Duration
		status prereg.Status
	}{
		{0, prereg.StatusPending},
		{499 * time.Millisecond, prereg.StatusPending},
		{500 * time.Millisecond, prereg.StatusExpired},
		{999 * time.Millisecond, prereg.StatusExpired},
		{time.Second, prereg.StatusExpired},
	} {
		c.set(base.Add(tt.at))
		r, err := s.Get(ctx, prereg.RegistrationID("", "half@example.com"))
		if err != nil || r.Status != tt.status {
			t.Fatalf("+%v: get %v %s, want %s", tt.at, err, r.Status, tt.status)
		}
		st, err := s.Stats(ctx, prereg.StatsFilter{})
		if err != nil || (st.Overall.Expired == 1) != (tt.status == prereg.StatusExpired) || st.Overall.Pending+st.Overall.Expired != 1 {
			t.Errorf("+%v: stats %v %+v, want the registration %s", tt.at, err, st.Overall, tt.status)
		}
	}
}
