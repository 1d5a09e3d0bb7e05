package prereg

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
)

// Limits on a registration; CONTRACT §1 sets them, the HTTP and CSV layers
// rely on them to bound what one record can cost.
const (
	MaxEmailBytes      = 254
	MaxRoles           = 50
	MaxRoleNameChars   = 100
	MaxConnectionChars = 128
	// maxShownValue bounds how much of an offending value an error echoes.
	maxShownValue = 80
)

// Input is a registration as a writer supplies it (API body or CSV row),
// before normalisation. ExpiresAt is already parsed; ParseExpiry turns text
// into it.
type Input struct {
	Email          string     `json:"email" validate:"required,max=254,email"`
	OrganizationID string     `json:"organization_id" validate:"omitempty,orgid"`
	Roles          []string   `json:"roles" validate:"min=1,max=50,dive,role"`
	Connection     string     `json:"connection" validate:"omitempty,max=128,connection"`
	ExpiresAt      *time.Time `json:"expires_at"`
}

var (
	orgIDPattern      = regexp.MustCompile(`^org_[A-Za-z0-9]{1,64}$`)
	roleIDPattern     = regexp.MustCompile(`^rol_[A-Za-z0-9]+$`)
	connectionPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$`)
)

// ValidOrganizationID reports whether s is an Auth0 organization ID.
func ValidOrganizationID(s string) bool { return orgIDPattern.MatchString(s) }

// ValidRole reports whether s is a role ID or an acceptable role name.
func ValidRole(s string) bool {
	if roleIDPattern.MatchString(s) {
		return true
	}
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

var (
	validateOnce sync.Once
	validate     *validator.Validate
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
		must(v.RegisterValidation("orgid", func(fl validator.FieldLevel) bool {
			return ValidOrganizationID(fl.Field().String())
		}))
		must(v.RegisterValidation("role", func(fl validator.FieldLevel) bool {
			return ValidRole(fl.Field().String())
		}))
		must(v.RegisterValidation("connection", func(fl validator.FieldLevel) bool {
			return connectionPattern.MatchString(fl.Field().String())
		}))
		validate = v
	})
	return validate
}

// Normalize trims the fields, drops empty roles and duplicate roles (keeping
// the first occurrence) and leaves the email's case as given.
func (in Input) Normalize() Input {
	in.Email = strings.TrimSpace(in.Email)
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
	err := validatorInstance().Struct(in)
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
			Value:   Truncate(fmt.Sprint(fe.Value())),
		})
	}
	if len(out.Details) == 1 {
		out.Message = out.Details[0].Field + ": " + out.Details[0].Message
	}
	return out
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
	case "max":
		switch fe.Field() {
		case "email":
			return fmt.Sprintf("longer than %d bytes", MaxEmailBytes)
		case "roles":
			return fmt.Sprintf("more than %d roles", MaxRoles)
		case "connection":
			return fmt.Sprintf("longer than %d characters", MaxConnectionChars)
		}
		return "too long"
	case "min":
		return "at least one role is required"
	case "orgid":
		return "not an Auth0 organization ID: expected org_ followed by 1 to 64 letters and digits"
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
