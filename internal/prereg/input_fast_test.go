package prereg

import (
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// The tests here hold the fast paths of input.go to reference
// implementations: regexps of the custom rules, validator's own email
// rule, and a validator configured with the rules alone (refValidator),
// whose results Validate must reproduce exactly.

var (
	refOrgID      = regexp.MustCompile(`^org_[A-Za-z0-9]{1,64}$`)
	refRoleID     = regexp.MustCompile(`^rol_[A-Za-z0-9]+$`)
	refConnection = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)
)

// refValidRole is ValidRole as it was: the role-ID regexp, then the
// general role-name rule (validRoleName, which ValidRole's ASCII path
// stands in for).
func refValidRole(s string) bool {
	return refRoleID.MatchString(s) || validRoleName(s)
}

var refValidator = sync.OnceValue(func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		return name
	})
	for tag, fn := range map[string]func(string) bool{
		"orgid":      refOrgID.MatchString,
		"role":       refValidRole,
		"connection": refConnection.MatchString,
		"emailbytes": func(s string) bool { return len(s) <= 254 },
		"address":    refAddress,
	} {
		if err := v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return fn(fl.Field().String()) }); err != nil {
			panic(err)
		}
	}
	// The limits as validator's own rules say them (max counts runes).
	v.RegisterAlias("rolecount", "min=1,max=50")
	v.RegisterAlias("connlen", "max=128")
	if err := v.RegisterValidation("expiry", func(fl validator.FieldLevel) bool {
		t := fl.Field().Interface().(time.Time)
		return !t.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) && !t.After(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	}); err != nil {
		panic(err)
	}
	return v
})

// refAddress is CONTRACT §1's character rule said plainly: valid UTF-8
// without control characters, format characters (Cf) or white space
// other than the ASCII space.
func refAddress(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Cf) || unicode.IsSpace(r) && r != ' '
	})
}

