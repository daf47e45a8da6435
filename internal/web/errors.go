// Package web is fairlead's HTTP frame: middleware, the JSON error shape, JSON
// decoding rules and the server with its health and metrics endpoints. The
// surfaces (api/, later admin/ and public/) mount their routes on it.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Error is an error with an HTTP status and a stable code (also the key for
// German and English texts in the UI).
type Error struct {
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Field   string   `json:"field,omitempty"`
	Allowed []string `json:"allowed,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// FieldCoder is implemented by domain errors that know their code and field
// (the policy engine's invalid_request / invalid_facts, for instance).
type FieldCoder interface {
	error
	ErrorCode() string
	ErrorField() string
}

// ErrorFor maps an error to its HTTP answer. Unknown errors are 500 with a
// generic message: their text may hold internals or personal data.
func ErrorFor(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	var ve *validate.Error
	if errors.As(err, &ve) {
		return &Error{Status: http.StatusBadRequest, Code: ve.Code, Message: ve.Message, Field: ve.Field, Allowed: ve.Allowed}
	}
	var fc FieldCoder
	if errors.As(err, &fc) {
		return &Error{Status: http.StatusBadRequest, Code: fc.ErrorCode(), Message: fc.Error(), Field: fc.ErrorField()}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such resource in this workspace"}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: "this conflicts with an existing resource"}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer, and it is no fault.
		return &Error{Status: 499, Code: "client_closed_request", Message: "the client closed the request"}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "timeout", Message: "the request took too long"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error"}
}

// WriteError answers with the house error shape and logs server-side faults.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := ErrorFor(err)
	if e.Status >= 500 {
		rid := RequestID(r.Context())
		slog.ErrorContext(r.Context(), "request failed", "request_id", rid, "route", r.Pattern, "err", err)
		e = &Error{Status: e.Status, Code: e.Code, Message: e.Message + " (request id " + rid + ")"}
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fairlead"`)
	}
	WriteJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
