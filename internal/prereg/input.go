package prereg

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// Limits on a registration; CONTRACT §1 sets them, the HTTP and CSV layers
// rely on them to bound what one record can cost. They are set here only:
// the tags below name rules that read them, and the messages quote them.
const (
	MaxEmailBytes      = 254
	MaxRoles           = 50
	MaxRoleNameChars   = 100
	MaxConnectionChars = 128
	// maxOrgIDSuffix is how many letters and digits follow "org_".
	maxOrgIDSuffix = 64
	// maxShownValue bounds how much of an offending value an error echoes.
	maxShownValue = 80
)

// Input is a registration as a writer supplies it (API body or CSV row),
// before normalisation. ExpiresAt is already parsed; ParseExpiry turns text
// into it.
type Input struct {
	Email          string     `json:"email" validate:"required,emailbytes,address,email"`
	OrganizationID string     `json:"organization_id" validate:"omitempty,orgid"`
	Roles          []string   `json:"roles" validate:"rolecount,dive,role"`
	Connection     string     `json:"connection" validate:"omitempty,connlen,connection"`
	ExpiresAt      *time.Time `json:"expires_at" validate:"omitempty,expiry"`
}

// The custom rules below are hand-written scanners rather than regexps: a
// CSV import runs them on every cell of a million rows and the regexp
// engine cost several times the decoding. Each one is equivalent to the
// regexp in its comment; input_fast_test.go checks that on tables and by
// fuzzing against those very regexps.

// ValidOrganizationID reports whether s is an Auth0 organization ID:
// ^org_[A-Za-z0-9]{1,64}$.
func ValidOrganizationID(s string) bool {
	return len(s) > len("org_") && len(s) <= len("org_")+maxOrgIDSuffix &&
		s[:len("org_")] == "org_" && allAlnum(s[len("org_"):])
}

// validRoleID reports whether s is a role ID: ^rol_[A-Za-z0-9]+$ (no upper
// bound: a long ID is still an ID).
func validRoleID(s string) bool {
	return len(s) > len("rol_") && s[:len("rol_")] == "rol_" && allAlnum(s[len("rol_"):])
}

// validConnection reports whether s is an Auth0 connection name:
// ^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$.
func validConnection(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// ValidRole reports whether s is a role ID or an acceptable role name.
func ValidRole(s string) bool {
	if validRoleID(s) {
		return true
	}
	if s == "" {
		return false
	}
	// Almost every role name is ASCII, where a byte is a rune and
	// unicode.IsPrint is exactly 0x20..0x7E; anything else takes the
	// general path below.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return validRoleName(s)
		}
		if c < 0x20 || c == 0x7f || c == '|' || c == ';' {
			return false
		}
	}
	return len(s) <= MaxRoleNameChars
}

// validRoleName is the general role-name rule: 1 to MaxRoleNameChars
// printable characters of valid UTF-8, without | or ;.
func validRoleName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > MaxRoleNameChars || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '|' || r == ';' || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// commonEmail reports whether s is an address of the everyday shape: an
// ASCII local part of letters, digits and ._%+- (at most 64 bytes, no
// leading, trailing or doubled dot), an @, and a domain of at least two
// dot-separated letter-digit-hyphen labels (1 to 63 bytes, no hyphen at
// either end) whose last label is two or more letters, at most
// MaxEmailBytes in all.
//
// Every such address passes validator's email rule (net/mail parses it as
// a dot-atom addr-spec and its regexp matches), so commonEmail may accept
// on that rule's behalf; anything else, including whatever that rule
// accepts beyond this shape (quoted local parts, IP literals, Unicode,
// trailing dots), is left to the rule itself. FuzzEmailFastPath and
// TestEmailFastPath hold the subset claim.
func commonEmail(s string) bool {
	if len(s) > MaxEmailBytes {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at < 1 || at > 64 {
		return false
	}
	return commonLocal(s[:at]) && commonDomain(s[at+1:])
}

// commonLocal reports whether s is a local part of commonEmail's shape:
// letters, digits and ._%+-, with no leading, trailing or doubled dot.
func commonLocal(s string) bool {
	afterDot := true // a dot here would be leading
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if afterDot {
				return false
			}
			afterDot = true
		case isAlnum(c) || c == '_' || c == '%' || c == '+' || c == '-':
			afterDot = false
		default:
			return false
		}
	}
	return !afterDot
}

// commonDomain reports whether s is a domain of commonEmail's shape: two
// or more ldhLabel labels, the last of two or more letters.
func commonDomain(s string) bool {
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return false
	}
	tld := s[dot+1:]
	if len(tld) < 2 {
		return false
	}
	for j := 0; j < len(tld); j++ {
		if !isAlpha(tld[j]) {
			return false
		}
	}
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return ldhLabel(s)
		}
		if !ldhLabel(s[:i]) {
			return false
		}
		s = s[i+1:]
	}
}

