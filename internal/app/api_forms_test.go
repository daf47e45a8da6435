package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
)

// TestFormLintAPI: saving a form answers 422 listing each finding with its
// code and field, and saves nothing; the corrected form saves as version
// 1, a change as version 2, an unchanged save as the same version.
func TestFormLintAPI(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		mkt := h.tokens[auth.RoleMarketing]
		demo := h.do("GET", "/api/v1/forms/demo-newsletter", mkt, nil).json(t)["definition"].(map[string]any)
		nl := demo["consents"].([]any)[0].(map[string]any)["notice"]
		base := func() map[string]any {
			return map[string]any{
				"key": "whitepaper", "title": map[string]string{"de": "Whitepaper", "en": "White paper"}, "languages": []string{"de", "en"},
				"marketing_signup": false, "service_purposes": []string{"inquiry_replies"},
				"fields": []any{
					map[string]any{"name": "email", "type": "email", "label": map[string]string{"de": "E-Mail", "en": "E-mail"}, "required": true, "purposes": []string{"inquiry_replies", "newsletter"}},
					map[string]any{"name": "job_title", "type": "text", "label": map[string]string{"de": "Position", "en": "Job title"}, "required": false, "purposes": []string{}},
				},
				"consents":       []any{map[string]any{"key": "newsletter_email", "purposes": []string{"newsletter"}, "channels": []string{"email"}, "notice": nl, "required": false, "pre_ticked": false}},
				"privacy_notice": demo["privacy_notice"],
			}
		}
		cases := []struct {
			name   string
			change func(m map[string]any)
			code   string
			field  string
		}{
			{"mandatory field no purpose needs (Art. 5(1)(c))", func(m map[string]any) {
				m["fields"].([]any)[1].(map[string]any)["required"] = true
			}, "field_not_needed", "fields[1]"},
			{"consent as the price of the service (Art. 7(4))", func(m map[string]any) {
				m["consents"].([]any)[0].(map[string]any)["required"] = true
			}, "consent_coupled", "consents[0]"},
			{"checkbox without a notice version", func(m map[string]any) {
				delete(m["consents"].([]any)[0].(map[string]any), "notice")
			}, "consent_notice_missing", "consents[0]"},
			{"pre-ticked checkbox (Planet49)", func(m map[string]any) {
				m["consents"].([]any)[0].(map[string]any)["pre_ticked"] = true
			}, "consent_pre_ticked", "consents[0]"},
			{"one checkbox bundling purposes", func(m map[string]any) {
				m["consents"].([]any)[0].(map[string]any)["purposes"] = []string{"newsletter", "product_offers"}
			}, "consent_bundled", "consents[0]"},
			{"one checkbox bundling channels", func(m map[string]any) {
				m["consents"].([]any)[0].(map[string]any)["channels"] = []string{"email", "post"}
			}, "consent_bundled", "consents[0]"},
		}
		for _, c := range cases {
			m := base()
			c.change(m)
			r := h.do("POST", "/api/v1/forms", mkt, m)
			if r.Status != 422 {
				t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
				continue
			}
			var e struct {
				Error struct {
					Code     string                              `json:"code"`
					Findings []struct{ Code, Field, Ref string } `json:"findings"`
				} `json:"error"`
			}
			_ = json.Unmarshal(r.Body, &e)
			found := false
			for _, f := range e.Error.Findings {
				if f.Code == c.code && strings.HasPrefix(f.Field, c.field) && f.Ref != "" {
					found = true
				}
			}
			if e.Error.Code != "form_lint" || !found {
				t.Errorf("%s: want finding %s at %s, got %s", c.name, c.code, c.field, r.Body)
			}
			// The live check reports the same without saving.
			if r := h.do("POST", "/api/v1/forms/lint", mkt, m); r.Status != 200 || !strings.Contains(string(r.Body), c.code) {
				t.Errorf("%s: lint endpoint %d %s", c.name, r.Status, r.Body)
			}
		}
		if r := h.do("GET", "/api/v1/forms/whitepaper", mkt, nil); r.Status != 404 {
			t.Fatalf("a refused form was saved: %d", r.Status)
		}
		// Structural errors are 400 naming the field and allowed values.
		bad := base()
		bad["fields"].([]any)[0].(map[string]any)["type"] = "colour"
		if r := h.do("POST", "/api/v1/forms", mkt, bad); r.Status != 400 || !strings.Contains(string(r.Body), `"fields[0].type"`) || !strings.Contains(string(r.Body), "textarea") {
			t.Fatalf("bad type: %d %s", r.Status, r.Body)
		}
		if r := h.do("POST", "/api/v1/forms", mkt, `{"key":"x","titel":{}}`); r.Status != 400 || !strings.Contains(string(r.Body), "titel") {
			t.Fatalf("unknown field: %d %s", r.Status, r.Body)
		}
		// The clean form saves; versions count changes only.
		if r := h.do("POST", "/api/v1/forms/lint", mkt, base()); r.Status != 200 || !strings.Contains(string(r.Body), `"findings":[]`) {
			t.Fatalf("clean lint: %d %s", r.Status, r.Body)
		}
		r := h.do("POST", "/api/v1/forms", mkt, base())
		if r.Status != 201 || r.json(t)["version"] != float64(1) {
			t.Fatalf("save: %d %s", r.Status, r.Body)
		}
		if r := h.do("PUT", "/api/v1/forms/whitepaper", mkt, base()); r.Status != 200 || r.json(t)["version"] != float64(1) {
			t.Fatalf("unchanged save: %d %s", r.Status, r.Body)
		}
		// The hosted page shows the version in force: a cached rendering
		// of version 1 must not outlive it.
		if p := h.page("GET", "/p/forms/whitepaper?lang=de", nil); p.Status != 200 || !strings.Contains(p.Body, "Whitepaper") || strings.Contains(p.Body, "Whitepaper 2027") {
			t.Fatalf("hosted page of version 1: %d %s", p.Status, p.Body)
		}
		m := base()
		m["title"] = map[string]string{"de": "Whitepaper 2027", "en": "White paper 2027"}
		if r := h.do("PUT", "/api/v1/forms/whitepaper", mkt, m); r.Status != 200 || r.json(t)["version"] != float64(2) {
			t.Fatalf("changed save: %d %s", r.Status, r.Body)
		}
		if p := h.page("GET", "/p/forms/whitepaper?lang=de", nil); p.Status != 200 || !strings.Contains(p.Body, "Whitepaper 2027") {
			t.Fatalf("hosted page after version 2: %d %s", p.Status, p.Body)
		}
		if r := h.do("GET", "/api/v1/forms/whitepaper/versions/1", h.tokens[auth.RoleViewer], nil); r.Status != 200 || !strings.Contains(string(r.Body), `"Whitepaper"`) {
			t.Fatalf("version 1: %d %s", r.Status, r.Body)
		}
		if r := h.do("PUT", "/api/v1/forms/other-key", mkt, base()); r.Status != 400 {
			t.Fatalf("key mismatch: %d %s", r.Status, r.Body)
		}
		if r := h.do("POST", "/api/v1/forms", h.tokens[auth.RoleSales], base()); r.Status != 403 {
			t.Fatalf("sales saved a form: %d", r.Status)
		}
		if r := h.do("GET", "/api/v1/forms", h.tokens[auth.RoleViewer], nil); r.Status != 200 || !strings.Contains(string(r.Body), "demo-newsletter") {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		// Settings: secrets never read back.
		admin := h.tokens[auth.RoleAdmin]
		if r := h.do("PATCH", "/api/v1/settings", admin, map[string]any{"smtp_url": "smtp://u:topsecret@127.0.0.1:2525?tls=none", "doi_days": 3}); r.Status != 200 || strings.Contains(string(r.Body), "topsecret") || r.json(t)["smtp_configured"] != true {
			t.Fatalf("settings: %d %s", r.Status, r.Body)
		}
		if r := h.do("PATCH", "/api/v1/settings", admin, map[string]any{"doi_days": 99}); r.Status != 400 || !strings.Contains(string(r.Body), "doi_days") {
			t.Fatalf("bad settings: %d %s", r.Status, r.Body)
		}
		if r := h.do("PATCH", "/api/v1/settings", admin, map[string]any{"smtp_url": "ftp://x"}); r.Status != 400 || !strings.Contains(string(r.Body), "smtp_url") {
			t.Fatalf("bad smtp url: %d %s", r.Status, r.Body)
		}
		if r := h.do("GET", "/api/v1/settings", admin, nil); r.Status != 200 || r.json(t)["doi_days"] != float64(3) {
			t.Fatalf("get settings: %d %s", r.Status, r.Body)
		}
	})
}

