package prereg

import "encoding/base64"

// A store's cursor is a layout version byte, a tag naming the walk it
// resumes, and the position to resume after, base64url'd: opaque to
// callers. The tag keeps a cursor of one listing out of another, the
// version one of an older layout out of the store.

// ErrBadCursor answers a cursor that is not one of this listing's.
var ErrBadCursor = Errorf(Invalid, "cursor is not valid; start again without it")

// maxCursor bounds what a cursor may be before it is decoded.
const maxCursor = 2048

// EncodeCursor makes a cursor of raw: the version, the tag and the
// position, as a store's walk builds them.
func EncodeCursor(raw []byte) string { return base64.RawURLEncoding.EncodeToString(raw) }

// DecodeCursor returns the position of a cursor made for the walk tag by
// a store of this layout version.
func DecodeCursor(s string, version, tag byte) ([]byte, error) {
	if len(s) > maxCursor {
		return nil, ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 2 || raw[0] != version || raw[1] != tag {
		return nil, ErrBadCursor
	}
	return raw[2:], nil
}
