package suggest_test

import (
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/suggest"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"list", "list", 0}, {"lst", "list", 1}, {"orgnization", "organization", 1},
		{"emial", "email", 2}, {"", "abc", 3}, {"abc", "", 3}, {"é", "e", 1},
		{strings.Repeat("x", 100), "", 64},
	}
	for _, tt := range tests {
		if got := suggest.Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
