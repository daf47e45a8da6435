package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// outbox returns the dev outbox's messages, newest first.
func (h *harness) outbox() []map[string]any {
	h.t.Helper()
	r := h.do("GET", "/api/v1/outbox", h.tokens[auth.RoleAdmin], nil)
	if r.Status != 200 {
		h.t.Fatalf("outbox: %d %s", r.Status, r.Body)
	}
	var out struct {
		Messages []map[string]any `json:"messages"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		h.t.Fatal(err)
	}
	return out.Messages
}

// waitOutbox waits until the outbox holds n messages.
func (h *harness) waitOutbox(n int) []map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms := h.outbox()
		if len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("outbox has %d messages, want %d", len(ms), n)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func (h *harness) count(table string) int {
	h.t.Helper()
	var n int
	if err := h.db.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE workspace_id = $1`, h.ws.ID).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestDevOutboxFlow is what a newcomer does after the README's run
// command: no SMTP server, so the confirmation lands in the dev outbox,
// and its link confirms; the preference center then shows the consent and
// withdraws it; a request for a fresh link answers the same for known and
// unknown addresses.
func TestDevOutboxFlow(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, d, func(c *config.Config) { c.Workers = 2 }, fastJobs)
			h.seedDemo()
			h.startQueue()
			p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"grace@example.org"}, "newsletter_email": {"on"}, "lang": {"en"}})
			if p.Status != http.StatusSeeOther {
				t.Fatalf("submit: %d %s", p.Status, p.Body)
			}
			ms := h.waitOutbox(1)
			if ms[0]["channel"] != "email" || ms[0]["to"] != "grace@example.org" || ms[0]["subject"] != "Please confirm your sign-up" {
				t.Fatalf("outbox message: %v", ms[0])
			}
			body := ms[0]["body"].(string)
			text, _ := textOf(t, []byte(body))
			link := linkWith(t, text, "/p/confirm/")
			if p := h.page("POST", link, url.Values{}); p.Status != 200 || !strings.Contains(p.Body, "your sign-up is confirmed") {
				t.Fatalf("confirm: %d %s", p.Status, p.Body)
			}
			cid := h.contactByEmail("grace@example.org")
			if ok, _ := h.decision(cid, "newsletter", "email"); !ok {
				t.Fatal("not allowed after confirming from the outbox")
			}
			ms = h.waitOutbox(2)
			wtext, _ := textOf(t, []byte(ms[0]["body"].(string)))
			pref := linkWith(t, wtext, "/p/preferences/")

			// The preference center shows the consent with its text and method.
			p = h.page("GET", pref+"?lang=en", nil)
			if p.Status != 200 || !strings.Contains(p.Body, `data-purpose="newsletter" data-channel="email" data-status="confirmed"`) ||
				!strings.Contains(p.Body, "Yes, I want to receive the Demo GmbH newsletter") || !strings.Contains(p.Body, "confirmation link by e-mail") {
				t.Fatalf("preference center %d:\n%s", p.Status, p.Body)
			}
			tok := strings.TrimPrefix(pref, h.url+"/p/preferences/")
			exp := h.page("GET", "/p/preferences/"+tok+"/export", nil)
			if exp.Status != 200 || !strings.Contains(exp.Body, "grace@example.org") || !strings.Contains(exp.Body, `"consent_confirmed"`) {
				t.Fatalf("export %d: %s", exp.Status, exp.Body)
			}
			p = h.page("POST", "/p/preferences/"+tok+"/withdraw?lang=en", url.Values{"purpose": {"newsletter"}, "channel": {"email"}})
			if p.Status != 200 || !strings.Contains(p.Body, `data-status="withdrawn"`) || !strings.Contains(p.Body, "takes effect now") {
				t.Fatalf("withdraw %d:\n%s", p.Status, p.Body)
			}
			if strings.Contains(p.Body, "/withdraw-all") {
				t.Fatal("the preference center offers to withdraw all when nothing is left to withdraw")
			}
			if ok, reasons := h.decision(cid, "newsletter", "email"); ok || reasons[0] != "consent_withdrawn" {
				t.Fatalf("after withdrawal: %v %v", ok, reasons)
			}
			p = h.page("POST", "/p/preferences/"+tok+"/object?lang=en", url.Values{})
			if p.Status != 200 || !strings.Contains(p.Body, "You objected to marketing") {
				t.Fatalf("object %d:\n%s", p.Status, p.Body)
			}
			if ok, reasons := h.decision(cid, "newsletter", "post"); ok || reasons[0] != "marketing_objection" {
				t.Fatalf("post after objection: %v %v", ok, reasons)
			}
			p = h.page("POST", "/p/preferences/"+tok+"/erasure?lang=en", url.Values{})
			if p.Status != 200 || !strings.Contains(p.Body, "erasure request") {
				t.Fatalf("erasure request %d:\n%s", p.Status, p.Body)
			}
			// A forged or tampered link opens nothing.
			if p := h.page("GET", "/p/preferences/"+tok[:len(tok)-2]+"xx", nil); p.Status != 404 {
				t.Fatalf("tampered preference link: %d", p.Status)
			}

			// A fresh link: the same answer for a known and an unknown address;
			// a mail only for the known one.
			before := len(h.outbox())
			known := h.page("POST", "/p/preferences?lang=en", url.Values{"email": {"grace@example.org"}})
			unknown := h.page("POST", "/p/preferences?lang=en", url.Values{"email": {"nobody@example.org"}})
			if known.Status != 200 || unknown.Status != 200 || known.Body != unknown.Body {
				t.Fatalf("link request answers differ: %d/%d\n%s\n---\n%s", known.Status, unknown.Status, known.Body, unknown.Body)
			}
			ms = h.waitOutbox(before + 1)
			time.Sleep(200 * time.Millisecond)
			if n := len(h.outbox()); n != before+1 || ms[0]["to"] != "grace@example.org" {
				t.Fatalf("after link requests: %d messages (want %d), newest to %v", n, before+1, ms[0]["to"])
			}
		})
	}
}

