package form_test

import (
	"bytes"
	"net/url"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
)

func BenchmarkParse(b *testing.B) {
	d := richForm()
	v := url.Values{
		"email": {"Ada.Lovelace@Example.com"}, "last_name": {"Lovelace"}, "first_name": {"Ada"}, "phone": {"+49 171 1234567"},
		"topic": {"support"}, "message": {"Hello,\r\nplease call me back.\r\n"}, "newsletter_email": {"on"}, "sales_calls_phone": {"on"},
		form.HoneypotField: {""},
	}
	for b.Loop() {
		if _, errs := form.Parse(d, v, "de"); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func BenchmarkValidateAndLint(b *testing.B) {
	d, c := richForm(), testCatalog()
	for b.Loop() {
		if err := form.Validate(d, c); err != nil {
			b.Fatal(err)
		}
		if fs := form.Lint(d, c); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data := encode(b, richForm())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := form.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
