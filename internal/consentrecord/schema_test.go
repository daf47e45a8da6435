package consentrecord

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The JSON Schemas in testdata/schema encode the required fields of the
// DPVCG guide (see testdata/schema/SOURCES.md). The standard library has no
// JSON Schema validator, so this is a minimal one for the keywords those
// files use: type, required, properties, items, minItems, contains, allOf,
// enum, const, pattern, format date-time and $ref within the document. Any
// other keyword makes the test fail, so the schemas cannot silently use
// something that is not checked.

type schemaDoc struct {
	root any
}

func loadSchema(t *testing.T, name string) schemaDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "schema", name))
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return schemaDoc{root: root}
}

var annotations = map[string]bool{"$schema": true, "$id": true, "$comment": true, "title": true, "description": true, "$defs": true}

func (d schemaDoc) validate(inst any) []string {
	var errs []string
	d.check(inst, d.root, "", &errs)
	return errs
}

func (d schemaDoc) resolve(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, fmt.Errorf("unsupported $ref %q (only within the document)", ref)
	}
	var cur any = d.root
	for _, part := range strings.Split(ref[2:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	return cur, nil
}

func (d schemaDoc) check(inst, schema any, path string, errs *[]string) {
	fail := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "/"
		}
		*errs = append(*errs, p+": "+fmt.Sprintf(format, args...))
	}
	s, ok := schema.(map[string]any)
	if !ok {
		fail("schema is not an object")
		return
	}
	// Fixed order so messages are stable.
	kws := make([]string, 0, len(s))
	for k := range s {
		kws = append(kws, k)
	}
	sort.Strings(kws)
	for _, kw := range kws {
		val := s[kw]
		switch kw {
		case "$ref":
			target, err := d.resolve(val.(string))
			if err != nil {
				fail("%v", err)
				continue
			}
			d.check(inst, target, path, errs)
		case "type":
			if !hasType(inst, val.(string)) {
				fail("want type %s, got %s", val, jsonType(inst))
			}
		case "required":
			obj, ok := inst.(map[string]any)
			if !ok {
				continue
			}
			for _, r := range val.([]any) {
				if _, ok := obj[r.(string)]; !ok {
					fail("required property %q is missing", r)
				}
			}
		case "properties":
			obj, ok := inst.(map[string]any)
			if !ok {
				continue
			}
			props := val.(map[string]any)
			names := make([]string, 0, len(props))
			for n := range props {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				if v, ok := obj[n]; ok {
					d.check(v, props[n], path+"/"+n, errs)
				}
			}
		case "items":
			if arr, ok := inst.([]any); ok {
				for i, v := range arr {
					d.check(v, val, fmt.Sprintf("%s/%d", path, i), errs)
				}
			}
		case "minItems":
			if arr, ok := inst.([]any); ok && float64(len(arr)) < val.(float64) {
				fail("want at least %v items, got %d", val, len(arr))
			}
		case "contains":
			arr, ok := inst.([]any)
			if !ok {
				continue
			}
			found := false
			for _, v := range arr {
				var sub []string
				d.check(v, val, path, &sub)
				if len(sub) == 0 {
					found = true
					break
				}
			}
			if !found {
				fail("no item matches %s", compact(val))
			}
		case "allOf":
			for _, sub := range val.([]any) {
				d.check(inst, sub, path, errs)
			}
		case "enum":
			match := false
			for _, e := range val.([]any) {
				if reflect.DeepEqual(inst, e) {
					match = true
				}
			}
			if !match {
				fail("%s is not one of %s", compact(inst), compact(val))
			}
		case "const":
			if !reflect.DeepEqual(inst, val) {
				fail("want %s, got %s", compact(val), compact(inst))
			}
		case "pattern":
			if str, ok := inst.(string); ok && !regexp.MustCompile(val.(string)).MatchString(str) {
				fail("%q does not match %s", str, val)
			}
		case "format":
			if val != "date-time" {
				fail("unsupported format %q", val)
			} else if str, ok := inst.(string); ok {
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					fail("%q is not an RFC 3339 date-time", str)
				}
			}
		default:
			if !annotations[kw] {
				fail("schema keyword %q is not supported by this validator", kw)
			}
		}
	}
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOutputMatchesSchemas validates every output against the schema of
// its profile.
func TestOutputMatchesSchemas(t *testing.T) {
	record := loadSchema(t, "dpv-27560-record.schema.json")
	receipt := loadSchema(t, "receipt-summary.schema.json")
	for _, c := range cases {
		r, err := Record(c.input())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range record.validate(decode(t, r)) {
			t.Errorf("%s record: %s", c.name, e)
		}
		rc, err := Receipt(c.input())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range receipt.validate(decode(t, rc)) {
			t.Errorf("%s receipt: %s", c.name, e)
		}
	}
}

// TestSchemaConstantsMatchCode keeps the profile IRIs in the schemas and in
// the code the same.
func TestSchemaConstantsMatchCode(t *testing.T) {
	for file, want := range map[string]string{
		"dpv-27560-record.schema.json": RecordProfile,
		"receipt-summary.schema.json":  ReceiptSummaryProfile,
	} {
		s := loadSchema(t, file).root.(map[string]any)
		got := s["properties"].(map[string]any)["dct:conformsTo"].(map[string]any)["const"]
		if got != want {
			t.Errorf("%s: dct:conformsTo const %v, code says %s", file, got, want)
		}
	}
}