// TestSubmissionBadInput: every bad submission gets a clear answer and
// writes nothing.
func TestSubmissionBadInput(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		cases := []struct {
			name   string
			path   string
			form   url.Values
			ct     string
			status int
			want   string
		}{
			{"invalid e-mail", "/p/forms/demo-newsletter", url.Values{"email": {"not-an-address"}, "newsletter_email": {"1"}}, "", 422, `aria-invalid="true"`},
			{"missing mandatory field", "/p/forms/demo-newsletter", url.Values{"first_name": {"Ada"}, "newsletter_email": {"1"}}, "", 422, `id="e-email"`},
			{"required consent not ticked", "/p/forms/demo-newsletter", url.Values{"email": {"a@example.com"}}, "", 422, `class="err"`},
			{"oversized field", "/p/forms/demo-newsletter", url.Values{"email": {"a@example.com"}, "first_name": {strings.Repeat("x", 5000)}, "newsletter_email": {"1"}}, "", 422, `id="e-first_name"`},
			{"oversized body", "/p/forms/demo-newsletter", url.Values{"email": {"a@example.com"}, "first_name": {strings.Repeat("x", 70000)}, "newsletter_email": {"1"}}, "", 400, "Anfrage"},
			{"unknown form", "/p/forms/no-such-form", url.Values{"email": {"a@example.com"}}, "", 404, "Seite nicht gefunden"},
			{"wrong content type", "/p/forms/demo-newsletter", nil, "text/plain", 415, "Anfrage"},
		}
		for _, c := range cases {
			var p page
			if c.ct != "" {
				p = h.page("POST", c.path, nil, "Content-Type", c.ct)
			} else {
				p = h.page("POST", c.path, c.form)
			}
			if p.Status != c.status || !strings.Contains(p.Body, c.want) {
				t.Errorf("%s: %d (want %d), body lacks %q:\n%s", c.name, p.Status, c.status, c.want, p.Body)
			}
		}
		// The embed script's JSON answers name the field.
		p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"nope"}, "newsletter_email": {"1"}}, "Accept", "application/json")
		if p.Status != 422 || !strings.Contains(p.Body, `"field":"email"`) || !strings.Contains(p.Body, `"invalid_email"`) {
			t.Errorf("JSON field error: %d %s", p.Status, p.Body)
		}
		// The honeypot: a bot gets the usual answer, nothing is written.
		p = h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"bot@example.com"}, "newsletter_email": {"1"}, "website": {"http://spam.example"}})
		if p.Status != http.StatusSeeOther {
			t.Errorf("honeypot: %d", p.Status)
		}
		for _, table := range []string{"contacts", "ledger_events", "doi_requests", "jobs"} {
			if n := h.count(table); n != 0 {
				t.Errorf("%s has %d rows after bad input", table, n)
			}
		}
		// Forged and unknown confirmation links show the page with a resend button.
		for _, tok := range []string{"AAAA", strings.Repeat("A", 100)} {
			if p := h.page("GET", "/p/confirm/"+tok, nil); p.Status != 404 || !strings.Contains(p.Body, "/resend") {
				t.Errorf("forged link %q: %d %s", tok, p.Status, p.Body)
			}
			if p := h.page("POST", "/p/confirm/"+tok, url.Values{}); p.Status != 404 {
				t.Errorf("forged link POST: %d", p.Status)
			}
		}
	})
}

