package form_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/validate"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Placeholder notice versions of the golden demo form: a workspace's demo
// form gets the versions of the notices it is seeded with.
const (
	goldenNLDE      = "1111111111111111111111111111111111111111111111111111111111111111"
	goldenNLEN      = "2222222222222222222222222222222222222222222222222222222222222222"
	goldenPrivacyDE = "3333333333333333333333333333333333333333333333333333333333333333"
	goldenPrivacyEN = "4444444444444444444444444444444444444444444444444444444444444444"
)

func encode(t testing.TB, d form.Definition) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := d.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDemoGolden(t *testing.T) {
	d := form.Demo(goldenNLDE, goldenNLEN, goldenPrivacyDE, goldenPrivacyEN)
	got := encode(t, d)
	path := filepath.Join("testdata", "demo-newsletter.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("export of the demo form changed (run with -update if intended):\n%s", got)
	}
	back, err := form.Decode(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip changed the form:\n got %+v\nwant %+v", back, d)
	}
}

func TestRoundTrip(t *testing.T) {
	for name, d := range map[string]form.Definition{"rich": richForm(), "empty": {}, "demo": demo()} {
		first := encode(t, d)
		back, err := form.Decode(bytes.NewReader(first))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, first)
		}
		if again := encode(t, back); !bytes.Equal(first, again) {
			t.Errorf("%s: second export differs:\n%s\n%s", name, first, again)
		}
	}
	// Absent lists are exported as [] so importers see one shape.
	if s := string(encode(t, form.Definition{Fields: []form.Field{{Name: "x"}}})); strings.Contains(s, "null") {
		t.Errorf("export with null: %s", s)
	}
	if s := string(encode(t, form.Definition{Title: map[string]string{"de": "<b>&"}})); !strings.Contains(s, `"<b>&"`) {
		t.Errorf("export escapes HTML: %s", s)
	}
}

func TestDecodeErrors(t *testing.T) {
	demoJSON := string(encode(t, demo()))
	cases := []struct {
		name, in, field, code string
		allowed               string
	}{
		{"unknown top-level field", `{"key":"a","titel":{}}`, "titel", "unknown_field", "title"},
		{"unknown nested field", strings.Replace(demoJSON, `"purposes": [`, `"purpose": [`, 1), "fields[0].purpose", "unknown_field", "purposes"},
		{"unknown field in a consent", `{"consents":[{"key":"a"},{"key":"b","preticked":true}]}`, "consents[1].preticked", "unknown_field", "pre_ticked"},
		{"unknown field in the offer", `{"offer":{"url":"/x","href":"/y"}}`, "offer.href", "unknown_field", "url"},
		{"case matters", `{"Key":"a"}`, "Key", "unknown_field", "key"},
		{"duplicate field", `{"key":"a","key":"b"}`, "key", "duplicate", ""},
		{"duplicate language", `{"title":{"de":"a","de":"b"}}`, "title.de", "duplicate", ""},
		{"string for bool", `{"fields":[{"name":"a","required":"yes"}]}`, "fields[0].required", "invalid_type", ""},
		{"number for string", `{"key":1}`, "key", "invalid_type", ""},
		{"fraction for int", `{"fields":[{"max_length":1.5}]}`, "fields[0].max_length", "invalid_type", ""},
		{"huge int", `{"fields":[{"max_length":99999999999999999999}]}`, "fields[0].max_length", "invalid_type", ""},
		{"object for list", `{"languages":{"de":true}}`, "languages", "invalid_type", ""},
		{"number in map", `{"title":{"de":1}}`, "title.de", "invalid_type", ""},
		{"list at top", `[{"key":"a"}]`, "", "invalid_type", ""},
		{"trailing object", `{"key":"a"} {"key":"b"}`, "", "invalid_json", ""},
		{"trailing garbage", `{"key":"a"}x`, "", "invalid_json", ""},
		{"not JSON", `key: a`, "", "invalid_json", ""},
		{"truncated", `{"key":"a",`, "", "invalid_json", ""},
		{"empty", ``, "", "invalid_json", ""},
		{"too large", `{"key":"` + strings.Repeat("a", form.MaxDefinitionSize) + `"}`, "", "too_large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := form.Decode(strings.NewReader(tc.in))
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("want *validate.Error, got %v", err)
			}
			if ve.Field != tc.field || ve.Code != tc.code {
				t.Fatalf("got field %q code %q (%v), want %q %q", ve.Field, ve.Code, err, tc.field, tc.code)
			}
			if tc.allowed != "" && (!slices.Contains(ve.Allowed, tc.allowed) || !strings.Contains(ve.Message, tc.allowed)) {
				t.Errorf("error %v does not offer %q", err, tc.allowed)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

func TestDecodeAcceptsNullAndWhitespace(t *testing.T) {
	d, err := form.Decode(strings.NewReader(" \n{\"key\":\"a\",\"offer\":null,\"fields\":null,\"title\":{\"de\":\"x\"}}\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Key != "a" || d.Offer != nil || d.Fields != nil || d.Title["de"] != "x" {
		t.Fatalf("got %+v", d)
	}
	exact := `{"key":"` + strings.Repeat("a", form.MaxDefinitionSize-10) + `"}`
	if _, err := form.Decode(strings.NewReader(exact)); err != nil {
		t.Fatalf("a definition within the size limit: %v", err)
	}
}
