package policy

import "errors"

// Error codes of §6. A caller must treat an error as "not allowed".
const (
	CodeInvalidRequest = "invalid_request"
	CodeInvalidFacts   = "invalid_facts"
)

// Sentinels for errors.Is: a *ValidationError matches the sentinel of its
// code.
var (
	ErrInvalidRequest = errors.New(CodeInvalidRequest)
	ErrInvalidFacts   = errors.New(CodeInvalidFacts)
)

// ValidationError is returned by Decide instead of a decision when the
// request or the facts are not acceptable.
type ValidationError struct {
	// Code is CodeInvalidRequest or CodeInvalidFacts.
	Code string
	// Field is the path of the offending field in the wire format, e.g.
	// "request.channel" or "facts.consents[0].status".
	Field string
	// Message says what is wrong and names the allowed values.
	Message string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Code + ": " + e.Message
	}
	return e.Code + ": " + e.Field + ": " + e.Message
}

// Is matches ErrInvalidRequest and ErrInvalidFacts by code.
func (e *ValidationError) Is(target error) bool {
	switch target {
	case ErrInvalidRequest:
		return e.Code == CodeInvalidRequest
	case ErrInvalidFacts:
		return e.Code == CodeInvalidFacts
	}
	return false
}

func factsErr(field, msg string) *ValidationError {
	return &ValidationError{Code: CodeInvalidFacts, Field: field, Message: msg}
}

func requestErr(field, msg string) *ValidationError {
	return &ValidationError{Code: CodeInvalidRequest, Field: field, Message: msg}
}