// TestExpiredLinkResend: an expired confirmation link confirms nothing and
// offers a new one, which arrives and works.
func TestExpiredLinkResend(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.Workers = 2 }, fastJobs)
	h.seedDemo()
	h.startQueue()
	if p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"late@example.com"}, "newsletter_email": {"1"}}); p.Status != 303 {
		t.Fatalf("submit %d", p.Status)
	}
	ms := h.waitOutbox(1)
	text, _ := textOf(t, []byte(ms[0]["body"].(string)))
	link := linkWith(t, text, "/p/confirm/")
	keys, _, _, _ := h.consent()
	tok, err := token.Parse(keys.Keys(), token.Confirm, strings.TrimPrefix(link, h.url+"/p/confirm/"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok.Expires = time.Now().Add(-time.Minute)
	expired, _ := token.Sign(keys.Keys(), tok)
	p := h.page("POST", "/p/confirm/"+expired, url.Values{})
	if p.Status != 404 || !strings.Contains(p.Body, "abgelaufen") {
		t.Fatalf("expired link: %d %s", p.Status, p.Body)
	}
	cid := h.contactByEmail("late@example.com")
	if ok, _ := h.decision(cid, "newsletter", "email"); ok {
		t.Fatal("an expired link confirmed")
	}
	if p := h.page("POST", "/p/confirm/"+expired+"/resend", url.Values{}); p.Status != 200 {
		t.Fatalf("resend: %d %s", p.Status, p.Body)
	}
	ms = h.waitOutbox(2)
	text, _ = textOf(t, []byte(ms[0]["body"].(string)))
	fresh := linkWith(t, text, "/p/confirm/")
	if fresh == link {
		t.Fatal("the resent link is the old one")
	}
	if p := h.page("POST", fresh, url.Values{}); p.Status != 200 {
		t.Fatalf("fresh link: %d", p.Status)
	}
	if ok, _ := h.decision(cid, "newsletter", "email"); !ok {
		t.Fatal("the fresh link did not confirm")
	}
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// TestSMSDoubleOptIn: a form with an SMS consent sends a 6-digit code
// (dev outbox); wrong codes count and lock; the right one confirms, and the
// engine then allows SMS for that purpose.
func TestSMSDoubleOptIn(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, d, func(c *config.Config) { c.Workers = 2 }, fastJobs)
			h.seedDemo()
			h.startQueue()
			form := h.do("GET", "/api/v1/forms/demo-newsletter", h.tokens[auth.RoleAdmin], nil).json(t)["definition"].(map[string]any)
			nl := form["consents"].([]any)[0].(map[string]any)
			def := map[string]any{
				"key": "sms-alerts", "title": map[string]string{"de": "SMS-Angebote"}, "languages": []string{"de"}, "marketing_signup": true,
				"fields": []any{
					map[string]any{"name": "phone", "type": "tel", "label": map[string]string{"de": "Mobilnummer"}, "required": false, "purposes": []string{"event_invitations"}, "category": "phone"},
				},
				"consents":       []any{map[string]any{"key": "sms_ok", "purposes": []string{"event_invitations"}, "channels": []string{"sms"}, "notice": map[string]any{"de": nl["notice"].(map[string]any)["de"]}, "required": true}},
				"privacy_notice": map[string]any{"de": form["privacy_notice"].(map[string]any)["de"]},
			}
			r := h.do("POST", "/api/v1/forms", h.tokens[auth.RoleMarketing], def)
			if r.Status != 201 {
				t.Fatalf("save SMS form: %d %s", r.Status, r.Body)
			}
			p := h.page("POST", "/p/forms/sms-alerts", url.Values{"phone": {"+49 151 2345 6789"}, "sms_ok": {"1"}})
			if p.Status != 303 || !strings.Contains(p.Header.Get("Location"), "/p/confirm-sms/") {
				t.Fatalf("submit: %d %v", p.Status, p.Header.Get("Location"))
			}
			codePage := p.Header.Get("Location")
			ms := h.waitOutbox(1)
			if ms[0]["channel"] != "sms" || ms[0]["to"] != "+4915123456789" {
				t.Fatalf("sms: %v", ms[0])
			}
			code := codeRE.FindString(ms[0]["body"].(string))
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			action := strings.SplitN(codePage, "?", 2)[0]
			if p := h.page("POST", action, url.Values{"code": {wrong}}); p.Status != 422 || !strings.Contains(p.Body, "stimmt nicht") {
				t.Fatalf("wrong code: %d %s", p.Status, p.Body)
			}
			if p := h.page("POST", action, url.Values{"code": {code}}); p.Status != 200 || !strings.Contains(p.Body, `id="confirmed"`) {
				t.Fatalf("right code: %d %s", p.Status, p.Body)
			}
			var cid string
			if err := h.db.R.QueryRow(`SELECT contact_id FROM doi_requests WHERE workspace_id = $1 AND channel = 'sms'`, h.ws.ID).Scan(&cid); err != nil {
				t.Fatal(err)
			}
			if ok, reasons := h.decision(cid, "event_invitations", "sms"); !ok {
				t.Fatalf("sms after code: %v", reasons)
			}
			if ok, _ := h.decision(cid, "event_invitations", "phone"); ok {
				t.Fatal("an SMS consent opened phone calls")
			}
		})
	}
}

