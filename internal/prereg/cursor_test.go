package prereg_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prereg/prereg/internal/prereg"
)

// A cursor resumes only the walk and layout it was made for.
func TestCursorRoundTrip(t *testing.T) {
	c := prereg.EncodeCursor([]byte{2, 'a', 7, 8, 9})
	if pos, err := prereg.DecodeCursor(c, 2, 'a'); err != nil || !bytes.Equal(pos, []byte{7, 8, 9}) {
		t.Fatalf("round trip: %v %v", pos, err)
	}
	for _, tc := range []struct {
		name, cursor string
		version, tag byte
	}{
		{"another walk", c, 2, 'i'},
		{"another layout", c, 1, 'a'},
		{"not base64url", "!!", 2, 'a'},
		{"too short", prereg.EncodeCursor([]byte{2}), 2, 'a'},
		{"too long", strings.Repeat("A", 2049), 2, 'a'},
	} {
		if _, err := prereg.DecodeCursor(tc.cursor, tc.version, tc.tag); err != prereg.ErrBadCursor {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
