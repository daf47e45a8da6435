package app

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
)

// TestBrowserAdminLeads walks the lead and campaign pages in chromium: the
// saved segments and a segment's members, the sales view with a handed-off
// lead, a contact's score page where a stage move is first refused for a
// missing reason and then made, and the campaigns page with a draft.
func TestBrowserAdminLeads(t *testing.T) {
	tab := newBrowser(t)
	h := newHarness(t, store.SQLite)
	h.seedDemo()
	adm := h.tokens[auth.RoleAdmin]
	mk := func(email, first, last, org string) string {
		r := h.do("POST", "/api/v1/contacts", adm, map[string]any{"email": email, "first_name": first, "last_name": last, "organization": org, "audience": "b2b", "relationship": "prospect"})
		if r.Status != 201 {
			t.Fatalf("contact: %d %s", r.Status, r.Body)
		}
		return r.json(t)["id"].(string)
	}
	move := func(cid, stage string) {
		if r := h.do("POST", "/api/v1/contacts/"+cid+"/stage", adm, map[string]any{"stage": stage, "reason": "Messegespräch"}); r.Status != 200 {
			t.Fatalf("move: %d %s", r.Status, r.Body)
		}
	}
	jana := mk("jana.berger@example.com", "Jana", "Berger", "Berger Maschinenbau GmbH")
	tom := mk("tom.klein@example.com", "Tom", "Klein", "Klein & Söhne KG")
	mk("eva.roth@example.com", "Eva", "Roth", "Roth Logistik AG")
	move(jana, "marketing_qualified")
	move(tom, "sales_qualified") // the hand-off stage: Tom is sales' lead now
	r := h.do("POST", "/api/v1/segments", adm, map[string]any{"name": "Qualifizierte B2B-Leads", "filter": map[string]any{"and": []any{
		map[string]any{"field": "stage", "op": "in", "values": []string{"marketing_qualified", "sales_qualified"}},
		map[string]any{"field": "audience", "op": "eq", "value": "b2b"}}}})
	if r.Status != 201 {
		t.Fatalf("segment: %d %s", r.Status, r.Body)
	}
	sg := r.json(t)["id"].(string)
	r = h.do("POST", "/api/v1/campaigns", adm, map[string]any{"name": "Frühjahrsangebot", "purpose": "newsletter", "segment_id": sg,
		"steps": []any{map[string]any{"subject": "Hallo {{first_name}}, unser Frühjahrsangebot", "text": "Neuigkeiten für {{first_name}}"},
			map[string]any{"subject": "Noch Fragen, {{first_name}}?", "text": "Wir sind für Sie da.", "delay_seconds": 3 * 86400}}})
	if r.Status != 201 {
		t.Fatalf("campaign: %d %s", r.Status, r.Body)
	}
	camp := r.json(t)["id"].(string)

	browse(t, tab, "log in",
		chromedp.Navigate(h.url+"/admin/leads"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), h.cfg.AdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), h.cfg.AdminPassword),
	)
	submit(t, tab, "log in", "/admin/leads")
	browse(t, tab, "open the segment's members",
		chromedp.WaitVisible(chromedp.CSS(`tr[data-segment="`+sg+`"]`)),
		chromedp.Click(chromedp.CSS(`tr[data-segment="`+sg+`"] a[href$="/members"]`)),
		chromedp.WaitVisible(chromedp.ID("members")),
	)
	if n := browseFor(t, tab, "count the members", chromedp.Evaluate[int](`document.querySelectorAll("#members tbody tr").length`)); n != 2 {
		t.Fatalf("segment members shown: %d, want Jana and Tom", n)
	}
	browse(t, tab, "open the sales view",
		chromedp.Navigate(h.url+"/admin/leads/sales"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-lead="`+tom+`"]`)),
	)
	browse(t, tab, "open Jana's score page",
		chromedp.Navigate(h.url+"/admin/contacts/"+jana+"/score"),
		chromedp.WaitVisible(chromedp.ID("move-form")),
		chromedp.SetValue(chromedp.ID("mv-stage"), "sales_qualified"),
		chromedp.Click(chromedp.CSS(`#move-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("mv-reason-err")),
	)
	browse(t, tab, "move Jana with a reason",
		chromedp.SetValue(chromedp.ID("mv-stage"), "sales_qualified"),
		chromedp.SendKeys(chromedp.ID("mv-reason"), "Hat eine Vorführung angefragt"),
		chromedp.Click(chromedp.CSS(`#move-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.flash`)),
	)
	if txt := browseFor(t, tab, "read the stage changes", chromedp.Text(chromedp.CSS(`section[aria-labelledby="trans-h"]`))); !strings.Contains(txt, "Hat eine Vorführung angefragt") || !strings.Contains(txt, "Vertriebs-qualifiziert") {
		t.Fatalf("stage changes after the move: %q", txt)
	}
	screenshot(t, tab, "admin-leads")
	browse(t, tab, "see Jana handed off",
		chromedp.Navigate(h.url+"/admin/leads/sales"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-lead="`+jana+`"]`)),
	)
	browse(t, tab, "open the campaigns",
		chromedp.Navigate(h.url+"/admin/campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`[data-campaign="`+camp+`"]`)),
		chromedp.Click(chromedp.CSS(`[data-campaign="`+camp+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	)
	if txt := browseFor(t, tab, "read the campaign page", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(txt, "Frühjahrsangebot") || !strings.Contains(txt, "Noch Fragen") {
		t.Fatalf("campaign page: %q", txt)
	}
	screenshot(t, tab, "admin-campaign")
}