// TestSMSCodeLock: after five wrong codes the right one no longer works.
func TestSMSCodeLock(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.Workers = 2 }, fastJobs)
	h.seedDemo()
	h.startQueue()
	form := h.do("GET", "/api/v1/forms/demo-newsletter", h.tokens[auth.RoleAdmin], nil).json(t)["definition"].(map[string]any)
	nl := form["consents"].([]any)[0].(map[string]any)
	def := map[string]any{
		"key": "sms-lock", "title": map[string]string{"de": "SMS"}, "languages": []string{"de"}, "marketing_signup": true,
		"fields":         []any{map[string]any{"name": "phone", "type": "tel", "label": map[string]string{"de": "Mobil"}, "required": false, "purposes": []string{"event_invitations"}, "category": "phone"}},
		"consents":       []any{map[string]any{"key": "sms_ok", "purposes": []string{"event_invitations"}, "channels": []string{"sms"}, "notice": map[string]any{"de": nl["notice"].(map[string]any)["de"]}, "required": true}},
		"privacy_notice": map[string]any{"de": form["privacy_notice"].(map[string]any)["de"]},
	}
	if r := h.do("POST", "/api/v1/forms", h.tokens[auth.RoleMarketing], def); r.Status != 201 {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	p := h.page("POST", "/p/forms/sms-lock", url.Values{"phone": {"+49 151 1111 2222"}, "sms_ok": {"1"}})
	action := strings.SplitN(p.Header.Get("Location"), "?", 2)[0]
	ms := h.waitOutbox(1)
	code := codeRE.FindString(ms[0]["body"].(string))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for range 5 {
		h.page("POST", action, url.Values{"code": {wrong}})
	}
	if p := h.page("POST", action, url.Values{"code": {code}}); p.Status != 422 || !strings.Contains(p.Body, "Zu viele falsche Codes") {
		t.Fatalf("after five wrong codes: %d %s", p.Status, p.Body)
	}
	// A new code: the resend leads to a new code page whose code works.
	p = h.page("POST", strings.Replace(action, "/p/confirm-sms/", "/p/confirm/", 1)+"/resend", url.Values{})
	if p.Status != 303 || !strings.Contains(p.Header.Get("Location"), "/p/confirm-sms/") {
		t.Fatalf("resend: %d %v", p.Status, p.Header)
	}
	next := strings.SplitN(p.Header.Get("Location"), "?", 2)[0]
	ms = h.waitOutbox(2)
	fresh := codeRE.FindString(ms[0]["body"].(string))
	if p := h.page("POST", next, url.Values{"code": {fresh}}); p.Status != 200 || !strings.Contains(p.Body, `id="confirmed"`) {
		t.Fatalf("new code: %d %s", p.Status, p.Body)
	}
}

