package consentrecord

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func controller() Controller {
	return Controller{
		Party: Party{
			Name:    "Beispiel Handels GmbH",
			Address: Address{Street: "Musterstraße 1", PostalCode: "10115", City: "Berlin", Country: "DE"},
			Email:   "datenschutz@beispiel-handel.de",
			Phone:   "+49 30 1234567",
		},
		ImprintURL: "https://www.beispiel-handel.de/impressum",
	}
}

// newsletterWithdrawn is a newsletter consent given by e-mail double opt-in
// and later withdrawn through the unsubscribe link.
func newsletterWithdrawn() Input {
	notice := Notice{
		VersionID: "newsletter-de-v3",
		SHA256:    "9f2c4a1e7b3d5f608a1c2e3d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978",
		URL:       "https://www.beispiel-handel.de/datenschutz/newsletter/v3",
		Language:  "de",
	}
	text := "Ja, ich möchte den Newsletter der Beispiel Handels GmbH mit Neuigkeiten und Angeboten per E-Mail erhalten. Die Einwilligung kann ich jederzeit widerrufen."
	return Input{
		RecordID:   "3f1d2c4b-5a69-4788-9a6b-5c4d3e2f1a0b",
		Version:    3,
		CreatedAt:  ts("2026-01-10T09:15:02Z"),
		UpdatedAt:  ts("2026-03-02T18:05:11Z"),
		Controller: controller(),
		Subject:    Subject{ContactID: "c0ffee00-1234-4abc-8def-0123456789ab"},
		Purpose: Purpose{
			Key:           "newsletter",
			DescriptionDE: "Newsletter mit Neuigkeiten und Angeboten",
			DescriptionEN: "Newsletter with news and offers",
			Kind:          "direct_marketing",
			LawfulBasis:   "art6_1_a",
			DataCategories: []DataCategory{
				{Key: "name"}, {Key: "email"},
			},
		},
		Channels:       []string{"email"},
		Jurisdictions:  []string{"loc:DE"},
		ApplicableLaws: []Law{{IRI: "eu-gdpr:GDPR", Title: "General Data Protection Regulation (EU) 2016/679"}},
		Storage: Storage{
			Locations:     []string{"loc:DE"},
			Retention:     "P3Y",
			RetentionNote: "Proof of consent is kept for three years after the end of the year of withdrawal (limitation period, § 195 BGB).",
		},
		WithdrawURL: "https://www.beispiel-handel.de/praeferenzen",
		RightsURL:   "https://www.beispiel-handel.de/datenschutz#rechte",
		Events: []Event{
			{
				Kind: EventRequested, At: ts("2026-01-10T09:15:02Z"), Method: MethodEmailDOI,
				Notice: notice, TextShown: text,
				Source:     Source{Kind: "form", ID: "newsletter-footer"},
				RecordedBy: "system", ValidFor: "P7D",
			},
			{
				Kind: EventConfirmed, At: ts("2026-01-10T09:42:13Z"), Method: MethodEmailDOI,
				Notice: notice, TextShown: text,
				Source:     Source{Kind: "form", ID: "newsletter-footer"},
				RecordedBy: "system",
			},
			{
				Kind: EventWithdrawn, At: ts("2026-03-02T18:05:11Z"), Method: MethodUnsubscribeLink,
				RecordedBy: "system",
			},
		},
		Status: StatusWithdrawn,
	}
}

