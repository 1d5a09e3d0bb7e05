package bytesize_test

import (
	"testing"

	"github.com/prereg/prereg/internal/bytesize"
)

func TestParseAndFormat(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256MiB", 256 << 20, true}, {"1GiB", 1 << 30, true}, {"512KiB", 512 << 10, true},
		{"1000", 1000, true}, {"10MB", 10_000_000, true}, {"2 MiB", 2 << 20, true},
		{"", 0, false}, {"MiB", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"9EiB", 0, false},
	}
	for _, tt := range tests {
		got, err := bytesize.Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("bytesize.Parse(%q) = %d, %v", tt.in, got, err)
		}
		if tt.ok && tt.want%1024 == 0 {
			if back, _ := bytesize.Parse(bytesize.Format(tt.want)); back != tt.want {
				t.Errorf("bytesize.Format(%d) = %q does not read back", tt.want, bytesize.Format(tt.want))
			}
		}
	}
	if bytesize.Format(256<<20) != "256MiB" || bytesize.Format(1500) != "1500B" {
		t.Errorf("Format: %s %s", bytesize.Format(256<<20), bytesize.Format(1500))
	}
	if got := bytesize.Human(1536); got != "1.5KiB" {
		t.Errorf("Human(1536) = %q", got)
	}
	if got := bytesize.Human(999); got != "999B" {
		t.Errorf("Human(999) = %q", got)
	}
}