// TestFormNeedsImprint: a workspace without an imprint cannot save a form,
// because none of the messages the form triggers could be sent; with one it can.
func TestFormNeedsImprint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	h.seedDemo()
	n := h.do("POST", "/api/v1/notices", h.otherAdmin, map[string]any{"kind": "privacy_notice", "language": "de", "title": "Datenschutz B", "body": "Verantwortlich: B GmbH."}).json(t)
	// The form asks for no consent, so it needs no consent texts.
	def := map[string]any{"key": "b-contact", "title": map[string]string{"de": "Kontakt"}, "languages": []string{"de"},
		"service_purposes": []string{"inquiry_replies"}, "consents": []any{}, "privacy_notice": map[string]any{"de": n["id"]},
		"fields": []any{map[string]any{"name": "email", "type": "email", "label": map[string]string{"de": "E-Mail"}, "required": true, "purposes": []string{"inquiry_replies"}}}}
	r := h.do("POST", "/api/v1/forms", h.otherAdmin, def)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"imprint_missing"`) || !strings.Contains(string(r.Body), `"field":"imprint"`) {
		t.Fatalf("without imprint: %d %s", r.Status, r.Body)
	}
	if r := h.do("PATCH", "/api/v1/settings", h.otherAdmin, map[string]any{"imprint": map[string]string{"de": "B GmbH, Weg 2, 20095 Hamburg"}}); r.Status != 200 {
		t.Fatalf("imprint: %d %s", r.Status, r.Body)
	}
	if r := h.do("POST", "/api/v1/forms", h.otherAdmin, def); r.Status != 201 {
		t.Fatalf("with imprint: %d %s", r.Status, r.Body)
	}
}