// refEmailKey is EmailKey said plainly: trim space, tab, CR and LF, then
// lower-case A-Z and nothing else.
func refEmailKey(s string) string {
	b := []byte(strings.Trim(s, " \t\r\n"))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// checkAddress holds the address rules to their plain statements.
func checkAddress(t *testing.T, s string) {
	t.Helper()
	if _, bad := badEmailRune(s); bad == refAddress(s) {
		t.Errorf("badEmailRune(%q) = %v, the rule says %v", s, bad, !refAddress(s))
	}
	if got, want := EmailKey(s), refEmailKey(s); got != want {
		t.Errorf("EmailKey(%q) = %q, want %q", s, got, want)
	}
	if RegistrationKey("org_x", s) != RegistrationKey("org_x", refEmailKey(s)) {
		t.Errorf("RegistrationKey(%q) is not that of its key", s)
	}
	if got := (Login{Email: s}).MatchKey(); got != "" && (got != refEmailKey(s) || !refAddress(strings.Trim(s, " \t\r\n"))) {
		t.Errorf("MatchKey(%q) = %q", s, got)
	}
}

// refValidate is Input.Validate as it was: the validator alone, with its
// built-in email rule and the regexps.
func refValidate(in Input) error { return validationError(refValidator().Struct(in)) }

// builtinEmail is validator's own email rule.
func builtinEmail(s string) bool { return refValidator().Var(s, "email") == nil }

// newEmail is the email rule as Validate now runs it (the override).
func newEmail(s string) bool { return validatorInstance().Var(s, "email") == nil }

func TestEmailFastPath(t *testing.T) {
	label63 := strings.Repeat("d", 63)
	local64 := strings.Repeat("l", 64)
	// 64 + 1 + (63+1) + (63+1) + 59 + 3 = 255 bytes, one too many.
	at255 := local64 + "@" + label63 + "." + label63 + "." + strings.Repeat("f", 59) + ".io"
	tests := []struct {
		in   string
		fast bool // commonEmail's decision
	}{
		{"a@b.io", true},
		{"Ana@Example.com", true},
		{"user00000001.1a2b@Example1.com", true},
		{"first.last+tag@sub.example.co.uk", true},
		{"a_b%c-d@x-y.example.org", true},
		{"1@2.com", true},
		{"a@123.com", true},
		{"A+B@C.IO", true},
		{"a@xn--bcher-kva.example", true},
		{local64 + "@b.io", true},
		{"a@" + label63 + ".io", true},
		{at255, false},
		{at255[1:], true}, // 254 bytes
		{strings.Repeat("l", 65) + "@b.io", false},
		{"a@" + label63 + "d.io", false},
		{"a@b.c", false},
		{"a@b", false},
		{"a@b.123", false},
		{"a@b.c0m", false},
		{"a@b.i-o", false},
		{"a@b.xn--p1ai", false},
		{"a@b.io.", false},
		{".a@b.io", false},
		{"a.@b.io", false},
		{"a..b@b.io", false},
		{"a@-b.io", false},
		{"a@b-.io", false},
		{"a@b..io", false},
		{"a@.b.io", false},
		{"a@b_c.io", false},
		{"a@b.io~", false},
		{"a@b@c.io", false},
		{"a b@c.io", false},
		{" a@b.io", false},
		{"a@b.io ", false},
		{"a@b.io\n", false},
		{"Name <a@b.io>", false},
		{"a(comment)@b.io", false},
		{`"a b"@b.io`, false},
		{`"a@b"@c.io`, false},
		{`"\"q\""@b.io`, false},
		{"a!#$&'*/=?^`{|}~@b.io", false},
		{"a@[127.0.0.1]", false},
		{"a@[IPv6:::1]", false},
		{"ánа@example.com", false},
		{"a@exämple.com", false},
		{"a@b.ío", false},
		{"a\x00@b.io", false},
		{"a@b.io\xff", false},
		{"@b.io", false},
		{"a@", false},
		{"a", false},
		{"", false},
	}
	for _, tt := range tests {
		got := commonEmail(tt.in)
		if got != tt.fast {
			t.Errorf("commonEmail(%q) = %v, want %v", tt.in, got, tt.fast)
		}
		old := builtinEmail(tt.in)
		if got && !old {
			t.Errorf("commonEmail accepts %q, validator's email rule does not", tt.in)
		}
		if n := newEmail(tt.in); n != old {
			t.Errorf("email %q: now %v, before %v", tt.in, n, old)
		}
		checkAddress(t, tt.in)
	}
	for _, s := range []string{"\u212A1@corp.example", "\u00a0k1@b.io", "k1@b.io\u0085", "\u2028", "\u3000", "\u202E", "\u200b", "\ufeff", "\ufffd", "\xed\xa0\x80", " \t\r\nA@B.IO \n", "\v", "\f", "\x1c"} {
		checkAddress(t, s)
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.In(r, unicode.Cf) || r < 0x300 {
			checkAddress(t, "a"+string(r)+"@b.io")
		}
	}
}

// FuzzEmailFastPath holds the subset claim: whatever commonEmail accepts,
// validator's email rule accepts, and the overridden rule decides as the
// built-in one did.
func FuzzEmailFastPath(f *testing.F) {
	for _, s := range []string{
		"a@b.io", "Ana@Example.COM", "first.last+tag@sub.example.co.uk", "user00000001.1a2b@Example1.com",
		`"a b"@b.io`, `"a\"b"@b.io`, "ánа@example.com", "a@exämple.com", "a@[127.0.0.1]", "a@[IPv6:::1]",
		".a@b.io", "a.@b.io", "a..b@b.io", "a@b.io.", "a@.b.io", "a@b..io", "a@-b.io", "a@b-.io",
		strings.Repeat("l", 65) + "@b.io", "a@" + strings.Repeat("d", 64) + ".io", "a@b.123", "a@1.2.3.4",
		"A@B.C", "a@b", "a@b.c0m", "a@b.xn--p1ai", "Name <a@b.io>", "a@b.io\n", " a@b.io", "a@b@c.io",
		"\u212A1@corp.example", "\u00a0k1@b.io", "k1@b.io\u0085", "a\u202E@b.io", "a\u3000@b.io",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		old := builtinEmail(s)
		if commonEmail(s) && !old {
			t.Fatalf("commonEmail accepts %q, validator's email rule does not", s)
		}
		if n := newEmail(s); n != old {
			t.Fatalf("email %q: now %v, before %v", s, n, old)
		}
		checkAddress(t, s)
	})
}

