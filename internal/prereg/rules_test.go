package prereg_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prereg/prereg/internal/prereg"
)

// CONTRACT §1 v2: matching folds A-Z only and trims ASCII white space only.
func TestEmailKeyFoldsASCIIOnly(t *testing.T) {
	tests := []struct{ in, want string }{
		{" \tAna.Silva@Example.COM\r\n", "ana.silva@example.com"},
		{"\u212A1@corp.example", "\u212A1@corp.example"}, // Kelvin sign stays
		{"\u01301@corp.example", "\u01301@corp.example"}, // I with dot stays
		{"\u00dcn\u00efcode@Example.com", "\u00dcn\u00efcode@example.com"},
		{"\u00a0k1@corp.example", "\u00a0k1@corp.example"}, // no-break space is not trimmed
		{"k1@corp.example\u0085", "k1@corp.example\u0085"},
		{"k1@corp.example\u2028", "k1@corp.example\u2028"},
		{"\u3000k1@corp.example", "\u3000k1@corp.example"},
	}
	for _, tt := range tests {
		if got := prereg.EmailKey(tt.in); got != tt.want {
			t.Errorf("EmailKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if prereg.RegistrationKey("", tt.in) != prereg.RegistrationKey("", tt.want) {
			t.Errorf("RegistrationKey(%q) differs from that of its EmailKey", tt.in)
		}
	}
	if prereg.RegistrationKey("", "\u212A1@corp.example") == prereg.RegistrationKey("", "k1@corp.example") {
		t.Error("the Kelvin sign shares k's key")
	}
}

// An address holding a control, format or non-ASCII white-space character
// is refused, naming the field and the character, and never matches.
func TestAddressCharacters(t *testing.T) {
	tests := []struct {
		email string
		bad   bool
	}{
		{"k1@corp.example", false},
		{" K1@Corp.Example\t", false},
		{"\u212A1@corp.example", false}, // a letter: stored as its own address
		{"\u00a0k1@corp.example", true},
		{"k1@corp.example\u0085", true},
		{"k1@corp.example\u2028", true},
		{"k1\u3000@corp.example", true},
		{"\u202Ek1@corp.example", true},
		{"k1\u200b@corp.example", true},
		{"k1@corp.example\ufeff", true},
		{"k1\x7f@corp.example", true},
		{"k1\u009f@corp.example", true},
		{"k\t1@corp.example", true},
	}
	for _, tt := range tests {
		in := prereg.Input{Email: tt.email, Roles: []string{"r"}}.Normalize()
		err := in.Validate()
		var pe *prereg.Error
		switch {
		case !tt.bad && err != nil && strings.Contains(err.Error(), "not allowed in an address"):
			t.Errorf("%q refused for its characters: %v", tt.email, err)
		case tt.bad && (!errors.As(err, &pe) || len(pe.Details) != 1 || pe.Details[0].Field != "email" || !strings.Contains(pe.Details[0].Message, "U+")):
			t.Errorf("%q: got %v, want a field error on email naming the character", tt.email, err)
		}
		l := prereg.Login{UserID: "u", Email: tt.email}
		if got := l.MatchKey(); (got == "") != tt.bad {
			t.Errorf("MatchKey(%q) = %q", tt.email, got)
		}
	}
	if got := (prereg.Login{UserID: "u", Email: " K1@Corp.Example\n"}).MatchKey(); got != "k1@corp.example" {
		t.Errorf("MatchKey = %q", got)
	}
}

// CONTRACT §2 v2: user_id is valid UTF-8 of 1 to 512 bytes, no control
// character, no U+FFFD.
func TestLoginUserID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"auth0|63d16bb22b2c1a2ae38bad61", true},
		{"samlp|corp|José", true},
		{strings.Repeat("u", 512), true},
		{strings.Repeat("u", 513), false},
		{"", false},
		{"victim\ufffd", false},
		{"victim\xff", false},
		{"victim\xed\xa0\x80", false}, // a surrogate in UTF-8 form
		{"victim\x00", false},
		{"victim\u0085", false},
	}
	for _, tt := range tests {
		err := prereg.Login{UserID: tt.id}.Validate()
		var pe *prereg.Error
		if tt.ok {
			if err != nil {
				t.Errorf("%q: %v", tt.id, err)
			}
			continue
		}
		if !errors.As(err, &pe) || pe.Code != prereg.Invalid || len(pe.Details) != 1 || pe.Details[0].Field != "user_id" {
			t.Errorf("%q: got %v, want an invalid user_id", tt.id, err)
		}
	}
	long := prereg.Login{UserID: "u", Email: strings.Repeat("a", prereg.MaxLoginEmailBytes-5) + "@b.io" + "x"}
	err := long.Validate()
	if err == nil || !strings.Contains(err.Error(), "longer than 318 bytes") {
		t.Errorf("long email: %v", err)
	}
}

