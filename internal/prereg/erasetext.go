package prereg

import (
	"encoding/json"
	"strings"
)

// ErasedMark replaces an erased address wherever it is cut out of a
// longer text (a user_id, an audit summary, an import's row error).
const ErasedMark = "[erased]"

// EraseNeedles are the byte strings an address (ASCII lower-cased) may
// be stored as: itself and, when JSON escapes some of its characters,
// its JSON form.
func EraseNeedles(addr string) [][]byte {
	out := [][]byte{[]byte(addr)}
	if q, err := json.Marshal(addr); err == nil {
		if esc := LowerASCII(string(q[1 : len(q)-1])); esc != addr {
			out = append(out, []byte(esc))
		}
	}
	return out
}

// LowerASCII folds A-Z to a-z and nothing else (CONTRACT §1).
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// LowerInto writes b with A-Z folded into dst (grown as needed).
func LowerInto(dst, b []byte) []byte {
	dst = append(dst[:0], b...)
	for i, c := range dst {
		if 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// ReplaceFold replaces every occurrence of addr (lower-cased) in s, in any
// ASCII letter case, with ErasedMark, and reports whether there was one.
func ReplaceFold(s, addr string) (string, bool) {
	low := LowerASCII(s)
	i := strings.Index(low, addr)
	if i < 0 {
		return s, false
	}
	var b strings.Builder
	for i >= 0 {
		b.WriteString(s[:i])
		b.WriteString(ErasedMark)
		s, low = s[i+len(addr):], low[i+len(addr):]
		i = strings.Index(low, addr)
	}
	b.WriteString(s)
	return b.String(), true
}

// ScrubImport replaces addr in every row error and warning of r (row errors
// echo the offending value, which may hold the address) and reports
// whether it found one.
func ScrubImport(r *ImportReport, addr string) bool {
	cut := false
	scrub := func(s *string) {
		var c bool
		*s, c = ReplaceFold(*s, addr)
		cut = cut || c
	}
	for i := range r.Errors {
		scrub(&r.Errors[i].Value)
		scrub(&r.Errors[i].Message)
	}
	for i := range r.Warnings {
		scrub(&r.Warnings[i].Message)
	}
	return cut
}
