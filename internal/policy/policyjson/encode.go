package policyjson

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/fairlead/fairlead/internal/policy"
)

// Output is the §6 decision object. Slices are never nil, so they encode as
// [] rather than null.
type Output struct {
	Allowed       bool                `json:"allowed"`
	Reasons       []policy.Reason     `json:"reasons"`
	LegalRefs     []string            `json:"legal_refs"`
	LegalBases    []policy.LegalBasis `json:"legal_bases"`
	Obligations   []policy.Obligation `json:"obligations"`
	Warnings      []policy.Warning    `json:"warnings"`
	PolicyVersion string              `json:"policy_version"`
	AsOf          string              `json:"as_of"`
}

// NewOutput converts a decision to its wire form.
func NewOutput(d policy.Decision) Output {
	return Output{
		Allowed:       d.Allowed,
		Reasons:       nonNil(d.Reasons),
		LegalRefs:     nonNil(d.LegalRefs),
		LegalBases:    nonNil(d.LegalBases),
		Obligations:   nonNil(d.Obligations),
		Warnings:      nonNil(d.Warnings),
		PolicyVersion: d.PolicyVersion,
		AsOf:          d.AsOf.String(),
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ErrorBody is the house error shape {"code", "message", "field"}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// ErrorOf converts an error from this package or from policy.Decide to the
// wire shape. Errors of other kinds become invalid_json with their text,
// because only decoding produces them here.
func ErrorOf(err error) ErrorBody {
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		return ErrorBody{Code: ve.Code, Message: ve.Message, Field: ve.Field}
	}
	return ErrorBody{Code: CodeInvalidJSON, Message: err.Error()}
}

// Result is the outcome of one evaluation: a decision or an error, plus the
// caller's id.
type Result struct {
	ID       json.RawMessage
	Decision policy.Decision // meaningful when Err is nil
	Err      error           // a *policy.ValidationError
}

// resultLine is the Stream/HTTP line: the §6 object plus "id", or "id" plus
// "error".
type resultLine struct {
	ID json.RawMessage `json:"id,omitempty"`
	*Output
	Error *ErrorBody `json:"error,omitempty"`
}

// MarshalJSON encodes r as {"id": …, <§6 fields>} or
// {"id": …, "error": {"code", "message", "field"}}; "id" is omitted when the
// input had none.
func (r Result) MarshalJSON() ([]byte, error) {
	return marshal(r.line())
}

func (r Result) line() resultLine {
	l := resultLine{ID: r.ID}
	if r.Err != nil {
		e := ErrorOf(r.Err)
		l.Error = &e
	} else {
		o := NewOutput(r.Decision)
		l.Output = &o
	}
	return l
}

// MarshalDecision encodes d as the §6 JSON object.
func MarshalDecision(d policy.Decision) ([]byte, error) {
	return marshal(NewOutput(d))
}

// MarshalError encodes err in the house error shape
// {"error": {"code", "message", "field"}}.
func MarshalError(err error) ([]byte, error) {
	e := ErrorOf(err)
	return marshal(struct {
		Error ErrorBody `json:"error"`
	}{e})
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
