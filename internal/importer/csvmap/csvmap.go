// Package csvmap turns the lines of an import file (CSV or JSON) into
// records keyed by fairlead's import fields, through a mapping from the
// file's columns to those fields. It knows no database: it checks the shape
// of each line (known fields, well-formed dates and channel lists, the
// evidence a consent needs) so that the importer only writes lines that can
// be written whole.
package csvmap

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/validate"
)

// Import fields.
const (
	Email        = "email"
	Phone        = "phone"
	FirstName    = "first_name"
	LastName     = "last_name"
	Organization = "organization"
	Audience     = "audience"
	Relationship = "relationship"
	Street       = "street"
	PostalCode   = "postal_code"
	City         = "city"
	Country      = "country"

	// A consent column group: the purpose key, the channels it covers, and
	// the evidence (when, how, which notice version or the text shown).
	ConsentPurpose      = "consent_purpose"
	ConsentChannels     = "consent_channels"
	ConsentAt           = "consent_at"
	ConsentMethod       = "consent_method"
	ConsentNotice       = "consent_notice"
	ConsentText         = "consent_text"
	ConsentVerification = "consent_verification"
)

// Fields are the import fields a column may be mapped to.
var Fields = []string{Email, Phone, FirstName, LastName, Organization, Audience, Relationship, Street, PostalCode, City, Country,
	ConsentPurpose, ConsentChannels, ConsentAt, ConsentMethod, ConsentNotice, ConsentText, ConsentVerification}

// ConsentRequired are the evidence fields an imported consent must carry:
// the channels, when and how it was given, and the version of the notice
// (consent text) shown. ConsentText is the text shown when it differs from
// the notice's; left empty, it is the notice's text.
var ConsentRequired = []string{ConsentChannels, ConsentAt, ConsentMethod, ConsentNotice}

// Error codes of a line.
const (
	CodeMalformed       = "malformed_line"
	CodeInvalidUTF8     = "invalid_utf8"
	CodeTooLong         = "too_long"
	CodeEvidenceMissing = "consent_evidence_missing"
	CodeInvalidDate     = "invalid_date"
	CodeInvalidChannels = "invalid_channels"
	CodeNoConsent       = "consent_fields_without_purpose"
)

// MaxValue is the longest value a field may hold (bytes); consent texts may
// be longer.
const (
	MaxValue     = 1000
	MaxTextValue = 20000
)

// Mapping maps file columns to import fields.
type Mapping map[string]string

// ParseSpec reads a mapping written as "Column=field,Other Column=field".
func ParseSpec(spec string) (Mapping, error) {
	m := Mapping{}
	if strings.TrimSpace(spec) == "" {
		return m, nil
	}
	for _, part := range strings.Split(spec, ",") {
		col, field, ok := strings.Cut(part, "=")
		col, field = strings.TrimSpace(col), strings.TrimSpace(field)
		if !ok || col == "" || field == "" {
			return nil, validate.Invalid("mapping", fmt.Sprintf("mapping must be a list of column=field pairs separated by commas (got %q)", part))
		}
		if _, dup := m[col]; dup {
			return nil, validate.Invalid("mapping", fmt.Sprintf("mapping names column %q twice", col))
		}
		m[col] = field
	}
	return m, nil
}

// Mapper maps the columns of one file.
type Mapper struct {
	// index[i] is the field of column i, "" when the column is ignored.
	index   []string
	Ignored []string
}

