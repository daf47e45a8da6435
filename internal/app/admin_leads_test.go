package app

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
)

// TestAdminLeadsAndCampaigns walks the lead and campaign pages over HTTP
// as a marketing user: a segment with a bad filter is refused next to the
// filter and not saved, a good one is saved and its preview counts the
// matching contact; a campaign with an unknown merge field is refused next
// to its step and not saved, a good one is previewed for a contact (merge
// value filled in) and its report page shows the counts and the chart.
func TestAdminLeadsAndCampaigns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite)
	mkt := h.tokens[auth.RoleMarketing]
	r := h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "lena@example.com", "first_name": "Lena", "audience": "b2c", "relationship": "prospect"})
	if r.Status != http.StatusCreated {
		t.Fatalf("contact: %d %s", r.Status, r.Body)
	}
	cid := r.json(t)["id"].(string)

	c := h.ui()
	if st, loc := c.login(h.roleUser(auth.RoleMarketing), rolePassword); st != http.StatusSeeOther {
		t.Fatalf("login: %d %s", st, loc)
	}
	page := func(path string, want ...string) string {
		t.Helper()
		st, _, body := c.do("GET", path, nil)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d\n%.2000s", path, st, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Fatalf("GET %s does not show %q\n%s", path, w, body)
			}
		}
		return body
	}
	refused := func(path string, form url.Values, errID, says string) {
		t.Helper()
		st, _, body := c.do("POST", path, form)
		if st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+errID+`"`) || !strings.Contains(body, says) {
			t.Fatalf("POST %s with bad input: %d, want 422 with %s saying %q\n%.4000s", path, st, errID, says, body)
		}
	}
	created := func(path string, form url.Values, idIn *regexp.Regexp) string {
		t.Helper()
		st, hd, body := c.do("POST", path, form)
		if st != http.StatusSeeOther {
			t.Fatalf("POST %s: %d\n%.4000s", path, st, body)
		}
		m := idIn.FindStringSubmatch(hd.Get("Location"))
		if m == nil {
			t.Fatalf("POST %s went to %q", path, hd.Get("Location"))
		}
		return m[1]
	}

	// Segments: an unknown operator names the allowed ones next to the filter.
	bad := `{"field": "relationship", "op": "bigger", "value": "prospect"}`
	refused("/admin/leads/segments", url.Values{"name": {"Prospects"}, "filter": {bad}}, "sg-filter-err", "eq")
	refused("/admin/leads/segments", url.Values{"name": {"Prospects"}, "filter": {`{"feld": "stage"}`}}, "sg-filter-err", "feld")
	if body := page("/admin/leads"); strings.Contains(body, "data-segment=") {
		t.Fatal("a refused segment was saved")
	}
	good := `{"field": "relationship", "op": "eq", "value": "prospect"}`
	sgID := created("/admin/leads/segments", url.Values{"name": {"Prospects"}, "filter": {good}}, regexp.MustCompile(`/admin/leads/segments/([0-9a-f-]+)`))
	page("/admin/leads", `data-segment="`+sgID+`"`, "Prospects")
	page("/admin/leads/segments/"+sgID, "Prospects", "relationship")
	// The preview through htmx answers the count fragment; without
	// JavaScript the whole editor with the count.
	st, _, body := c.do("POST", "/admin/leads/segments/preview", url.Values{"filter": {good}}, "HX-Request", "true")
	if st != http.StatusOK || !strings.Contains(body, `id="segcount"`) || !strings.Contains(body, "1 contacts match now") || strings.Contains(body, "<html") {
		t.Fatalf("htmx preview: %d\n%s", st, body)
	}
	st, _, body = c.do("POST", "/admin/leads/segments/preview", url.Values{"filter": {good}, "name": {"Prospects"}})
	if st != http.StatusOK || !strings.Contains(body, "1 contacts match now") || !strings.Contains(body, `id="segment-form"`) {
		t.Fatalf("preview without JavaScript: %d\n%.3000s", st, body)
	}
	page("/admin/contacts/"+cid, `/admin/contacts/`+cid+`/score`)
	page("/admin/contacts/"+cid+"/score", `id="score-value"`)
	page("/admin/leads/scoring", "half_life_days")

	// Campaigns: {{vorname}} is no merge field; the error sits next to the
	// subject of the step that has it, and nothing is saved.
	form := url.Values{"name": {"Willkommen"}, "purpose": {"newsletter"}, "lang": {"de"},
		"s0.delay_days": {"0"}, "s0.subject": {"Hallo {{vorname}}"}, "s0.text": {"Willkommen!"}, "s0.html": {""}, "s0.condition": {""},
		"s1.delay_days": {"0"}, "s1.subject": {""}, "s1.text": {""}, "s1.html": {""}, "s1.condition": {""}}
	refused("/admin/campaigns", form, "c-s0-subject-err", "vorname")
	if body := page("/admin/campaigns"); strings.Contains(body, "data-campaign=") {
		t.Fatal("a refused campaign was saved")
	}
	form.Set("s0.subject", "Hallo {{first_name}}")
	form.Set("s1.subject", "Noch da, {{first_name}}?")
	form.Set("s1.text", "Zweite Nachricht")
	form.Set("s1.delay_days", "3")
	campID := created("/admin/campaigns", form, regexp.MustCompile(`/admin/campaigns/([0-9a-f-]+)`))
	page("/admin/campaigns", `data-campaign="`+campID+`"`, `data-status="draft"`)
	// A draft is edited in place, refused input again saving nothing.
	page("/admin/campaigns/"+campID+"/edit", `action="/admin/campaigns/`+campID+`"`, "Noch da, {{first_name}}?")
	form.Set("s1.subject", "Noch da, {{firstname}}?")
	refused("/admin/campaigns/"+campID, form, "c-s1-subject-err", "firstname")
	form.Set("s1.subject", "Noch da, {{first_name}}?")
	form.Set("name", "Willkommensstrecke")
	form.Set("notice_in_message", "1") // a campaign fact of UWG §7(3), kept by the form
	if got := created("/admin/campaigns/"+campID, form, regexp.MustCompile(`/admin/campaigns/([0-9a-f-]+)`)); got != campID {
		t.Fatalf("editing the draft went to %s", got)
	}
	page("/admin/campaigns/"+campID+"/edit", `name="notice_in_message" value="1" checked`, `name="own_similar_offer" value="1">`)
	page("/admin/campaigns/"+campID, "Willkommensstrecke")
	page("/admin/campaigns/"+campID, "Willkommen", "3 days after the previous step")
	refused("/admin/campaigns/"+campID+"/preview", url.Values{"step": {"0"}, "contact_id": {"no-such-contact"}}, "pv-contact_id-err", "contact_id")
	st, _, body = c.do("POST", "/admin/campaigns/"+campID+"/preview", url.Values{"step": {"0"}, "contact_id": {cid}})
	if st != http.StatusOK || !strings.Contains(body, `<strong id="preview-subject">Hallo Lena</strong>`) {
		t.Fatalf("preview for a contact: %d\n%.4000s", st, body)
	}
	// Showing a contact's merge values is recorded as a read of the campaign.
	var reads int
	if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM audit_events WHERE workspace_id = $1 AND action = 'read' AND route = 'POST /admin/campaigns/{id}/preview' AND resource_id = $2 AND status = 200`,
		h.ws.ID, campID).Scan(&reads); err != nil || reads != 1 {
		t.Fatalf("audited previews: %d, %v; want 1", reads, err)
	}
	page("/admin/campaigns/"+campID+"/report", `id="report-chart"`, `data-count="sent">0<`, "Unsubscribed")

	// Test send, status changes and the rules, refused and done.
	refused("/admin/campaigns/"+campID+"/test", url.Values{"step": {"0"}, "to": {"a@example.com, b@example.com"}}, "ts-to-err", "one bare e-mail address")
	// Every message carries the imprint; without one the test send is refused.
	refused("/admin/campaigns/"+campID+"/test", url.Values{"step": {"1"}, "to": {"test@example.com"}}, "ts-form-err", "imprint")
	if r := h.do("PATCH", "/api/v1/settings", h.tokens[auth.RoleAdmin], map[string]any{"imprint": map[string]string{"de": "Beispiel GmbH, Weg 1, 10115 Berlin"}}); r.Status != http.StatusOK {
		t.Fatalf("imprint: %d %s", r.Status, r.Body)
	}
	if st, hd, body := c.do("POST", "/admin/campaigns/"+campID+"/test", url.Values{"step": {"1"}, "to": {"test@example.com"}, "contact_id": {cid}}); st != http.StatusSeeOther || !strings.HasSuffix(hd.Get("Location"), "?done=test") {
		t.Fatalf("test send: %d %s\n%s", st, hd.Get("Location"), body[strings.Index(body, `id="test"`):])
	}
	page("/admin/campaigns/"+campID+"?done=test", "The test message was sent.")
	page("/admin/outbox", "Noch da, Lena?")
	refused("/admin/campaigns/"+campID+"/schedule", url.Values{"starts_at": {"morgen"}}, "sc-starts_at-err", "2026-03-01T09:00")
	// A start far ahead keeps the campaign scheduled until it is paused;
	// resumed, it sends at once (and, with nobody allowed, may be done).
	for _, step := range []struct {
		action string
		form   url.Values
		status []string
	}{{"schedule", url.Values{"starts_at": {"2099-01-01T09:00"}}, []string{"scheduled"}}, {"pause", url.Values{}, []string{"paused"}}, {"resume", url.Values{}, []string{"running", "completed"}}} {
		if st, hd, body := c.do("POST", "/admin/campaigns/"+campID+"/"+step.action, step.form); st != http.StatusSeeOther {
			t.Fatalf("%s: %d %s\n%.3000s", step.action, st, hd.Get("Location"), body)
		}
		body := page("/admin/campaigns/" + campID)
		m := regexp.MustCompile(`id="campaign-status" data-status="([a-z]+)"`).FindStringSubmatch(body)
		if m == nil || !slices.Contains(step.status, m[1]) {
			t.Fatalf("after %s: status %v, want one of %v", step.action, m, step.status)
		}
	}
	if st, _, body := c.do("POST", "/admin/campaigns/"+campID+"/resume", url.Values{}); st != http.StatusConflict || !strings.Contains(body, `id="sc-form-err"`) {
		t.Fatalf("resume a scheduled campaign: %d, want 409 with the rule\n%.3000s", st, body)
	}
	// Past its draft a campaign no longer changes; its form offers a copy.
	if st, _, body := c.do("POST", "/admin/campaigns/"+campID, form); st != http.StatusConflict || !strings.Contains(body, `id="c-form-err"`) {
		t.Fatalf("change a scheduled campaign: %d, want 409\n%.3000s", st, body)
	}
	if st, hd, _ := c.do("GET", "/admin/campaigns/"+campID+"/edit", nil); st != http.StatusSeeOther || hd.Get("Location") != "/admin/campaigns/new?from="+campID {
		t.Fatalf("edit a scheduled campaign: %d %s", st, hd.Get("Location"))
	}
	page("/admin/campaigns/new?from="+campID, "Willkommensstrecke", `action="/admin/campaigns"`)
	refused("/admin/leads/scoring", url.Values{"rules": {`{"half_life_days": "lang"}`}}, "sr-rules-err", "rules")
	if body := page("/admin/leads/scoring"); !strings.Contains(body, "No rules saved yet") {
		t.Fatal("refused rules were saved")
	}

	// The sales view is for sales; the DPO reads campaigns but gets no actions.
	if st, _, _ := c.do("GET", "/admin/leads/sales", nil); st != http.StatusForbidden {
		t.Fatalf("sales view as marketing: %d, want 403", st)
	}
	sc := h.ui()
	sc.login(h.roleUser(auth.RoleSales), rolePassword)
	if st, _, body := sc.do("GET", "/admin/leads/sales", nil); st != http.StatusOK || !strings.Contains(body, `id="mine-filter"`) || strings.Contains(body, `data-lead=`) {
		t.Fatalf("sales view before a hand-off: %d\n%.2000s", st, body)
	}
	if r := h.do("POST", "/api/v1/contacts/"+cid+"/stage", h.tokens[auth.RoleSales], map[string]any{"stage": "sales_qualified", "reason": "called back"}); r.Status != http.StatusOK {
		t.Fatalf("move to sales_qualified: %d %s", r.Status, r.Body)
	}
	// Lena is a prospect without consent: a letter may go to her (legitimate
	// interest, she did not object), an e-mail may not.
	if st, _, body := sc.do("GET", "/admin/leads/sales", nil); st != http.StatusOK || !strings.Contains(body, `data-lead="`+cid+`"`) || !strings.Contains(body, "Lena") ||
		!strings.Contains(body, `data-allowed="newsletter/post"`) || strings.Contains(body, `data-allowed="newsletter/email"`) {
		t.Fatalf("sales view after the hand-off: %d\n%.3000s", st, body)
	}
	page("/admin/contacts/"+cid+"/score", "Sales qualified", "by hand: called back")
	dpo := h.ui()
	dpo.login(h.roleUser(auth.RoleDPO), rolePassword)
	if st, _, body := dpo.do("GET", "/admin/campaigns/"+campID, nil); st != http.StatusOK || strings.Contains(body, `action="/admin/campaigns/`+campID+`/pause"`) {
		t.Fatalf("campaign as DPO: %d\n%.2000s", st, body)
	}
}
