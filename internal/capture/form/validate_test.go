package form_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
	"github.com/fairlead/fairlead/internal/validate"
)

func TestValidateAcceptsGoodForms(t *testing.T) {
	c := testCatalog()
	for name, d := range map[string]form.Definition{"demo": demo(), "rich": richForm()} {
		if err := form.Validate(d, c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	d := richForm()
	d.Offer.URL = "/p/forms/contact-sales/prices"
	d.AllowedOrigins = []string{"https://[2001:db8::1]:8443", "https://xn--bcher-kva.example"}
	d.Languages = []string{"en"}
	d.Title = map[string]string{"en": "Contact"}
	for _, m := range []*map[string]string{&d.Intro, &d.Offer.Title, &d.Success} {
		delete(*m, "de")
	}
	for i := range d.Fields {
		delete(d.Fields[i].Label, "de")
		for j := range d.Fields[i].Options {
			delete(d.Fields[i].Options[j].Label, "de")
		}
	}
	for i := range d.Consents {
		delete(d.Consents[i].Notice, "de")
	}
	delete(d.PrivacyNotice, "de")
	if err := form.Validate(d, c); err != nil {
		t.Errorf("english only: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	many := func(n int) []form.Field {
		fs := make([]form.Field, n)
		for i := range fs {
			fs[i] = form.Field{Name: fmt.Sprintf("f%d", i), Type: "text", Label: txt("x", "x"), Purposes: []string{}}
		}
		return fs
	}
	cases := []struct {
		name    string
		mutate  func(d *form.Definition)
		field   string
		code    string
		allowed []string // must all be in the error's Allowed
	}{
		{"bad key", func(d *form.Definition) { d.Key = "Contact_Sales" }, "key", "invalid_value", nil},
		{"unknown audience", func(d *form.Definition) { d.Audience = "b2g" }, "audience", "invalid_value", []string{"b2c", "b2b"}},
		{"empty key", func(d *form.Definition) { d.Key = "" }, "key", "invalid_value", nil},
		{"key too long", func(d *form.Definition) { d.Key = strings.Repeat("a", 64) }, "key", "invalid_value", nil},
		{"no languages", func(d *form.Definition) { d.Languages = nil }, "languages", "required", []string{"de", "en"}},
		{"unknown language", func(d *form.Definition) { d.Languages = []string{"de", "fr"} }, "languages[1]", "invalid_value", []string{"de", "en"}},
		{"language twice", func(d *form.Definition) { d.Languages = []string{"de", "de"} }, "languages[1]", "duplicate", nil},
		{"title missing for a language", func(d *form.Definition) { delete(d.Title, "en") }, "title.en", "required", nil},
		{"blank title", func(d *form.Definition) { d.Title["de"] = "  " }, "title.de", "required", nil},
		{"title in a language the form lacks", func(d *form.Definition) { d.Title["fr"] = "Contact" }, "title.fr", "invalid_value", []string{"de", "en"}},
		{"title with a control character", func(d *form.Definition) { d.Title["de"] = "Kon\x07takt" }, "title.de", "invalid_value", nil},
		{"title not UTF-8", func(d *form.Definition) { d.Title["de"] = "Kon\xfftakt" }, "title.de", "invalid_value", nil},
		{"title too long", func(d *form.Definition) { d.Title["de"] = strings.Repeat("ä", 201) }, "title.de", "invalid_value", nil},
		{"blank optional text", func(d *form.Definition) { d.Intro["en"] = " \n" }, "intro.en", "invalid_value", nil},
		{"intro in an unknown language", func(d *form.Definition) { d.Intro["it"] = "Ciao" }, "intro.it", "invalid_value", []string{"de", "en"}},
		{"unknown service purpose", func(d *form.Definition) { d.ServicePurposes = []string{"inquiry_replies", "spam"} }, "service_purposes[1]", "unknown_purpose", []string{"newsletter", "inquiry_replies"}},
		{"service purpose twice", func(d *form.Definition) { d.ServicePurposes = []string{"inquiry_replies", "inquiry_replies"} }, "service_purposes[1]", "duplicate", nil},
		{"too many fields", func(d *form.Definition) { d.Fields = many(51); d.Consents = nil }, "fields", "too_many", nil},
		{"bad field name", func(d *form.Definition) { d.Fields[1].Name = "Last-Name" }, "fields[1].name", "invalid_value", nil},
		{"field named like the spam trap", func(d *form.Definition) { d.Fields[1].Name = form.HoneypotField }, "fields[1].name", "reserved", nil},
		{"field name twice", func(d *form.Definition) { d.Fields[2].Name = "last_name" }, "fields[2].name", "duplicate", nil},
		{"unknown field type", func(d *form.Definition) { d.Fields[1].Type = "number" }, "fields[1].type", "invalid_value", form.FieldTypes},
		{"email field not of type email", func(d *form.Definition) { d.Fields[0].Type = "text" }, "fields[0].type", "invalid_value", []string{"email"}},
		{"phone field not of type tel", func(d *form.Definition) { d.Fields[3].Type = "text" }, "fields[3].type", "invalid_value", []string{"tel"}},
		{"label missing for a language", func(d *form.Definition) { delete(d.Fields[2].Label, "de") }, "fields[2].label.de", "required", nil},
		{"max_length too large", func(d *form.Definition) { d.Fields[6].MaxLength = 10001 }, "fields[6].max_length", "invalid_value", nil},
		{"negative max_length", func(d *form.Definition) { d.Fields[6].MaxLength = -1 }, "fields[6].max_length", "invalid_value", nil},
		{"email max_length beyond an address", func(d *form.Definition) { d.Fields[0].MaxLength = 300 }, "fields[0].max_length", "invalid_value", nil},
		{"select without options", func(d *form.Definition) { d.Fields[5].Options = nil }, "fields[5].options", "required", nil},
		{"options on a text field", func(d *form.Definition) { d.Fields[1].Options = d.Fields[5].Options }, "fields[1].options", "invalid_value", nil},
		{"option value twice", func(d *form.Definition) { d.Fields[5].Options[1].Value = "pricing" }, "fields[5].options[1].value", "duplicate", nil},
		{"empty option value", func(d *form.Definition) { d.Fields[5].Options[0].Value = "" }, "fields[5].options[0].value", "required", nil},
		{"option value with spaces around", func(d *form.Definition) { d.Fields[5].Options[0].Value = " pricing" }, "fields[5].options[0].value", "invalid_value", nil},
		{"option label missing", func(d *form.Definition) { delete(d.Fields[5].Options[1].Label, "en") }, "fields[5].options[1].label.en", "required", nil},
		{"unknown field purpose", func(d *form.Definition) { d.Fields[2].Purposes = []string{"profiling"} }, "fields[2].purposes[0]", "unknown_purpose", []string{"newsletter"}},
		{"bad category", func(d *form.Definition) { d.Fields[6].Category = "Free Text" }, "fields[6].category", "invalid_value", nil},
		{"too many consents", func(d *form.Definition) {
			for i := range 18 {
				c := d.Consents[0]
				c.Key = fmt.Sprintf("c%d", i)
				d.Consents = append(d.Consents, c)
			}
		}, "consents", "too_many", nil},
		{"bad consent key", func(d *form.Definition) { d.Consents[0].Key = "1st" }, "consents[0].key", "invalid_value", nil},
		{"consent key twice", func(d *form.Definition) { d.Consents[1].Key = "newsletter_email" }, "consents[1].key", "duplicate", nil},
		{"consent key is a field name", func(d *form.Definition) { d.Consents[1].Key = "phone" }, "consents[1].key", "duplicate", nil},
		{"consent named like the spam trap", func(d *form.Definition) { d.Consents[0].Key = form.HoneypotField }, "consents[0].key", "reserved", nil},
		{"consent without purpose", func(d *form.Definition) { d.Consents[0].Purposes = nil }, "consents[0].purposes", "required", nil},
		{"consent with unknown purpose", func(d *form.Definition) { d.Consents[0].Purposes = []string{"newsleter"} }, "consents[0].purposes[0]", "unknown_purpose", []string{"newsletter"}},
		{"consent without channel", func(d *form.Definition) { d.Consents[0].Channels = []string{} }, "consents[0].channels", "required", form.Channels},
		{"unknown channel", func(d *form.Definition) { d.Consents[0].Channels = []string{"fax"} }, "consents[0].channels[0]", "invalid_value", form.Channels},
		{"channel twice", func(d *form.Definition) { d.Consents[0].Channels = []string{"email", "email"} }, "consents[0].channels[1]", "duplicate", nil},
		{"channel the purpose does not allow", func(d *form.Definition) {
			d.Consents[2].Purposes = []string{"supplier_acquisition"}
			d.Consents[2].Channels = []string{"post", "email"}
		}, "consents[2].channels[1]", "channel_not_allowed", []string{"post"}},
		{"channel the analytics purpose does not allow", func(d *form.Definition) {
			d.Consents[0].Purposes = []string{"email_tracking"}
			d.Consents[0].Channels = []string{"web"}
		}, "consents[0].channels[0]", "channel_not_allowed", []string{"email"}},
		{"notice that is no version hash", func(d *form.Definition) { d.Consents[0].Notice["de"] = "v1" }, "consents[0].notice.de", "invalid_value", nil},
		{"upper-case notice hash", func(d *form.Definition) { d.Consents[0].Notice["de"] = strings.ToUpper(nlDE) }, "consents[0].notice.de", "invalid_value", nil},
		{"notice in an unknown language", func(d *form.Definition) { d.Consents[0].Notice["fr"] = nlDE }, "consents[0].notice.fr", "invalid_value", []string{"de", "en"}},
		{"privacy notice that is no hash", func(d *form.Definition) { d.PrivacyNotice["en"] = "latest" }, "privacy_notice.en", "invalid_value", nil},
		{"offer title missing", func(d *form.Definition) { delete(d.Offer.Title, "de") }, "offer.title.de", "required", nil},
		{"offer without URL", func(d *form.Definition) { d.Offer.URL = "" }, "offer.url", "required", nil},
		{"offer over http", func(d *form.Definition) { d.Offer.URL = "http://www.example.com/prices.pdf" }, "offer.url", "invalid_value", nil},
		{"offer protocol-relative", func(d *form.Definition) { d.Offer.URL = "//evil.example/x" }, "offer.url", "invalid_value", nil},
		{"offer javascript", func(d *form.Definition) { d.Offer.URL = "javascript:alert(1)" }, "offer.url", "invalid_value", nil},
		{"offer relative without slash", func(d *form.Definition) { d.Offer.URL = "ebook.pdf" }, "offer.url", "invalid_value", nil},
		{"offer with backslash", func(d *form.Definition) { d.Offer.URL = "/\\evil.example" }, "offer.url", "invalid_value", nil},
		{"offer with credentials", func(d *form.Definition) { d.Offer.URL = "https://user:pw@www.example.com/" }, "offer.url", "invalid_value", nil},
		{"origin over http", func(d *form.Definition) { d.AllowedOrigins[1] = "http://shop.example.com" }, "allowed_origins[1]", "invalid_value", nil},
		{"origin with path", func(d *form.Definition) { d.AllowedOrigins[0] = "https://www.example.com/" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin with upper case", func(d *form.Definition) { d.AllowedOrigins[0] = "https://WWW.example.com" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin with default port", func(d *form.Definition) { d.AllowedOrigins[0] = "https://www.example.com:443" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin with bad port", func(d *form.Definition) { d.AllowedOrigins[0] = "https://www.example.com:70000" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin wildcard", func(d *form.Definition) { d.AllowedOrigins[0] = "*" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin with query", func(d *form.Definition) { d.AllowedOrigins[0] = "https://www.example.com?x" }, "allowed_origins[0]", "invalid_value", nil},
		{"origin twice", func(d *form.Definition) { d.AllowedOrigins[1] = d.AllowedOrigins[0] }, "allowed_origins[1]", "duplicate", nil},
		{"success text in an unknown language", func(d *form.Definition) { d.Success["es"] = "Gracias" }, "success.es", "invalid_value", []string{"de", "en"}},
		{"success text with a NUL", func(d *form.Definition) { d.Success["en"] = "Thanks\x00" }, "success.en", "invalid_value", nil},
	}
	c := testCatalog()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := richForm()
			tc.mutate(&d)
			err := form.Validate(d, c)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("want *validate.Error for %s, got %v", tc.field, err)
			}
			if ve.Field != tc.field || ve.Code != tc.code {
				t.Fatalf("got field %q code %q (%v), want field %q code %q", ve.Field, ve.Code, err, tc.field, tc.code)
			}
			if !strings.Contains(err.Error(), tc.field) || ve.Message == "" {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			for _, a := range tc.allowed {
				if !slices.Contains(ve.Allowed, a) {
					t.Errorf("allowed %v lacks %q", ve.Allowed, a)
				}
				if !strings.Contains(ve.Message, a) {
					t.Errorf("message %q does not name allowed value %q", ve.Message, a)
				}
			}
		})
	}
}

// TestValidateWithoutLister checks that a catalogue that cannot list its
// purposes still gets a clear error, and that a nil catalogue does not
// panic.
func TestValidateWithoutLister(t *testing.T) {
	type plain struct{ form.Catalog }
	d := richForm()
	d.ServicePurposes = []string{"nope"}
	err := form.Validate(d, plain{testCatalog()})
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Field != "service_purposes[0]" || !strings.Contains(ve.Message, `"nope"`) {
		t.Fatalf("got %v", err)
	}
	if err := form.Validate(richForm(), nil); err == nil {
		t.Fatal("nil catalogue accepted unknown purposes")
	}
}