// ldhLabel reports whether s is a DNS label of letters, digits and inner
// hyphens, 1 to 63 bytes.
func ldhLabel(s string) bool {
	if s == "" || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

var (
	validateOnce sync.Once
	validate     *validator.Validate
	// fastPathOn says Input's tags are still the ones validFast was
	// written for; see fastPathMatchesTags.
	fastPathOn bool
)

func validatorInstance() *validator.Validate {
	validateOnce.Do(func() {
		v := validator.New(validator.WithRequiredStructEnabled())
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			return name
		})
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		for tag, fn := range limitRules {
			must(v.RegisterValidation(tag, fn))
		}
		must(v.RegisterValidation("orgid", func(fl validator.FieldLevel) bool {
			return ValidOrganizationID(fl.Field().String())
		}))
		must(v.RegisterValidation("role", func(fl validator.FieldLevel) bool {
			return ValidRole(fl.Field().String())
		}))
		must(v.RegisterValidation("connection", func(fl validator.FieldLevel) bool {
			return validConnection(fl.Field().String())
		}))
		// validator's email rule runs net/mail's parser and then a large
		// regexp, the bulk of the cost of validating a row. The override
		// keeps the rule's decisions: commonEmail only accepts addresses
		// the rule accepts, and every other address is put to the rule
		// itself on a plain validator instance.
		builtin := validator.New()
		must(v.RegisterValidation("email", func(fl validator.FieldLevel) bool {
			s := fl.Field().String()
			return commonEmail(s) || builtin.Var(s, "email") == nil
		}))
		validate = v
		fastPathOn = fastPathMatchesTags()
	})
	return validate
}

// limitRules are the rules Input's tags name for its limits and address
// characters; each reads its constant, so a limit has one home.
var limitRules = map[string]validator.Func{
	"emailbytes": func(fl validator.FieldLevel) bool { return len(fl.Field().String()) <= MaxEmailBytes },
	"address": func(fl validator.FieldLevel) bool {
		_, bad := badEmailRune(fl.Field().String())
		return !bad
	},
	"rolecount": func(fl validator.FieldLevel) bool {
		n := fl.Field().Len()
		return n >= 1 && n <= MaxRoles
	},
	"connlen": func(fl validator.FieldLevel) bool {
		return utf8.RuneCountInString(fl.Field().String()) <= MaxConnectionChars
	},
	"expiry": func(fl validator.FieldLevel) bool {
		t, ok := fl.Field().Interface().(time.Time)
		return ok && ExpiryInRange(t)
	},
}

// fastRules are Input's fields, types and validate tags exactly as
// validFast implements them.
var fastRules = []struct {
	name, tag string
	typ       reflect.Type
}{
	{"Email", "required,emailbytes,address,email", reflect.TypeFor[string]()},
	{"OrganizationID", "omitempty,orgid", reflect.TypeFor[string]()},
	{"Roles", "rolecount,dive,role", reflect.TypeFor[[]string]()},
	{"Connection", "omitempty,connlen,connection", reflect.TypeFor[string]()},
	{"ExpiresAt", "omitempty,expiry", reflect.TypeFor[*time.Time]()},
}

// fastPathMatchesTags reports whether Input still has exactly the fields and
// tags of fastRules. The tags are where the rules are defined: if one is
// edited without validFast, Validate falls back to the validator alone
// (and TestFastPathMatchesTags fails) rather than apply stale rules.
func fastPathMatchesTags() bool {
	t := reflect.TypeFor[Input]()
	if t.NumField() != len(fastRules) {
		return false
	}
	for i, r := range fastRules {
		f := t.Field(i)
		if f.Name != r.name || f.Type != r.typ || f.Tag.Get("validate") != r.tag {
			return false
		}
	}
	return true
}

// validFast reports whether in certainly passes Input's tags, using the
// same rule functions the tags name but without the validator's
// reflection, which for a good row cost more than the rules themselves.
// It may say false for a valid input (an email outside commonEmail's
// shape, say a@b.c); Validate then asks the validator, so only "true"
// needs to be right, and TestValidFast and FuzzValidFast hold that against the
// validator.
//
// The tags' semantics: required is a non-empty string; emailbytes and
// address are implied by commonEmail's ASCII shape; connlen counts runes,
// which for the ASCII-only connection the check below accepts equals
// bytes; rolecount counts elements; dive applies role to each element;
// omitempty skips an empty string or a nil expiry.
func validFast(in *Input) bool {
	if !commonEmail(in.Email) { // implies required, emailbytes and address
		return false
	}
	if in.ExpiresAt != nil && !ExpiryInRange(*in.ExpiresAt) {
		return false
	}
	if in.OrganizationID != "" && !ValidOrganizationID(in.OrganizationID) {
		return false
	}
	if len(in.Roles) < 1 || len(in.Roles) > MaxRoles {
		return false
	}
	for _, r := range in.Roles {
		if !ValidRole(r) {
			return false
		}
	}
	// validConnection accepts ASCII only, so the byte length is the rune
	// count connlen limits.
	return in.Connection == "" || len(in.Connection) <= MaxConnectionChars && validConnection(in.Connection)
}

