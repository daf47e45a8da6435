// Package validate holds the error type that every domain package returns for
// bad input, so the HTTP layer can answer with the field and the allowed
// values without knowing the domain.
package validate

import (
	"fmt"
	"strings"
)

// Error says which field is wrong and why. Code doubles as a translation key.
type Error struct {
	Field   string
	Code    string
	Message string
	Allowed []string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Required reports a missing field.
func Required(field string) *Error {
	return &Error{Field: field, Code: "required", Message: field + " is required"}
}

// OneOf reports a value outside an enumeration, naming the allowed values.
func OneOf(field, got string, allowed []string) *Error {
	return &Error{Field: field, Code: "invalid_value", Allowed: allowed,
		Message: fmt.Sprintf("%s must be one of %s (got %q)", field, strings.Join(allowed, ", "), got)}
}

// Invalid reports a malformed value.
func Invalid(field, message string) *Error {
	return &Error{Field: field, Code: "invalid_value", Message: message}
}