// TestEmbedCORSAndRateLimit: the snippet posts to the hosted endpoint; the
// endpoint answers other sites only for the form's allowed origins; per-IP
// rate limiting stops a flood with 429.
func TestEmbedCORSAndRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.FormRateLimit = 3 }, fastJobs)
	h.seedDemo()
	mkt := h.tokens[auth.RoleMarketing]
	def := h.do("GET", "/api/v1/forms/demo-newsletter", mkt, nil).json(t)["definition"].(map[string]any)
	def["allowed_origins"] = []string{"https://www.shop.example"}
	if r := h.do("PUT", "/api/v1/forms/demo-newsletter", mkt, def); r.Status != 200 {
		t.Fatalf("save origins: %d %s", r.Status, r.Body)
	}
	sn := h.do("GET", "/api/v1/forms/demo-newsletter/snippet?lang=de", mkt, nil)
	html, _ := sn.json(t)["html"].(string)
	for _, want := range []string{`action="` + h.url + `/p/forms/demo-newsletter"`, `name="email"`, `name="newsletter_email"`, `name="website"`, "/p/forms/demo-newsletter/embed.js", "Ja, ich möchte"} {
		if !strings.Contains(html, want) {
			t.Fatalf("snippet lacks %q:\n%s", want, html)
		}
	}
	if js := h.page("GET", "/p/forms/demo-newsletter/embed.js", nil); js.Status != 200 || !strings.Contains(js.Body, "fetch(") || js.Header.Get("Cross-Origin-Resource-Policy") != "cross-origin" {
		t.Fatalf("embed.js: %d %v", js.Status, js.Header)
	}
	post := func(origin string) page {
		return h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"cors@example.com"}, "newsletter_email": {"1"}}, "Origin", origin, "Accept", "application/json")
	}
	if p := post("https://www.shop.example"); p.Status != 202 || p.Header.Get("Access-Control-Allow-Origin") != "https://www.shop.example" {
		t.Fatalf("allowed origin: %d %v %s", p.Status, p.Header, p.Body)
	}
	if p := post("https://evil.example"); p.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin got CORS: %v", p.Header)
	}
	// Three submissions were allowed this minute; the fourth is refused.
	if p := post("https://www.shop.example"); p.Status != 202 {
		t.Fatalf("third: %d %s", p.Status, p.Body)
	}
	if p := post("https://www.shop.example"); p.Status != 429 || p.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth: %d %s", p.Status, p.Body)
	}
}

// TestProgressiveProfiling: a later submission of the same person enriches
// the one contact; a changed value keeps its history with provenance.
func TestProgressiveProfiling(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		for _, v := range []url.Values{
			{"email": {"Max@Example.de"}, "newsletter_email": {"1"}},
			{"email": {"max@example.de"}, "first_name": {"Max"}, "newsletter_email": {"1"}},
			{"email": {"MAX@example.de"}, "first_name": {"Maximilian"}, "newsletter_email": {"1"}},
		} {
			if p := h.page("POST", "/p/forms/demo-newsletter", v); p.Status != 303 {
				t.Fatalf("submit: %d %s", p.Status, p.Body)
			}
		}
		if n := h.count("contacts"); n != 1 {
			t.Fatalf("%d contacts for one person", n)
		}
		cid := h.contactByEmail("max@example.de")
		c := h.do("GET", "/api/v1/contacts/"+cid, h.tokens[auth.RoleAdmin], nil).json(t)
		if c["first_name"] != "Maximilian" {
			t.Fatalf("contact not enriched: %v", c)
		}
		var vals struct {
			Values []struct {
				Name, Value, Source string
				SupersededAt        *time.Time `json:"superseded_at"`
			} `json:"values"`
		}
		_ = json.Unmarshal(h.do("GET", "/api/v1/contacts/"+cid+"/values", h.tokens[auth.RoleAdmin], nil).Body, &vals)
		var names []string
		for _, v := range vals.Values {
			if v.Name == "first_name" {
				names = append(names, v.Value)
				if v.Source != "form:demo-newsletter@1" {
					t.Fatalf("source %q", v.Source)
				}
				if (v.Value == "Max") != (v.SupersededAt != nil) {
					t.Fatalf("history wrong: %+v", v)
				}
			}
		}
		if strings.Join(names, ",") != "Max,Maximilian" {
			t.Fatalf("first_name history: %v", names)
		}
		// The address was stored once (normalized), not three times.
		emails := 0
		for _, v := range vals.Values {
			if v.Name == "email" {
				emails++
			}
		}
		if emails != 1 {
			t.Fatalf("%d e-mail values", emails)
		}
	})
}

