package httpapi

import (
	"encoding/json"

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
