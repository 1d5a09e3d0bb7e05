package prereg

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Addresses are matched by one rule (CONTRACT §1): surrounding ASCII white
// space (space, tab, CR, LF) is removed and ASCII letters are lower-cased;
// nothing else is folded, trimmed or normalised. Unicode case folding would
// let a look-alike (the Kelvin sign for k, U+0130 for i) claim someone
// else's registration, so every key, filter and erasure goes through
// EmailKey, and an address holding a character badEmailRune names is
// never stored and never matched.

// TrimEmail removes surrounding ASCII white space and nothing else: a
// no-break space or U+3000 stays, and the address is then refused.
func TrimEmail(s string) string {
	start, end := 0, len(s)
	for start < end && isTrimmed(s[start]) {
		start++
	}
	for end > start && isTrimmed(s[end-1]) {
		end--
	}
	return s[start:end]
}

func isTrimmed(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// EmailKey is the form an address is matched by: TrimEmail, then A-Z
// lower-cased.
func EmailKey(email string) string {
	email = TrimEmail(email)
	for i := 0; i < len(email); i++ {
		if 'A' <= email[i] && email[i] <= 'Z' {
			return string(appendEmailKey(make([]byte, 0, len(email)), email))
		}
	}
	return email
}

// appendEmailKey appends EmailKey(email) to b.
func appendEmailKey(b []byte, email string) []byte {
	email = TrimEmail(email)
	for i := 0; i < len(email); i++ {
		c := email[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// badEmailRune returns the first character of s that no address may hold:
// invalid UTF-8 (as utf8.RuneError), a control character, a Unicode format
// character (category Cf, such as U+202E) or white space other than the
// ASCII space. ok is false when there is none.
func badEmailRune(s string) (r rune, ok bool) {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return rune(c), true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return r, true
		}
		i += n
	}
	return 0, false
}

// emailCharMessage says what badEmailRune found in s.
func emailCharMessage(s string) string {
	r, _ := badEmailRune(s)
	if r == utf8.RuneError {
		return "not valid UTF-8"
	}
	return fmt.Sprintf("holds %U; control characters, Unicode format characters and white space other than surrounding spaces are not allowed in an address", r)
}

// MatchKey is the key the login's email is matched by, or "" when it can
// match nothing: absent, or holding a character no registration may hold
// (the hook then answers no_match).
func (l Login) MatchKey() string {
	email := TrimEmail(l.Email)
	if _, bad := badEmailRune(email); bad {
		return ""
	}
	return EmailKey(email)
}