// CONTRACT §1 v2: expires_at from 2000-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z inclusive; outside is a field error.
func TestExpiryRange(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when refused
	}{
		{"2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z"},
		{"9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"},
		{"9999-12-31", "9999-12-31T23:59:59Z"},
		{"2000-01-01T01:00:00+01:00", "2000-01-01T00:00:00Z"},
		{"1999-12-31T23:59:59Z", ""},
		{"1999-12-31", ""},
		{"9999-12-31T23:59:59.000000001Z", ""},
		{"9999-12-31T23:59:59-00:01", ""},
		{"1970-01-01T00:00:00Z", ""},
		{"1600-01-01", ""},
	}
	for _, tt := range tests {
		exp, err := prereg.ParseExpiry(tt.in)
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		in := prereg.Input{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: exp}.Normalize()
		err = in.Validate()
		if tt.want != "" {
			if err != nil || prereg.FormatExpiry(in.ExpiresAt) != tt.want {
				t.Errorf("%q: %v %s, want %s", tt.in, err, prereg.FormatExpiry(in.ExpiresAt), tt.want)
			}
			continue
		}
		var pe *prereg.Error
		if !errors.As(err, &pe) || len(pe.Details) != 1 || pe.Details[0].Field != "expires_at" ||
			!strings.Contains(pe.Details[0].Message, "2000-01-01T00:00:00Z to 9999-12-31T23:59:59Z") || pe.Details[0].Value != prereg.FormatExpiry(exp) {
			t.Errorf("%q: got %#v, want a field error on expires_at", tt.in, err)
		}
	}
	if !prereg.ExpiryInRange(time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 0))) {
		t.Error("the upper bound is refused")
	}
}

// Each limit's message quotes the limit its check applies.
func TestLimitMessages(t *testing.T) {
	roles := make([]string, prereg.MaxRoles+1)
	for i := range roles {
		roles[i] = "r" + strings.Repeat("x", i)
	}
	tests := []struct {
		in   prereg.Input
		want string
	}{
		{prereg.Input{Email: strings.Repeat("a", prereg.MaxEmailBytes-4) + "@b.io", Roles: []string{"r"}}, "longer than 254 bytes"},
		{prereg.Input{Email: "a@b.io", Roles: roles}, "more than 50 roles"},
		{prereg.Input{Email: "a@b.io"}, "at least one role is required"},
		{prereg.Input{Email: "a@b.io", Roles: []string{"r"}, Connection: strings.Repeat("c", prereg.MaxConnectionChars+1)}, "longer than 128 characters"},
	}
	for _, tt := range tests {
		if err := tt.in.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40v: %v, want %q", tt.in, err, tt.want)
		}
	}
	ok := prereg.Input{Email: strings.Repeat("a", prereg.MaxEmailBytes-5) + "@b.io", Roles: roles[:prereg.MaxRoles], Connection: strings.Repeat("c", prereg.MaxConnectionChars)}
	if err := ok.Validate(); err != nil {
		t.Errorf("at every limit: %v", err)
	}
}
