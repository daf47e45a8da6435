package app

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store"
)

// TestBrowserAdminSuppliers walks the first inquiry, the contract and a
// letter batch in chromium: the inquiry text with its notice link, "mark
// sent", the contract, then the batch page whose frame shows the PDF —
// which only works if the page's CSP lets it frame its own PDF and the PDF
// lets itself be framed by the same origin.
func TestBrowserAdminSuppliers(t *testing.T) {
	tab := newBrowser(t)
	h := newHarness(t, store.SQLite)
	h.seedDemo()
	mk := h.tokens[auth.RoleMarketing]
	r := h.do("POST", "/api/v1/suppliers", mk, map[string]any{"name": "Druckerei Beispiel GmbH", "dream_client": true})
	if r.Status != 201 {
		t.Fatalf("create supplier: %d %s", r.Status, r.Body)
	}
	sid := r.json(t)["id"].(string)
	r = h.do("POST", "/api/v1/suppliers/"+sid+"/contacts", mk, map[string]any{"position": "Geschäftsführerin", "contact": map[string]any{
		"first_name": "Petra", "last_name": "Muster", "email": "petra.muster@druckerei.example",
		"address": map[string]any{"street": "Hafenstraße 12", "postal_code": "20457", "city": "Hamburg", "country": "DE"}}})
	if r.Status != 201 {
		t.Fatalf("add contact person: %d %s", r.Status, r.Body)
	}
	if r = h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Backflow", "Sie drucken für uns – wir hätten eine Idee für {{organization}}.")); r.Status != 201 {
		t.Fatalf("save template: %d %s", r.Status, r.Body)
	}
	tid := r.json(t)["id"].(string)

	browse(t, tab, "log in",
		chromedp.Navigate(h.url+"/admin/suppliers/"+sid),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), h.cfg.AdminEmail),
		chromedp.SendKeys(chromedp.ID("password"), h.cfg.AdminPassword),
	)
	submit(t, tab, "log in", "/admin/suppliers/"+sid)
	browse(t, tab, "write the first inquiry",
		script(`document.querySelectorAll("details").forEach(d => d.open = true), true`),
		chromedp.SendKeys(chromedp.ID("iq-request"), "2.000 Broschüren A4, 16 Seiten, 4/4-farbig"),
		chromedp.Click(chromedp.CSS(`form[action$="/inquiries"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("fresh-text")),
	)
	text := browseFor(t, tab, "read the inquiry text", chromedp.Value(chromedp.ID("fresh-text")))
	link := browseFor(t, tab, "read the notice link", chromedp.Text(chromedp.ID("fresh-notice")))
	if !strings.Contains(link, "/p/notices/") || !strings.Contains(text, link) || !strings.Contains(text, "Broschüren") {
		t.Fatalf("inquiry text %q, notice link %q", text, link)
	}
	screenshot(t, tab, "admin-suppliers")
	browse(t, tab, "mark it sent",
		script(`document.querySelectorAll("details").forEach(d => d.open = true), true`),
		chromedp.Click(chromedp.CSS(`form[action$="/sent"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`details[data-sent="true"]`)),
	)
	browse(t, tab, "record the contract",
		script(`document.querySelectorAll("details").forEach(d => d.open = true), true`),
		chromedp.SendKeys(chromedp.ID("co-reference"), "B-2026-17"),
		chromedp.Click(chromedp.CSS(`form[action$="/contracts"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`li[data-contract]`)),
	)
	browse(t, tab, "create the batch",
		chromedp.Navigate(h.url+"/admin/letters"),
		chromedp.WaitVisible(chromedp.ID("b-template_id")),
		chromedp.SetValue(chromedp.ID("b-template_id"), tid),
		chromedp.SetValue(chromedp.ID("b-supplier_id"), sid),
		chromedp.Click(chromedp.CSS(`form[action="/admin/letters/batches"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("pdf-preview")),
	)
	if n := browseFor(t, tab, "read the counts", chromedp.Text(chromedp.ID("batch-counts"))); !strings.HasPrefix(n, "1 ") {
		t.Fatalf("batch counts: %q", n)
	}
	// A refused frame shows the browser's error page, which the batch page
	// cannot look into; the PDF is a same-origin document of its own type.
	browseFor(t, tab, "see the PDF in the frame", chromedp.Poll[bool](`(function(){var d=document.getElementById("pdf-preview").contentDocument;return !!d && d.contentType==="application/pdf"})()`))
}
