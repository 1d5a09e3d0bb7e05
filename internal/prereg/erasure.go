package prereg

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