// Normalize trims the fields (the email of ASCII white space only, see
// TrimEmail), drops empty roles and duplicate roles (keeping the first
// occurrence) and leaves the email's case as given.
func (in Input) Normalize() Input {
	in.Email = TrimEmail(in.Email)
	in.OrganizationID = strings.TrimSpace(in.OrganizationID)
	in.Connection = strings.TrimSpace(in.Connection)
	roles := make([]string, 0, len(in.Roles))
	seen := make(map[string]struct{}, len(in.Roles))
	for _, r := range in.Roles {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		roles = append(roles, r)
	}
	in.Roles = roles
	if in.ExpiresAt != nil {
		t := in.ExpiresAt.UTC()
		in.ExpiresAt = &t
	}
	return in
}

// Validate checks a normalised input against CONTRACT §1 and returns an
// Invalid *Error listing every bad field, or nil.
func (in Input) Validate() error {
	v := validatorInstance()
	if fastPathOn && validFast(&in) {
		return nil
	}
	return validationError(v.Struct(in))
}

// validationError turns what validator.Struct returned into Validate's
// result.
func validationError(err error) error {
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return Wrap(Internal, err, "validation failed")
	}
	out := &Error{Code: Invalid, Message: "the registration is not valid"}
	seen := map[string]bool{}
	for _, fe := range verrs {
		field := fe.Field()
		ns := fe.Namespace() // Input.roles[3]
		if i := strings.IndexByte(ns, '.'); i >= 0 {
			ns = ns[i+1:]
		}
		if seen[ns] {
			continue
		}
		seen[ns] = true
		out.Details = append(out.Details, FieldError{
			Field:   baseField(field),
			Message: fieldMessage(fe),
			Value:   shownValue(fe.Value()),
		})
	}
	if len(out.Details) == 1 {
		out.Message = out.Details[0].Field + ": " + out.Details[0].Message
	}
	return out
}

// shownValue is the offending value as an error echoes it: an expiry as
// ParseExpiry reads it, anything else as text, truncated.
func shownValue(v any) string {
	if t, ok := v.(time.Time); ok {
		return FormatExpiry(&t)
	}
	return Truncate(fmt.Sprint(v))
}

// baseField turns "roles[3]" into "roles": callers locate by column, the
// message says which entry.
func baseField(f string) string {
	if i := strings.IndexByte(f, '['); i >= 0 {
		return f[:i]
	}
	return f
}

func fieldMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "not a valid email address"
	case "emailbytes":
		return fmt.Sprintf("longer than %d bytes", MaxEmailBytes)
	case "address":
		return emailCharMessage(fmt.Sprint(fe.Value()))
	case "rolecount":
		if roles, _ := fe.Value().([]string); len(roles) == 0 {
			return "at least one role is required"
		}
		return fmt.Sprintf("more than %d roles", MaxRoles)
	case "connlen":
		return fmt.Sprintf("longer than %d characters", MaxConnectionChars)
	case "expiry":
		return expiryRangeMessage
	case "orgid":
		return fmt.Sprintf("not an Auth0 organization ID: expected org_ followed by 1 to %d letters and digits", maxOrgIDSuffix)
	case "role":
		return fmt.Sprintf("role %q is neither a role ID (rol_…) nor a role name of 1 to %d printable characters without | or ;", Truncate(fmt.Sprint(fe.Value())), MaxRoleNameChars)
	case "connection":
		return "not an Auth0 connection name: letters, digits and '-', starting and ending with a letter or digit"
	}
	return "is not valid (" + fe.Tag() + ")"
}

// Truncate shortens a value echoed back in an error so that one bad cell
// cannot make a report huge.
func Truncate(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	cut := maxShownValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// The accepted expiry range (CONTRACT §1), inclusive: far enough from the
// limits of any time encoding that what is accepted is what is stored,
// read back and compared, and wide enough for 9999-12-31, the usual
// "never".
var (
	minExpiry = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxExpiry = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

var expiryRangeMessage = fmt.Sprintf("outside the accepted range %s to %s (9999-12-31 is the usual \"never\")",
	minExpiry.Format(time.RFC3339), maxExpiry.Format(time.RFC3339))

// ExpiryInRange reports whether t is an expiry a registration may have.
func ExpiryInRange(t time.Time) bool { return !t.Before(minExpiry) && !t.After(maxExpiry) }

// ParseExpiry reads an expiry: RFC 3339, or a date alone (2027-01-31) which
// means the end of that day, UTC. Empty means no expiry.
func ParseExpiry(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		t := d.Add(24*time.Hour - time.Second).UTC()
		return &t, nil
	}
	return nil, Errorf(Invalid, "expires_at: %q is not an RFC 3339 time (2027-01-31T18:00:00Z) or a date (2027-01-31)", Truncate(s))
}

// FormatExpiry writes an expiry the way ParseExpiry reads it back exactly.
func FormatExpiry(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