// checkRules compares each hand-written rule with the regexp it replaced.
func checkRules(t *testing.T, s string) {
	t.Helper()
	if got, want := ValidOrganizationID(s), refOrgID.MatchString(s); got != want {
		t.Errorf("ValidOrganizationID(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := validRoleID(s), refRoleID.MatchString(s); got != want {
		t.Errorf("validRoleID(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := validConnection(s), refConnection.MatchString(s); got != want {
		t.Errorf("validConnection(%q) = %v, regexp says %v", s, got, want)
	}
	if got, want := ValidRole(s), refValidRole(s); got != want {
		t.Errorf("ValidRole(%q) = %v, before %v", s, got, want)
	}
}

func TestRulesMatchRegexps(t *testing.T) {
	a64 := strings.Repeat("a", 64)
	tests := []string{
		"", "org_", "org_a", "org_dr3b5S9l3sReLayv", "org_" + a64, "org_" + a64 + "b", "org_a-b", "org_a_b",
		"ORG_abc", "org_abc\n", "org_abc ", " org_abc", "org_é", "org__a", "orgabc", "xorg_a",
		"rol_", "rol_a", "rol_lEh5V8omwZrnZd9o", "rol_" + strings.Repeat("b", 200), "rol_a b", "rol_a\n", "ROL_a",
		"a", "-", "a-", "-a", "a-b", "a--b", "Username-Password-Authentication", "google-oauth2", "a_b", "a.b",
		"a\x00b", "a b", "é", "aé", strings.Repeat("c", 129),
		"billing admin", "Support Agent", "a;b", "a|b", "a\x01", "a\x7f", "a\t", "~!@#$%^&*()", " ", "  x  ",
		strings.Repeat("r", 100), strings.Repeat("r", 101), strings.Repeat("é", 100), strings.Repeat("é", 101),
		strings.Repeat("r", 99) + "é", "caf\xe9", "\xff", "a\u00a0b", "a\u200bb", "a\u2028b", "日本語",
	}
	for _, s := range tests {
		checkRules(t, s)
	}
	// Every string of up to four bytes over an alphabet that touches each
	// branch of the rules, bare and behind each prefix.
	alphabet := []string{"a", "Z", "0", "-", "_", ".", " ", ";", "|", "\x01", "\x7f", "é", "\xff", "\n"}
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		for _, p := range []string{"", "org_", "rol_"} {
			checkRules(t, p+prefix)
		}
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+c, n-1)
		}
	}
	gen("", 4)
	// Each single byte, inside and at either end of a role name.
	for c := 0; c < 256; c++ {
		b := string([]byte{byte(c)})
		for _, s := range []string{b, "x" + b, b + "x", "x" + b + "x"} {
			checkRules(t, s)
		}
	}
}