// New checks the mapping against the header. An empty mapping maps every
// column named like a field to it; then every column must be a field. With
// a mapping, every target must be a field and every mapped column must be
// in the header; other columns are ignored.
func New(header []string, m Mapping) (*Mapper, error) {
	mp := &Mapper{index: make([]string, len(header))}
	seenCol := map[string]bool{}
	for _, h := range header {
		if seenCol[h] {
			return nil, validate.Invalid("header", fmt.Sprintf("column %q appears twice in the header", h))
		}
		seenCol[h] = true
	}
	if len(m) == 0 {
		for i, h := range header {
			f := strings.ToLower(strings.TrimSpace(h))
			if !slices.Contains(Fields, f) {
				e := validate.OneOf("mapping", h, Fields)
				e.Message = fmt.Sprintf("column %q is not an import field: map it with a mapping (column=field) or name it one of %s", h, strings.Join(Fields, ", "))
				return nil, e
			}
			mp.index[i] = f
		}
	} else {
		cols := make([]string, 0, len(m))
		for c := range m {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		for _, c := range cols {
			if !slices.Contains(Fields, m[c]) {
				e := validate.OneOf("mapping."+c, m[c], Fields)
				e.Code = "unknown_field"
				e.Message = fmt.Sprintf("mapping of column %q: %q is not an import field; allowed: %s", c, m[c], strings.Join(Fields, ", "))
				return nil, e
			}
			if !slices.Contains(header, c) {
				return nil, validate.Invalid("mapping."+c, fmt.Sprintf("mapping names column %q, which the file does not have", c))
			}
		}
		for i, h := range header {
			if f, ok := m[h]; ok {
				mp.index[i] = f
			} else {
				mp.Ignored = append(mp.Ignored, h)
			}
		}
	}
	seen := map[string]string{}
	for i, f := range mp.index {
		if f == "" {
			continue
		}
		if other, dup := seen[f]; dup {
			return nil, validate.Invalid("mapping", fmt.Sprintf("columns %q and %q are both mapped to %s", other, header[i], f))
		}
		seen[f] = header[i]
	}
	return mp, nil
}

// FieldsMapped lists the fields the file supplies, in column order.
func (mp *Mapper) FieldsMapped() []string {
	var out []string
	for _, f := range mp.index {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Record is one line of the file, by import field. Only non-empty values
// are present; they are trimmed.
type Record struct {
	Line   int
	Values map[string]string
	// Channels and ConsentAt are parsed from their columns when a consent is
	// given.
	Channels  []string
	ConsentAt time.Time
}

// Consent reports whether the line records a consent.
func (r Record) Consent() bool { return r.Values[ConsentPurpose] != "" }

// LineError is what is wrong with one line.
type LineError struct {
	Line    int      `json:"line"`
	Field   string   `json:"field,omitempty"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Allowed []string `json:"allowed,omitempty"`
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Message)
}

// AsLineError turns a validation error into the line error of line n.
func AsLineError(n int, err error) *LineError {
	var le *LineError
	if errors.As(err, &le) {
		return le
	}
	var ve *validate.Error
	if errors.As(err, &ve) {
		return &LineError{Line: n, Field: ve.Field, Code: ve.Code, Message: ve.Message, Allowed: ve.Allowed}
	}
	return &LineError{Line: n, Code: "error", Message: err.Error()}
}

// Map maps one line's values (in column order) to a record. It reports the
// first problem of the line; a line with a problem must not be written.
func (mp *Mapper) Map(line int, values []string) (Record, *LineError) {
	r := Record{Line: line, Values: make(map[string]string, len(mp.index))}
	if len(values) != len(mp.index) {
		return r, &LineError{Line: line, Code: CodeMalformed, Message: fmt.Sprintf("the line has %d values, the header %d columns", len(values), len(mp.index))}
	}
	for i, f := range mp.index {
		if f == "" {
			continue
		}
		v := strings.TrimSpace(values[i])
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			return r, &LineError{Line: line, Field: f, Code: CodeInvalidUTF8, Message: f + " is not valid UTF-8"}
		}
		max := MaxValue
		if f == ConsentText {
			max = MaxTextValue
		}
		if len(v) > max {
			return r, &LineError{Line: line, Field: f, Code: CodeTooLong, Message: fmt.Sprintf("%s must have at most %d bytes", f, max)}
		}
		r.Values[f] = v
	}
	if !r.Consent() {
		for _, f := range []string{ConsentChannels, ConsentAt, ConsentMethod, ConsentNotice, ConsentText, ConsentVerification} {
			if r.Values[f] != "" {
				return r, &LineError{Line: line, Field: f, Code: CodeNoConsent, Message: f + " is set but consent_purpose is empty: name the purpose the consent was given for"}
			}
		}
		return r, nil
	}
	for _, f := range ConsentRequired {
		if r.Values[f] == "" {
			return r, &LineError{Line: line, Field: f, Code: CodeEvidenceMissing,
				Message: fmt.Sprintf("a consent needs evidence: %s is empty (required: %s)", f, strings.Join(ConsentRequired, ", "))}
		}
	}
	t, err := parseTime(r.Values[ConsentAt])
	if err != nil {
		return r, &LineError{Line: line, Field: ConsentAt, Code: CodeInvalidDate, Message: "consent_at must be a date YYYY-MM-DD or a time in RFC 3339 (2026-01-31T12:00:00Z)"}
	}
	r.ConsentAt = t
	for _, c := range strings.FieldsFunc(r.Values[ConsentChannels], func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '|' }) {
		c = strings.ToLower(c)
		if !slices.Contains(r.Channels, c) {
			r.Channels = append(r.Channels, c)
		}
	}
	if len(r.Channels) == 0 {
		return r, &LineError{Line: line, Field: ConsentChannels, Code: CodeInvalidChannels, Message: "consent_channels must list channels separated by commas"}
	}
	return r, nil
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// Source yields the lines of a file: Header once, then Next until io.EOF.
type Source interface {
	Header() []string
	// Next returns the next line's values and its line number (CSV: the
	// line the record starts on; JSON: the record's position, from 1). A
	// *LineError reports a line that could not be read; reading goes on.
	Next() ([]string, int, error)
}

// Formats of import files.
var Formats = []string{"csv", "json"}

// NewSource reads the header of a CSV or JSON file.
func NewSource(format string, r io.Reader) (Source, error) {
	switch format {
	case "csv", "":
		return newCSV(r)
	case "json":
		return newJSON(r)
	}
	return nil, validate.OneOf("format", format, Formats)
}

type csvSource struct {
	r      *csv.Reader
	header []string
}

func newCSV(r io.Reader) (*csvSource, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A byte order mark from spreadsheet exports is not part of the first
	// column name.
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	h, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, validate.Invalid("file", "the file is empty: it needs a header line naming the columns")
	}
	if err != nil {
		return nil, validate.Invalid("file", "the header line cannot be read as CSV: "+csvReason(err))
	}
	// Semicolons are what spreadsheets in German locales write.
	if len(h) == 1 && strings.Contains(h[0], ";") {
		return nil, validate.Invalid("file", "the header has one column containing semicolons: the file must be comma-separated")
	}
	header := make([]string, len(h))
	for i, c := range h {
		header[i] = strings.TrimSpace(c)
	}
	return &csvSource{r: cr, header: header}, nil
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (s *csvSource) Header() []string { return s.header }

func (s *csvSource) Next() ([]string, int, error) {
	for {
		rec, err := s.r.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, pe.StartLine, &LineError{Line: pe.StartLine, Code: CodeMalformed, Message: "the line cannot be read as CSV: " + pe.Err.Error()}
			}
			return nil, 0, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		line, _ := s.r.FieldPos(0)
		return rec, line, nil
	}
}

type jsonSource struct {
	d      *json.Decoder
	header []string
	first  map[string]any
	n      int
	done   bool
}

// newJSON reads a JSON array of objects. The header is the keys of the
// first object; later objects may leave keys out but not add new ones.
func newJSON(r io.Reader) (*jsonSource, error) {
	d := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	d.UseNumber()
	t, err := d.Token()
	if err != nil || t != json.Delim('[') {
		return nil, validate.Invalid("file", "a JSON import is an array of objects, one per contact")
	}
	s := &jsonSource{d: d}
	if !d.More() {
		return nil, validate.Invalid("file", "the file is empty: the array has no objects")
	}
	var first map[string]any
	if err := d.Decode(&first); err != nil {
		return nil, validate.Invalid("file", "the first record is not a JSON object of column values")
	}
	for k := range first {
		s.header = append(s.header, k)
	}
	sort.Strings(s.header)
	s.first = first
	return s, nil
}

func (s *jsonSource) Header() []string { return s.header }

func (s *jsonSource) Next() ([]string, int, error) {
	var obj map[string]any
	switch {
	case s.first != nil:
		obj, s.first = s.first, nil
	case s.done || !s.d.More():
		s.done = true
		return nil, 0, io.EOF
	default:
		if err := s.d.Decode(&obj); err != nil {
			// The decoder cannot resynchronise inside an array.
			s.done = true
			return nil, s.n + 1, &LineError{Line: s.n + 1, Code: CodeMalformed, Message: "record is not a JSON object of column values; the records after it were not read"}
		}
	}
	s.n++
	vals := make([]string, len(s.header))
	for k, v := range obj {
		i, ok := slices.BinarySearch(s.header, k)
		if !ok {
			return nil, s.n, &LineError{Line: s.n, Field: k, Code: CodeMalformed, Message: fmt.Sprintf("key %q is not in the first record; every record has the keys of the first", k)}
		}
		switch x := v.(type) {
		case nil:
		case string:
			vals[i] = x
		case json.Number:
			vals[i] = x.String()
		case bool:
			vals[i] = strconv.FormatBool(x)
		default:
			return nil, s.n, &LineError{Line: s.n, Field: k, Code: CodeMalformed, Message: fmt.Sprintf("value of %q must be a string, number or boolean", k)}
		}
	}
	return vals, s.n, nil
}
