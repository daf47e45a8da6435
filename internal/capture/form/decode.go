package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/validate"
)

// MaxDefinitionSize is the largest definition Decode accepts, in bytes.
const MaxDefinitionSize = 256 << 10

// Decode reads one definition in the export format. It is strict, because
// an import that silently dropped a misspelt "required" or "pre_ticked"
// would change what people are asked: unknown and duplicate field names,
// wrongly typed values and trailing data are errors naming the field path
// (e.g. "fields[2].label"). Decode does not Validate.
func Decode(r io.Reader) (Definition, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDefinitionSize+1))
	if err != nil {
		return Definition{}, fmt.Errorf("read form definition: %w", err)
	}
	if len(data) > MaxDefinitionSize {
		return Definition{}, &validate.Error{Code: "too_large",
			Message: fmt.Sprintf("a form definition must have at most %d bytes", MaxDefinitionSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := check(dec, reflect.TypeFor[Definition](), ""); err != nil {
		return Definition{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Definition{}, &validate.Error{Code: "invalid_json", Message: "unexpected data after the form definition"}
	}
	var d Definition
	if err := json.Unmarshal(data, &d); err != nil {
		// check has accepted the document, so this is not expected; still
		// never return a half-filled definition.
		return Definition{}, &validate.Error{Code: "invalid_json", Message: "form definition is not valid: " + err.Error()}
	}
	return d, nil
}

// Encode writes the definition in the export format: indented, fields in
// declaration order, map keys sorted, absent lists as [] rather than null, so
// that exporting the same form twice gives the same bytes.
func (d Definition) Encode(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	e.SetEscapeHTML(false)
	return e.Encode(d.normalized())
}

func (d Definition) normalized() Definition {
	d.Title = orEmpty(d.Title)
	d.Languages = orNone(d.Languages)
	d.ServicePurposes = orNone(d.ServicePurposes)
	d.PrivacyNotice = orEmpty(d.PrivacyNotice)
	d.Fields = orNone(d.Fields)
	d.Consents = orNone(d.Consents)
	fs := make([]Field, len(d.Fields))
	for i, f := range d.Fields {
		f.Label = orEmpty(f.Label)
		f.Purposes = orNone(f.Purposes)
		if len(f.Options) > 0 {
			os := make([]Option, len(f.Options))
			for j, o := range f.Options {
				o.Label = orEmpty(o.Label)
				os[j] = o
			}
			f.Options = os
		}
		fs[i] = f
	}
	d.Fields = fs
	cs := make([]Consent, len(d.Consents))
	for i, c := range d.Consents {
		c.Purposes = orNone(c.Purposes)
		c.Channels = orNone(c.Channels)
		c.Notice = orEmpty(c.Notice)
		cs[i] = c
	}
	d.Consents = cs
	if d.Offer != nil {
		o := *d.Offer
		o.Title = orEmpty(o.Title)
		d.Offer = &o
	}
	return d
}

func orNone[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func decodeErr(path, code, msg string, allowed []string) *validate.Error {
	if path == "" {
		return &validate.Error{Code: code, Message: msg, Allowed: allowed}
	}
	return &validate.Error{Field: path, Code: code, Message: path + ": " + msg, Allowed: allowed}
}

func syntaxErr(err error) *validate.Error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return decodeErr("", "invalid_json", fmt.Sprintf("form definition is not valid JSON at byte %d: %s", se.Offset, se.Error()), nil)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return decodeErr("", "invalid_json", "form definition is not valid JSON: unexpected end", nil)
	}
	return decodeErr("", "invalid_json", "form definition is not valid JSON: "+err.Error(), nil)
}

// check walks one JSON value from dec against the Go type t, so that every
// problem is reported with its full path. JSON null is accepted anywhere and
// means "absent".
func check(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(err)
	}
	if tok == nil {
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := func(what string) error {
		p := path
		if p == "" {
			p = "the form definition"
		}
		return &validate.Error{Field: path, Code: "invalid_type", Message: p + " must be " + what}
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return want("an object")
		}
		names := make([]string, 0, t.NumField())
		index := map[string]int{}
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			names = append(names, name)
			index[name] = i
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return syntaxErr(err)
			}
			key := kt.(string)
			kp := join(path, key)
			i, ok := index[key]
			if !ok {
				return decodeErr(kp, "unknown_field", "unknown field; allowed: "+strings.Join(names, ", "), names)
			}
			if seen[key] {
				return decodeErr(kp, "duplicate", "field given twice", nil)
			}
			seen[key] = true
			if err := check(dec, t.Field(i).Type, kp); err != nil {
				return err
			}
		}
	case reflect.Map:
		if tok != json.Delim('{') {
			return want("an object of strings")
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return syntaxErr(err)
			}
			key := kt.(string)
			kp := join(path, key)
			if seen[key] {
				return decodeErr(kp, "duplicate", "key given twice", nil)
			}
			seen[key] = true
			if err := check(dec, t.Elem(), kp); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if tok != json.Delim('[') {
			return want("a list")
		}
		for i := 0; dec.More(); i++ {
			if err := check(dec, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := tok.(string); !ok {
			return want("a string")
		}
		return nil
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return want("true or false")
		}
		return nil
	case reflect.Int:
		n, ok := tok.(json.Number)
		if !ok {
			return want("a whole number")
		}
		if _, err := strconv.ParseInt(string(n), 10, 32); err != nil {
			return want("a whole number")
		}
		return nil
	default:
		return fmt.Errorf("form: no JSON check for %s", t)
	}
	// Consume the closing delimiter of an object or list.
	if _, err := dec.Token(); err != nil {
		return syntaxErr(err)
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
