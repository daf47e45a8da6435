package form_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/capture/form"
)

func TestLintCleanForms(t *testing.T) {
	c := testCatalog()
	for name, d := range map[string]form.Definition{"demo": demo(), "rich": richForm()} {
		if err := form.Validate(d, c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fs := form.Lint(d, c); len(fs) != 0 {
			t.Errorf("%s: want no findings, got %+v", name, fs)
		}
	}
}

// TestLint has at least one case per code; each case expects exactly its
// findings, so a rule that is missing fails its case and a rule that fires
// too often fails the others.
func TestLint(t *testing.T) {
	cases := []struct {
		name   string
		base   func() form.Definition
		mutate func(d *form.Definition)
		want   []string // "code field"
	}{
		{"required field no purpose needs", richForm, func(d *form.Definition) { d.Fields[5].Required = true },
			[]string{"field_not_needed fields[5]"}}, // topic: category custom
		{"required field whose purpose is not the form's", richForm, func(d *form.Definition) {
			d.Fields[2].Required = true
			d.Fields[2].Purposes = []string{"event_invitations"}
		}, []string{"field_not_needed fields[2]"}},
		{"required field with a purpose that does not need its category", richForm, func(d *form.Definition) {
			d.Fields[4].Required = true
			d.Fields[4].Purposes = []string{"inquiry_replies"}
		}, []string{"field_not_needed fields[4]"}},
		{"required field only an optional consent needs", richForm, func(d *form.Definition) { d.Fields[4].Required = true },
			[]string{"field_not_needed fields[4]"}},
		{"required field a required consent needs", demo, func(d *form.Definition) { d.Fields[1].Required = true }, nil},
		{"required field a service purpose needs", richForm, func(d *form.Definition) {
			d.Fields[2].Required = true
		}, nil},
		{"required field with category override", richForm, func(d *form.Definition) {
			d.Fields[6].Required = true
			d.Fields[6].Category = "email"
		}, nil},
		{"required consent on a service form", richForm, func(d *form.Definition) { d.Consents[0].Required = true },
			[]string{"consent_coupled consents[0].required"}},
		{"required consent on a sign-up that also offers a service", demo, func(d *form.Definition) {
			d.ServicePurposes = []string{"order_processing"}
		}, []string{"consent_coupled consents[0].required"}},
		{"required tracking consent on a sign-up", demo, func(d *form.Definition) {
			d.Consents = append(d.Consents, form.Consent{Key: "tracking", Purposes: []string{"email_tracking"}, Channels: []string{"email"},
				Notice: txt(nlDE, nlEN), Required: true})
		}, []string{"consent_coupled consents[1].required"}},
		{"consent text missing for a language", richForm, func(d *form.Definition) { delete(d.Consents[1].Notice, "en") },
			[]string{"consent_notice_missing consents[1].notice.en"}},
		{"consent text empty", richForm, func(d *form.Definition) { d.Consents[1].Notice["de"] = "" },
			[]string{"consent_notice_missing consents[1].notice.de"}},
		{"consent text unknown", richForm, func(d *form.Definition) { d.Consents[0].Notice["de"] = unknownHash },
			[]string{"consent_notice_missing consents[0].notice.de"}},
		{"consent text of another kind", richForm, func(d *form.Definition) { d.Consents[0].Notice["de"] = privacyDE },
			[]string{"consent_notice_missing consents[0].notice.de"}},
		{"consent text in another language", richForm, func(d *form.Definition) { d.Consents[2].Notice["en"] = postDE },
			[]string{"consent_notice_missing consents[2].notice.en"}},
		{"pre-ticked consent", richForm, func(d *form.Definition) { d.Consents[1].PreTicked = true },
			[]string{"consent_pre_ticked consents[1].pre_ticked"}},
		{"consent for two purposes", richForm, func(d *form.Definition) { d.Consents[0].Purposes = []string{"newsletter", "event_invitations"} },
			[]string{"consent_bundled consents[0].purposes"}},
		{"consent for two channels", richForm, func(d *form.Definition) { d.Consents[1].Channels = []string{"phone", "sms"} },
			[]string{"consent_bundled consents[1].channels"}},
		{"email consent without email field", richForm, func(d *form.Definition) {
			d.Fields = slices.Delete(d.Fields, 0, 1)
		}, []string{"consent_channel_without_field consents[0].channels[0]"}},
		{"phone consent without tel field", richForm, func(d *form.Definition) { d.Fields = slices.Delete(d.Fields, 3, 4) },
			[]string{"consent_channel_without_field consents[1].channels[0]"}},
		{"sms consent without tel field", richForm, func(d *form.Definition) {
			d.Fields = slices.Delete(d.Fields, 3, 4)
			d.Consents[1].Channels = []string{"sms"}
		}, []string{"consent_channel_without_field consents[1].channels[0]"}},
		{"post consent without city", richForm, func(d *form.Definition) { d.Fields = slices.Delete(d.Fields, 9, 10) },
			[]string{"consent_channel_without_field consents[2].channels[0]"}},
		{"post consent with one address field", richForm, func(d *form.Definition) {
			d.Fields = slices.Delete(d.Fields, 7, 10)
			d.Fields = append(d.Fields, form.Field{Name: "address", Type: "textarea", Label: txt("Anschrift", "Address"), Category: "postal_address", Purposes: []string{"product_offers"}})
		}, nil},
		{"web consent needs no field", demo, func(d *form.Definition) {
			d.Consents = append(d.Consents, form.Consent{Key: "analytics", Purposes: []string{"web_analytics"}, Channels: []string{"web"}, Notice: txt(nlDE, nlEN)})
			d.Fields = nil
			d.Consents = d.Consents[1:]
		}, nil},
		{"consents without their contact points", demo, func(d *form.Definition) {
			d.Fields = slices.Delete(d.Fields, 0, 2)
			d.Consents[0].Required = false
			d.Consents[0].Purposes = []string{"email_tracking"}
			d.Consents[0].Channels = []string{"email"}
			d.Consents = append(d.Consents, form.Consent{Key: "web", Purposes: []string{"newsletter"}, Channels: []string{"post"}, Notice: txt(nlDE, nlEN)})
		}, []string{"consent_channel_without_field consents[0].channels[0]", "consent_channel_without_field consents[1].channels[0]"}},
		{"privacy notice missing", richForm, func(d *form.Definition) { delete(d.PrivacyNotice, "de") },
			[]string{"privacy_notice_missing privacy_notice.de"}},
		{"privacy notice unknown", richForm, func(d *form.Definition) { d.PrivacyNotice["en"] = unknownHash },
			[]string{"privacy_notice_missing privacy_notice.en"}},
		{"privacy notice of another kind", richForm, func(d *form.Definition) { d.PrivacyNotice["en"] = nlEN },
			[]string{"privacy_notice_missing privacy_notice.en"}},
		{"privacy notice in another language", richForm, func(d *form.Definition) { d.PrivacyNotice["de"] = privacyEN },
			[]string{"privacy_notice_missing privacy_notice.de"}},
		{"several findings in definition order", richForm, func(d *form.Definition) {
			d.PrivacyNotice = nil
			d.Consents[2].PreTicked = true
			d.Consents[2].Required = true
			d.Consents[0].Notice = nil
			d.Fields[5].Required = true
		}, []string{
			"field_not_needed fields[5]",
			"consent_notice_missing consents[0].notice.de", "consent_notice_missing consents[0].notice.en",
			"consent_coupled consents[2].required", "consent_pre_ticked consents[2].pre_ticked",
			"privacy_notice_missing privacy_notice.de", "privacy_notice_missing privacy_notice.en",
		}},
	}
	c := testCatalog()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.base()
			tc.mutate(&d)
			if err := form.Validate(d, c); err != nil {
				t.Fatalf("case must be valid: %v", err)
			}
			var got []string
			for _, f := range form.Lint(d, c) {
				got = append(got, f.Code+" "+f.Field)
				if f.Message == "" || f.MessageDE == "" || f.Ref == "" || f.Message == f.MessageDE {
					t.Errorf("finding without both messages or a reference: %+v", f)
				}
				if f.MessageIn("de") != f.MessageDE || f.MessageIn("en") != f.Message {
					t.Errorf("MessageIn does not pick the language: %+v", f)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("findings\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestLintRefs pins the legal references of the codes.
func TestLintRefs(t *testing.T) {
	d := richForm()
	d.Fields[5].Required = true
	d.Consents[0].Required = true
	d.Consents[0].PreTicked = true
	d.Consents[0].Purposes = []string{"newsletter", "event_invitations"}
	d.Consents[1].Notice = nil
	d.Fields = slices.Delete(d.Fields, 3, 4)
	d.PrivacyNotice = nil
	want := map[string]string{
		form.FindingFieldNotNeeded:             "GDPR Art. 5(1)(c)",
		form.FindingConsentCoupled:             "GDPR Art. 7(4)",
		form.FindingConsentNoticeMissing:       "GDPR Art. 7(2), 13",
		form.FindingConsentPreTicked:           "CJEU C-673/17 (Planet49); BGH I ZR 7/16",
		form.FindingConsentBundled:             "GDPR Art. 7(2); EDPB 05/2020",
		form.FindingConsentChannelWithoutField: "GDPR Art. 5(1)(b), 7(1)",
		form.FindingPrivacyNoticeMissing:       "GDPR Art. 13",
	}
	seen := map[string]bool{}
	for _, f := range form.Lint(d, testCatalog()) {
		seen[f.Code] = true
		if want[f.Code] != f.Ref {
			t.Errorf("%s: ref %q, want %q", f.Code, f.Ref, want[f.Code])
		}
		if strings.Contains(f.Message, "%!") || strings.Contains(f.MessageDE, "%!") {
			t.Errorf("bad format: %+v", f)
		}
	}
	for code := range want {
		if !seen[code] {
			t.Errorf("no finding %s", code)
		}
	}
}