// TestEveryRequiredFieldIsChecked removes, one at a time, each property a
// schema lists as required at the top level and in the first process,
// event and entity, and expects the validator to notice. This proves the
// validator and the required lists are actually in force.
func TestEveryRequiredFieldIsChecked(t *testing.T) {
	schema := loadSchema(t, "dpv-27560-record.schema.json")
	out, err := Record(newsletterWithdrawn())
	if err != nil {
		t.Fatal(err)
	}
	defs := schema.root.(map[string]any)["$defs"].(map[string]any)
	targets := []struct {
		required []any
		pick     func(doc map[string]any) map[string]any
	}{
		{schema.root.(map[string]any)["required"].([]any), func(doc map[string]any) map[string]any { return doc }},
		{defs["process"].(map[string]any)["required"].([]any), func(doc map[string]any) map[string]any {
			return doc["dpv:hasProcess"].([]any)[0].(map[string]any)
		}},
		{defs["event"].(map[string]any)["required"].([]any), func(doc map[string]any) map[string]any {
			return doc["dpv:hasConsentStatus"].([]any)[1].(map[string]any)
		}},
		{defs["entity"].(map[string]any)["required"].([]any), func(doc map[string]any) map[string]any {
			return doc["dpv:hasEntity"].([]any)[0].(map[string]any)
		}},
		{defs["notice"].(map[string]any)["required"].([]any), func(doc map[string]any) map[string]any {
			return doc["dpv:hasNotice"].([]any)[0].(map[string]any)
		}},
	}
	for _, target := range targets {
		for _, field := range target.required {
			doc := decode(t, out).(map[string]any)
			delete(target.pick(doc), field.(string))
			errs := schema.validate(doc)
			if !containsSubstring(errs, fmt.Sprintf("required property %q is missing", field)) {
				t.Errorf("removing %q was not detected: %v", field, errs)
			}
		}
	}
}

func TestValidatorRejects(t *testing.T) {
	schema := loadSchema(t, "dpv-27560-record.schema.json")
	out, err := Record(phoneUWG7a())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(doc map[string]any)
		want   string
	}{
		{"event time not a date-time", func(doc map[string]any) {
			doc["dpv:hasConsentStatus"].([]any)[0].(map[string]any)["dpv:isIndicatedAtTime"] = "yesterday"
		}, "not an RFC 3339 date-time"},
		{"wrong profile", func(doc map[string]any) { doc["dct:conformsTo"] = "https://example.com/receipt-summary" }, "want \"https://w3id.org/dpv/schema/dpv-27560#record\""},
		{"unknown status", func(doc map[string]any) {
			doc["dpv:hasConsentStatus"].([]any)[0].(map[string]any)["@type"] = []any{"dpv:ConsentMaybe"}
		}, "is not one of"},
		{"no postal address", func(doc map[string]any) {
			e := doc["dpv:hasEntity"].([]any)[0].(map[string]any)
			e["schema:contactPoint"] = e["schema:contactPoint"].([]any)[:1]
		}, "no item matches"},
		{"no retention", func(doc map[string]any) {
			p := doc["dpv:hasProcess"].([]any)[0].(map[string]any)
			p["dpv:hasStorageCondition"] = p["dpv:hasStorageCondition"].([]any)[:1]
		}, "want at least 2 items"},
		{"e-mail as subject", func(doc map[string]any) {
			doc["dpv:hasDataSubject"].(map[string]any)["dct:identifier"] = "max@example.com"
		}, "does not match"},
		{"process not an array", func(doc map[string]any) { doc["dpv:hasProcess"] = "x" }, "want type array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decode(t, out).(map[string]any)
			tt.change(doc)
			if errs := schema.validate(doc); !containsSubstring(errs, tt.want) {
				t.Fatalf("want an error containing %q, got %v", tt.want, errs)
			}
		})
	}
}

func containsSubstring(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// TestPendingConsent covers a request that has not been answered yet: the
// receipt must show dpv:ConsentRequested and both documents must still meet
// their schemas.
func TestPendingConsent(t *testing.T) {
	in := newsletterWithdrawn()
	in.Events = in.Events[:1]
	in.Status = StatusPending
	in.UpdatedAt = in.CreatedAt
	r, err := Record(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range loadSchema(t, "dpv-27560-record.schema.json").validate(decode(t, r)) {
		t.Errorf("record: %s", e)
	}
	rc, err := Receipt(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range loadSchema(t, "receipt-summary.schema.json").validate(decode(t, rc)) {
		t.Errorf("receipt: %s", e)
	}
	status := decode(t, rc).(map[string]any)["dpv:hasRecordOfActivity"].([]any)[0].(map[string]any)["dpv:hasConsentStatus"].(map[string]any)
	if got := compact(status["@type"]); got != `["dpv:ConsentRequested"]` {
		t.Fatalf("pending receipt status %s", got)
	}
	if concept, _ := StatusConcept(StatusPending); concept != "dpv:ConsentRequested" {
		t.Fatalf("StatusConcept(pending) = %s", concept)
	}
}
