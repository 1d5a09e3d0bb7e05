package prereg_test

import (
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// ValidateEmail holds an address alone to a registration's email rule
// and names only the email field, without echoing the address.
func TestValidateEmail(t *testing.T) {
	for _, tt := range []struct {
		email string
		ok    bool
	}{
		{" Ana.Silva@Example.com ", true},
		{"a+tag@sub.example.co", true},
		{"", false},
		{"   ", false},
		{"org_bbbb", false},
		{"ana@", false},
		{"@example.com", false},
		{"line\nbreak@example.com", false},
		{strings.Repeat("a", 250) + "@b.io", false},
	} {
		err := prereg.ValidateEmail(tt.email)
		if tt.ok {
			if err != nil {
				t.Errorf("%q: %v, want valid", tt.email, err)
			}
			continue
		}
		e, isErr := err.(*prereg.Error)
		if !isErr || e.Code != prereg.Invalid || len(e.Details) != 1 || e.Details[0].Field != "email" || e.Details[0].Value != "" {
			t.Errorf("%q: %#v, want one invalid detail on email with no value", tt.email, err)
		}
	}
}

func TestScrubImport(t *testing.T) {
	r := prereg.ImportReport{
		Errors:   []prereg.RowError{{Line: 2, Value: "Ana@X.io", Message: "ana@x.io: bad"}, {Line: 3, Value: "bo@x.io", Message: "ok"}},
		Warnings: []prereg.RowWarning{{Line: 4, Message: "duplicate of ANA@x.io"}},
	}
	if !prereg.ScrubImport(&r, "ana@x.io") {
		t.Fatal("found nothing")
	}
	for _, s := range []string{r.Errors[0].Value, r.Errors[0].Message, r.Warnings[0].Message} {
		if strings.Contains(prereg.LowerASCII(s), "ana@x.io") || !strings.Contains(s, prereg.ErasedMark) {
			t.Errorf("left %q", s)
		}
	}
	if r.Errors[1].Value != "bo@x.io" {
		t.Errorf("scrubbed another address: %q", r.Errors[1].Value)
	}
	if prereg.ScrubImport(&r, "ana@x.io") {
		t.Error("found the address again after scrubbing")
	}
}