// phoneUWG7a is a consent to advertising calls, recorded on the phone and
// documented as UWG § 7a requires.
func phoneUWG7a() Input {
	return Input{
		RecordID:   "7b2e9a10-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
		Version:    1,
		CreatedAt:  ts("2026-02-03T14:20:45Z"),
		IssuedAt:   ts("2026-02-03T14:25:00Z"),
		Controller: controller(),
		Subject:    Subject{ContactID: "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"},
		Purpose: Purpose{
			Key:           "sales_calls",
			DescriptionDE: "Werbeanrufe durch den Vertrieb",
			DescriptionEN: "Sales calls",
			Kind:          "direct_marketing",
			LawfulBasis:   "art6_1_a",
			ConsentType:   "explicit",
			DataCategories: []DataCategory{
				{Key: "name"}, {Key: "phone"},
			},
		},
		Channels:      []string{"phone"},
		Jurisdictions: []string{"loc:DE"},
		ApplicableLaws: []Law{
			{IRI: "eu-gdpr:GDPR", Title: "General Data Protection Regulation (EU) 2016/679"},
			{IRI: "https://www.gesetze-im-internet.de/uwg_2004/__7a.html", Title: "UWG § 7a – Einwilligung in Telefonwerbung: Dokumentation und Aufbewahrung"},
		},
		Storage: Storage{
			Locations:     []string{"loc:DE"},
			Retention:     "P5Y",
			RetentionNote: "Proof of consent is kept for five years from when it was given and from each use for an advertising call (§ 7a Abs. 2 UWG).",
		},
		Recipients: []Recipient{{
			Party: Party{
				ID:      "https://www.callcenter-beispiel.de/",
				Name:    "Callcenter Beispiel GmbH",
				Address: Address{Street: "Hafenweg 7", PostalCode: "20457", City: "Hamburg", Country: "DE"},
				Email:   "datenschutz@callcenter-beispiel.de",
			},
			Role: "processor",
		}},
		WithdrawURL: "https://www.beispiel-handel.de/praeferenzen",
		RightsURL:   "https://www.beispiel-handel.de/datenschutz#rechte",
		Events: []Event{{
			Kind: EventConfirmed, At: ts("2026-02-03T14:20:45Z"), Method: MethodVoiceRecording,
			Notice: Notice{
				VersionID: "sales-call-script-de-v2",
				SHA256:    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
				URL:       "https://www.beispiel-handel.de/datenschutz/telefon/v2",
				Language:  "de",
			},
			TextShown:  "Dürfen wir Sie künftig telefonisch über Angebote der Beispiel Handels GmbH informieren? Sie können diese Einwilligung jederzeit widerrufen.",
			Source:     Source{Kind: "api_client", ID: "callcenter-dialer"},
			RecordedBy: "user:0b9f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
		}},
		Status: StatusGiven,
	}
}

var cases = []struct {
	name  string
	input func() Input
}{
	{"newsletter_email_doi_withdrawn", newsletterWithdrawn},
	{"phone_uwg7a", phoneUWG7a},
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		for _, kind := range []struct {
			suffix string
			render func(Input) ([]byte, error)
		}{{"record", Record}, {"receipt", Receipt}} {
			t.Run(c.name+"/"+kind.suffix, func(t *testing.T) {
				got, err := kind.render(c.input())
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", c.name+"."+kind.suffix+".golden.json")
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the golden file; run go test ./internal/consentrecord -update and review the diff\ngot:\n%s", path, got)
				}
			})
		}
	}
}

// TestDeterministic guards the property golden files and content hashes of
// exports rely on: the same input always gives the same bytes.
func TestDeterministic(t *testing.T) {
	for _, c := range cases {
		for _, render := range []func(Input) ([]byte, error){Record, Receipt} {
			first, err := render(c.input())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ {
				again, _ := render(c.input())
				if !bytes.Equal(first, again) {
					t.Fatalf("%s: output changed between runs", c.name)
				}
			}
		}
	}
}

func TestReceiptIDDerived(t *testing.T) {
	in := newsletterWithdrawn()
	a := in.withDefaults().ReceiptID
	if !validUUID(a) || a[14] != '5' {
		t.Fatalf("derived receipt ID %q is not a version 5 UUID", a)
	}
	in.Version++
	if b := in.withDefaults().ReceiptID; b == a {
		t.Fatal("a new record version must get a new receipt ID")
	}
	in.ReceiptID = "11111111-2222-4333-8444-555555555555"
	if got := in.withDefaults().ReceiptID; got != in.ReceiptID {
		t.Fatalf("given receipt ID replaced by %q", got)
	}
}

// TestUUIDv5 checks the name-based UUID against the RFC 9562 example
// (DNS namespace, "www.example.com").
func TestUUIDv5(t *testing.T) {
	if got := uuidV5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Fatalf("uuidV5 = %s", got)
	}
}

