package httpapi

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/prereg/prereg/internal/prereg"
)

// appendHookResult appends res as JSON, byte for byte what encoding/json
// writes for it (hookjson_test.go holds that, on tables and by fuzzing).
// The login hook answers every login; encoding its small, fixed shape by
// hand skips encoding/json's reflection and buffers.
func appendHookResult(b []byte, res *prereg.HookResult) []byte {
	b = append(b, `{"outcome":`...)
	b = appendJSONString(b, string(res.Outcome))
	b = append(b, `,"email_verified":`...)
	if res.EmailVerified {
		b = append(b, "true"...)
	} else {
		b = append(b, "false"...)
	}
	b = append(b, `,"roles":`...)
	b = appendJSONStrings(b, res.Roles)
	b = append(b, `,"grants":`...)
	if res.Grants == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range res.Grants {
			g := &res.Grants[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"registration_id":`...)
			b = appendJSONString(b, g.RegistrationID)
			b = append(b, `,"organization_id":`...)
			b = appendJSONString(b, g.OrganizationID)
			b = append(b, `,"roles":`...)
			b = appendJSONStrings(b, g.Roles)
			b = append(b, `,"status":`...)
			b = appendJSONString(b, string(g.Status))
			if g.Sync != "" {
				b = append(b, `,"sync":`...)
				b = appendJSONString(b, string(g.Sync))
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s as encoding/json does. Plain printable ASCII
// without the characters it escapes (quote, backslash, and <, >, & for
// HTML safety) is copied as is; anything else is left to encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeLogin decodes a hook request body into l, as decodeJSON(body, l,
// false) does. The bodies the Action sends (JSON.stringify of five plain
// fields) are read in one pass without reflection; anything else (escapes,
// null, numbers, unknown or differently cased keys, invalid UTF-8, bad
// syntax) is left to encoding/json, so every answer, error or not, is the
// one encoding/json gives (hookjson_test.go holds that, by fuzzing too).
func decodeLogin(body []byte, l *prereg.Login) error {
	var fast prereg.Login
	if loginFast(body, &fast) {
		*l = fast
		return nil
	}
	return decodeJSON(body, l, false)
}

// loginFast decodes body into l if it is an object of the Login fields
// only, their exact names, string values without escapes and a true or
// false email_verified. It reports false, with l in any state, for
// everything else.
func loginFast(b []byte, l *prereg.Login) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i, ok = loginValue(b, i, key, l); !ok {
			return false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// loginValue reads the value of the field key at b[i] into l and returns
// the index after it; false for an unknown field or a value of another form.
func loginValue(b []byte, i int, key []byte, l *prereg.Login) (int, bool) {
	if string(key) == "email_verified" {
		switch {
		case hasWord(b, i, "true"):
			l.EmailVerified = true
			return i + 4, true
		case hasWord(b, i, "false"):
			l.EmailVerified = false
			return i + 5, true
		}
		return 0, false
	}
	dst := loginString(l, key)
	if dst == nil {
		return 0, false
	}
	v, j, ok := plainString(b, i)
	if !ok {
		return 0, false
	}
	*dst = string(v)
	return j, true
}

// loginString is the string field of l that key names, nil for none.
func loginString(l *prereg.Login, key []byte) *string {
	switch string(key) {
	case "user_id":
		return &l.UserID
	case "email":
		return &l.Email
	case "organization_id":
		return &l.OrganizationID
	case "connection":
		return &l.Connection
	}
	return nil
}

// plainString reads the JSON string at b[i] if it has no escape and no
// control character and is valid UTF-8: then its bytes are its value. It
// returns the contents and the index after the closing quote.
func plainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s = b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

// hasWord reports whether b holds word at i. What follows it is checked
// by the caller like after any value ("truex" is not a comma).
func hasWord(b []byte, i int, word string) bool {
	return len(b)-i >= len(word) && string(b[i:i+len(word)]) == word
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