// TestSignUpValuesInOneRow: a new contact's form values are written as
// one sealed row (the values bundle) and read as a row each, with the
// form as their source; a later submission supersedes a changed value as
// it would a row of its own, and the unchanged one stays in force.
func TestSignUpValuesInOneRow(t *testing.T) {
	t.Parallel()
	eachDemo(t, func(t *testing.T, h *harness) {
		submit := func(first string) {
			t.Helper()
			v := url.Values{"email": {"erika@example.de"}, "first_name": {first}, "newsletter_email": {"1"}}
			if p := h.page("POST", "/p/forms/demo-newsletter", v); p.Status != 303 {
				t.Fatalf("submit: %d %s", p.Status, p.Body)
			}
		}
		type value struct {
			Name, Value, Source string
			SupersededAt        *time.Time `json:"superseded_at"`
		}
		values := func(cid string) []value {
			t.Helper()
			var vals struct {
				Values []value `json:"values"`
			}
			if err := json.Unmarshal(h.do("GET", "/api/v1/contacts/"+cid+"/values", h.tokens[auth.RoleAdmin], nil).Body, &vals); err != nil {
				t.Fatal(err)
			}
			return vals.Values
		}
		submit("Erika")
		if n := h.count("contact_values"); n != 1 {
			t.Fatalf("%d contact_values rows for a sign-up with two values, want 1", n)
		}
		cid := h.contactByEmail("erika@example.de")
		got := values(cid)
		want := []value{{Name: "email", Value: "erika@example.de", Source: "form:demo-newsletter@1"}, {Name: "first_name", Value: "Erika", Source: "form:demo-newsletter@1"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("values %+v, want %+v", got, want)
		}

		submit("Erika Maria")
		got = values(cid)
		if len(got) != 3 || got[0].Name != "email" || got[0].SupersededAt != nil ||
			got[1].Value != "Erika" || got[1].SupersededAt == nil || got[2].Value != "Erika Maria" || got[2].SupersededAt != nil {
			t.Fatalf("history after the change: %+v", got)
		}
		if c := h.do("GET", "/api/v1/contacts/"+cid, h.tokens[auth.RoleAdmin], nil).json(t); c["first_name"] != "Erika Maria" {
			t.Fatalf("contact not enriched: %v", c)
		}
	})
}

// TestConfirmationFloodBound: typing the same address into the form again
// and again sends at most five confirmation mails a day.
func TestConfirmationFloodBound(t *testing.T) {
	t.Parallel()
	h := newHarnessWith(t, store.SQLite, func(c *config.Config) { c.Workers = 2 }, fastJobs)
	h.seedDemo()
	h.startQueue()
	for range 8 {
		if p := h.page("POST", "/p/forms/demo-newsletter", url.Values{"email": {"victim@example.net"}, "newsletter_email": {"1"}}); p.Status != 303 {
			t.Fatalf("submit: %d", p.Status)
		}
	}
	h.waitOutbox(5)
	time.Sleep(300 * time.Millisecond)
	if n := len(h.outbox()); n != 5 {
		t.Fatalf("%d confirmation mails for eight sign-ups, want 5", n)
	}
}