// FuzzRulePatterns compares the organization, role and connection rules
// with the regexps (and the role-name loop) they replaced.
func FuzzRulePatterns(f *testing.F) {
	for _, s := range []string{
		"org_dr3b5S9l3sReLayv", "org_", "org_" + strings.Repeat("a", 65), "rol_lEh5V8omwZrnZd9o", "rol_",
		"Username-Password-Authentication", "-bad", "bad-", "billing admin", "a;b", "a|b", "a\x01", "é", "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkRules(t, s) })
}

func TestFastPathMatchesTags(t *testing.T) {
	validatorInstance()
	if !fastPathMatchesTags() || !fastPathOn {
		t.Fatal("Input's fields or validate tags changed: update validFast and fastRules to the new rules")
	}
}

// validateCases are inputs on both sides of every rule.
func validateCases() []Input {
	t := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)
	at := func(y, mo, d, h, mi, s, ns int) *time.Time {
		v := time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
		return &v
	}
	roles := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "r" + strings.Repeat("x", i)
		}
		return out
	}
	return []Input{
		{Email: "a@b.io", Roles: []string{"r"}},
		{Email: "Ana@Example.com", Roles: []string{"rol_lEh5V8omwZrnZd9o", "billing admin"}, OrganizationID: "org_dr3b5S9l3sReLayv", Connection: "Username-Password-Authentication", ExpiresAt: &t},
		{Email: "a@b.io", Roles: roles(50)},
		{Email: "a@b.io", Roles: roles(51)},
		{Email: "a@b.io"},
		{Email: "a@b.io", Roles: []string{}},
		{Email: "a@b.io", Roles: []string{""}},
		{Email: "a@b.io", Roles: []string{"ok", "a;b", "c|d", "e\x01"}},
		{Email: "a@b.io", Roles: []string{strings.Repeat("r", 100)}},
		{Email: "a@b.io", Roles: []string{strings.Repeat("r", 101)}},
		{Email: "a@b.io", Roles: []string{"rol_" + strings.Repeat("b", 200)}},
		{Email: "a@b.io", Roles: []string{"café", "日本語"}},
		{Email: "a@b.io", Roles: []string{"caf\xe9"}},
		{Email: "", Roles: []string{"r"}},
		{Email: "x", OrganizationID: "acme"},
		{Email: "ana@", Roles: []string{"r"}},
		{Email: "a@b.c", Roles: []string{"r"}},
		{Email: `"a b"@b.io`, Roles: []string{"r"}},
		{Email: "ánа@example.com", Roles: []string{"r"}},
		{Email: strings.Repeat("a", 250) + "@b.io", Roles: []string{"r"}},
		{Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) + ".io", Roles: []string{"r"}},
		{Email: "a@b.io", Roles: []string{"r"}, OrganizationID: "org_"},
		{Email: "a@b.io", Roles: []string{"r"}, OrganizationID: "org_" + strings.Repeat("a", 64)},
		{Email: "a@b.io", Roles: []string{"r"}, OrganizationID: "org_" + strings.Repeat("a", 65)},
		{Email: "a@b.io", Roles: []string{"r"}, Connection: "-bad"},
		{Email: "a@b.io", Roles: []string{"r"}, Connection: "a"},
		{Email: "a@b.io", Roles: []string{"r"}, Connection: strings.Repeat("c", 128)},
		{Email: "a@b.io", Roles: []string{"r"}, Connection: strings.Repeat("c", 129)},
		{Email: "a@b.io", Roles: []string{"r"}, Connection: "é"},
		{Email: "bad", Roles: []string{"a;b", "r", "c|d"}, OrganizationID: "x", Connection: "y_"},
		{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: at(2000, 1, 1, 0, 0, 0, 0)},
		{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: at(1999, 12, 31, 23, 59, 59, 999999999)},
		{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: at(9999, 12, 31, 23, 59, 59, 0)},
		{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: at(9999, 12, 31, 23, 59, 59, 1)},
		{Email: "a@b.io", Roles: []string{"r"}, ExpiresAt: at(1970, 1, 1, 0, 0, 0, 0)},
		{Email: "a\u202E@b.io", Roles: []string{"r"}},
		{Email: "\u00a0a@b.io", Roles: []string{"r"}},
		{Email: "\u212A@b.io", Roles: []string{"r"}},
		{Email: strings.Repeat("é", 127) + "@b.io", Roles: []string{"r"}},
	}
}

// checkValidate holds Validate to refValidate on in, and validFast to never
// accepting what the validator rejects.
func checkValidate(t *testing.T, in Input) {
	t.Helper()
	want := refValidate(in)
	if validFast(&in) && want != nil {
		t.Fatalf("validFast accepts %+v, the validator says %v", in, want)
	}
	if got := in.Validate(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate(%+v) = %#v, before %#v", in, got, want)
	}
}

func TestValidateMatchesValidator(t *testing.T) {
	for _, in := range validateCases() {
		checkValidate(t, in)
		checkValidate(t, in.Normalize())
	}
}

// FuzzValidFast builds inputs from four strings (the roles split on '|',
// as a CSV cell is) and holds Validate, fast path and all, to the
// validator as it was configured before.
func FuzzValidFast(f *testing.F) {
	for _, in := range validateCases() {
		var sec int64
		if in.ExpiresAt != nil {
			sec = in.ExpiresAt.Unix()
		}
		f.Add(in.Email, in.OrganizationID, strings.Join(in.Roles, "|"), in.Connection, sec)
	}
	f.Fuzz(func(t *testing.T, email, org, roles, conn string, expiry int64) {
		in := Input{Email: email, OrganizationID: org, Connection: conn}
		if roles != "" {
			in.Roles = strings.Split(roles, "|")
		}
		if expiry != 0 {
			at := time.Unix(expiry, 0).UTC()
			in.ExpiresAt = &at
		}
		checkValidate(t, in)
		checkValidate(t, in.Normalize())
	})
}

// BenchmarkValidate compares Validate with the validator it short-cuts
// (with the faster rules) and with the validator as it was.
func BenchmarkValidate(b *testing.B) {
	in := Input{Email: "user00000001.1a2b@Example1.com", OrganizationID: "org_0000000000000042", Roles: []string{"billing-admin", "rol_lEh5V8omwZrnZd9o"}, Connection: "Username-Password-Authentication"}
	for _, bm := range []struct {
		name string
		fn   func(Input) error
	}{
		{"Validate", Input.Validate},
		{"validator", func(in Input) error { return validationError(validatorInstance().Struct(in)) }},
		{"before", refValidate},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bm.fn(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