func TestRenewedConsent(t *testing.T) {
	in := phoneUWG7a()
	again := in.Events[0]
	again.At = again.At.Add(365 * 24 * time.Hour)
	in.Events = append(in.Events, again)
	out, err := Record(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"dpv:RenewedConsentGiven"`)) {
		t.Fatal("a second confirmation while consent is given must be dpv:RenewedConsentGiven")
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Input)
		field  string
		says   string
	}{
		{"missing controller name", func(in *Input) { in.Controller.Name = "" }, "controller.name", "is required"},
		{"missing controller address", func(in *Input) { in.Controller.Address = Address{} }, "controller.address.street", "is required"},
		{"missing controller contact", func(in *Input) { in.Controller.Email, in.Controller.Phone = "", "" }, "controller", "needs a contact"},
		{"missing imprint", func(in *Input) { in.Controller.ImprintURL = "" }, "controller.imprint_url", "is required"},
		{"e-mail as subject", func(in *Input) { in.Subject.ContactID = "max@example.com" }, "subject.contact_id", "not an e-mail address"},
		{"bad record id", func(in *Input) { in.RecordID = "42" }, "record_id", "not a lower-case UUID"},
		{"unknown status", func(in *Input) { in.Status = "revoked" }, "status", `unknown status "revoked"`},
		{"status disagrees", func(in *Input) { in.Status = StatusGiven }, "status", `events lead to "withdrawn"`},
		{"unknown method", func(in *Input) { in.Events[1].Method = "fax" }, "events[1].method", `unknown method "fax"`},
		{"withdraw method on confirm", func(in *Input) { in.Events[1].Method = MethodUnsubscribeLink }, "events[1].method", "unknown method"},
		{"unknown event kind", func(in *Input) { in.Events[0].Kind = "refused" }, "events[0].kind", "unknown event kind"},
		{"withdrawn without consent", func(in *Input) { in.Events = in.Events[2:] }, "events[0].kind", "withdrawn without consent"},
		{"events out of order", func(in *Input) { in.Events[1].At = in.Events[0].At.Add(-time.Hour) }, "events[1].at", "must be in order"},
		{"notice hash", func(in *Input) { in.Events[0].Notice.SHA256 = "abc" }, "events[0].notice.sha256", "64 lower-case hex"},
		{"missing notice", func(in *Input) { in.Events[1].Notice = Notice{} }, "events[1].notice.url", "is required"},
		{"missing source", func(in *Input) { in.Events[0].Source = Source{} }, "events[0].source.kind", "unknown source kind"},
		{"missing recorded by", func(in *Input) { in.Events[2].RecordedBy = "" }, "events[2].recorded_by", "is required"},
		{"non-consent basis", func(in *Input) { in.Purpose.LawfulBasis = "art6_1_f" }, "purpose.lawful_basis", "not consent"},
		{"unknown basis", func(in *Input) { in.Purpose.LawfulBasis = "art6_1_z" }, "purpose.lawful_basis", "unknown lawful basis"},
		{"non-consent kind", func(in *Input) { in.Purpose.Kind = "contract" }, "purpose.kind", "not consent-based"},
		{"unknown consent type", func(in *Input) { in.Purpose.ConsentType = "implied" }, "purpose.consent_type", "unknown consent type"},
		{"unmapped data category", func(in *Input) { in.Purpose.DataCategories = []DataCategory{{Key: "purchase_history"}} }, "purpose.data_categories[0].concept", "no DPV concept"},
		{"unknown channel", func(in *Input) { in.Channels = []string{"fax"} }, "channels[0]", "unknown channel"},
		{"no channel", func(in *Input) { in.Channels = nil }, "channels", "at least one"},
		{"bad jurisdiction", func(in *Input) { in.Jurisdictions = []string{"Germany"} }, "jurisdictions[0]", "compact IRI"},
		{"receipt before record", func(in *Input) { in.IssuedAt = in.CreatedAt.Add(-time.Hour) }, "issued_at", "before created_at"},
		{"bad language", func(in *Input) { in.Events[0].Notice.Language = "German" }, "events[0].notice.language", "language tag"},
		{"bad retention", func(in *Input) { in.Storage.Retention = "5 years" }, "storage.retention", "ISO 8601 period"},
		{"missing withdraw url", func(in *Input) { in.WithdrawURL = "" }, "withdraw_url", "is required"},
		{"recipient role", func(in *Input) {
			in.Recipients = []Recipient{{Party: Party{ID: "https://p.example/", Name: "P", Address: controller().Address, Email: "a@p.example"}, Role: "friend"}}
		}, "recipients[0].role", "unknown role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := newsletterWithdrawn()
			tt.change(&in)
			err := in.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			if _, rerr := Record(in); rerr == nil {
				t.Fatal("Record accepted invalid input")
			}
			if _, rerr := Receipt(in); rerr == nil {
				t.Fatal("Receipt accepted invalid input")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, tt.field+": ") && strings.Contains(line, tt.says) {
					return
				}
			}
			t.Fatalf("want %s: …%s…, got:\n%v", tt.field, tt.says, err)
		})
	}
}

func TestValidInputsPass(t *testing.T) {
	for _, c := range cases {
		if err := c.input().Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPeriods(t *testing.T) {
	for s, want := range map[string]bool{
		"P5Y": true, "P1Y6M": true, "P7D": true, "PT48H": true, "P2W": true, "P1DT12H": true,
		"": false, "P": false, "5Y": false, "PY": false, "P5": false, "P1M1Y": false, "PT": false, "P1DT": false,
	} {
		if got := validPeriod(s); got != want {
			t.Errorf("validPeriod(%q) = %v, want %v", s, got, want)
		}
	}
}
