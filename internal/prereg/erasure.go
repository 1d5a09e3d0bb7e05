package prereg

// Erasure says what an erasure removed or rewrote. For an organization's
// token every count is of that organization's things only.
type Erasure struct {
	// Registrations are the IDs of the registrations removed.
	Registrations []string `json:"registrations"`
	// ImportsScrubbed counts the import reports the address was cut from.
	ImportsScrubbed int `json:"imports_scrubbed"`
	// AuditEntries counts the audit entries removed (those of the removed
	// registrations) or whose summary the address was cut from.
	AuditEntries int `json:"audit_entries"`
	// Grants counts the registrations of other addresses granted to a
	// user_id holding the address, which now reads "[erased]" there.
	Grants int `json:"grants_rewritten"`
	// Jobs counts the Auth0 sync jobs removed: those of removed
	// registrations and those for a user_id holding the address.
	Jobs int `json:"jobs_removed"`
	// Other counts verification marks and token names (tenant-wide
	// erasures only).
	Other int `json:"other_traces"`
	// Unfinished says what an administrator must still do for no stored
	// copy of the address to remain (etcd lets only root compact and
	// defragment); empty when nothing is left. The service logs it.
	Unfinished string `json:"-"`
}

// Found reports whether the erasure found anything to remove or rewrite.
func (e Erasure) Found() bool {
	return len(e.Registrations)+e.ImportsScrubbed+e.AuditEntries+e.Grants+e.Jobs+e.Other > 0
}

// ValidateEmail checks an address on its own (an erasure's, say) by the
// very rule a registration's email is held to, and returns an Invalid
// *Error with one field error for "email", or nil. The address is
// normalised first, as a registration's is.
func ValidateEmail(email string) error {
	// A stand-in role makes the rest of the input valid, so every detail
	// left is the address's.
	in := Input{Email: email, Roles: []string{"erasure"}}.Normalize()
	err := in.Validate()
	if e, ok := err.(*Error); ok {
		for _, d := range e.Details {
			if d.Field == "email" {
				d.Value = "" // an erasure's answer does not echo the address
				return &Error{Code: Invalid, Message: "email: " + d.Message, Details: []FieldError{d}}
			}
		}
	}
	return err
}
