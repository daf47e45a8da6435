package csvmap_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/importer/csvmap"
	"github.com/fairlead/fairlead/internal/validate"
)

func readAll(t testing.TB, format, data string, m csvmap.Mapping) ([]csvmap.Record, []*csvmap.LineError, error) {
	src, err := csvmap.NewSource(format, strings.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	mp, err := csvmap.New(src.Header(), m)
	if err != nil {
		return nil, nil, err
	}
	var recs []csvmap.Record
	var errs []*csvmap.LineError
	for {
		vals, line, err := src.Next()
		if errors.Is(err, io.EOF) {
			return recs, errs, nil
		}
		var le *csvmap.LineError
		if errors.As(err, &le) {
			errs = append(errs, le)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		r, le := mp.Map(line, vals)
		if le != nil {
			errs = append(errs, le)
			continue
		}
		recs = append(recs, r)
	}
}

func TestUnknownTargetNamesAllowed(t *testing.T) {
	_, _, err := readAll(t, "csv", "Mail,Name\na@example.org,X\n", csvmap.Mapping{"Mail": "email", "Name": "surname"})
	var ve *validate.Error
	if !errors.As(err, &ve) || ve.Field != "mapping.Name" || ve.Code != "unknown_field" || !slices.Contains(ve.Allowed, "last_name") || !strings.Contains(ve.Message, "last_name") {
		t.Fatalf("got %#v", err)
	}
	_, _, err = readAll(t, "csv", "email,Whatever\na@example.org,X\n", nil)
	if !errors.As(err, &ve) || !strings.Contains(ve.Message, "Whatever") || !strings.Contains(ve.Message, "first_name") {
		t.Fatalf("got %#v", err)
	}
	_, _, err = readAll(t, "csv", "Mail\na@example.org\n", csvmap.Mapping{"E-Mail": "email"})
	if !errors.As(err, &ve) || ve.Field != "mapping.E-Mail" {
		t.Fatalf("got %#v", err)
	}
}

func TestLinesAndErrors(t *testing.T) {
	data := "E-Mail,Nachname,Zweck,Kanäle,Wann,Wie,Fassung,Notiz\n" +
		"a@example.org,A,,,,,,x\n" + // 2: fine, no consent
		"b@example.org,B,newsletter,email,2026-01-05,checkbox,abc,\n" + // 3: consent with evidence
		"c@example.org,C,newsletter,email,,checkbox,abc,\n" + // 4: no consent_at
		"d@example.org,D,newsletter,email,2026-01-05,checkbox,,\n" + // 5: no notice version
		"e@example.org,E\n" + // 6: short line
		"\n" +
		"\"f@example.org\nsecond\",F,,,,,,\n" + // 8-9: quoted newline
		"g@example.org,G,,email,,,,\n" + // 10: consent fields without purpose
		"h@example.org,H,newsletter,email,31.01.2026,checkbox,abc,\n" // 11: bad date
	m := csvmap.Mapping{"E-Mail": "email", "Nachname": "last_name", "Zweck": "consent_purpose", "Kanäle": "consent_channels", "Wann": "consent_at", "Wie": "consent_method", "Fassung": "consent_notice"}
	recs, errs, err := readAll(t, "csv", data, m)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, r := range recs {
		lines = append(lines, r.Line)
	}
	if !slices.Equal(lines, []int{2, 3, 8}) {
		t.Fatalf("good lines %v", lines)
	}
	if recs[1].ConsentAt.Format("2006-01-02") != "2026-01-05" || !slices.Equal(recs[1].Channels, []string{"email"}) {
		t.Fatalf("consent %+v", recs[1])
	}
	want := []struct {
		line        int
		field, code string
	}{{4, "consent_at", csvmap.CodeEvidenceMissing}, {5, "consent_notice", csvmap.CodeEvidenceMissing}, {6, "", csvmap.CodeMalformed},
		{10, "consent_channels", csvmap.CodeNoConsent}, {11, "consent_at", csvmap.CodeInvalidDate}}
	if len(errs) != len(want) {
		t.Fatalf("errors %v", errs)
	}
	for i, w := range want {
		if errs[i].Line != w.line || errs[i].Field != w.field || errs[i].Code != w.code {
			t.Errorf("error %d = %+v, want %+v", i, errs[i], w)
		}
	}
}

func TestJSONSource(t *testing.T) {
	recs, errs, err := readAll(t, "json", `[{"email":"a@example.org","last_name":"A"},{"email":"b@example.org","postal_code":12345},{"email":"c@example.org","bogus":"x"}]`, nil)
	if err != nil || len(recs) != 1 || len(errs) != 2 || errs[0].Line != 2 || errs[0].Field != "postal_code" {
		t.Fatalf("a key missing from the first record: %v %v %v", recs, errs, err)
	}
	recs, errs, err = readAll(t, "json", `[{"email":"a@example.org","postal_code":"1"},{"email":"b@example.org","postal_code":12345},{"email":"c@example.org","bogus":"x"}]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Values["postal_code"] != "12345" || len(errs) != 1 || errs[0].Line != 3 || errs[0].Field != "bogus" {
		t.Fatalf("recs %v errs %v", recs, errs)
	}
}

// FuzzLine feeds arbitrary CSV files through the reader and the mapping:
// neither may panic; every record holds only import fields, with valid,
// trimmed, bounded values; a consent record has its evidence; every error
// names a line that exists.
func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"email,last_name\na@example.org,A\n",
		"email,consent_purpose,consent_channels,consent_at,consent_method,consent_notice,consent_text\nb@example.org,newsletter,\"email, sms\",2026-01-05T10:00:00Z,checkbox,abc,Ja\n",
		"email\n\"unterminated\n",
		"email,phone\n,,\n\xff,\x00\n",
		"\xef\xbb\xbfemail;phone\na;b\n",
		"email,email\nx,y\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		recs, errs, err := readAll(t, "csv", data, nil)
		if err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("not a validation error: %v", err)
			}
			return
		}
		lines := strings.Count(data, "\n") + 1
		for _, r := range recs {
			if r.Line < 2 || r.Line > lines {
				t.Fatalf("record line %d outside 2..%d", r.Line, lines)
			}
			for k, v := range r.Values {
				if !slices.Contains(csvmap.Fields, k) {
					t.Fatalf("field %q", k)
				}
				if v == "" || v != strings.TrimSpace(v) || !utf8.ValidString(v) || len(v) > csvmap.MaxTextValue {
					t.Fatalf("value %q of %s", v, k)
				}
			}
			if r.Consent() {
				for _, f := range csvmap.ConsentRequired {
					if r.Values[f] == "" {
						t.Fatalf("consent without %s", f)
					}
				}
				if len(r.Channels) == 0 || r.ConsentAt.IsZero() {
					t.Fatalf("consent %+v", r)
				}
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Code == "" || e.Message == "" {
				t.Fatalf("error %+v", e)
			}
		}
	})
}
