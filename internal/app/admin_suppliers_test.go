package app

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestAdminSuppliersWalk walks the backflow acquisition through the admin
// UI over HTTP, as a sales user: supplier -> contact persons -> first
// inquiry with the notice link -> marked sent -> contract -> letter template
// -> batch (one letter, one contact left out: no notice was given to them) -> PDF
// preview and download, manifest -> a response on the sales view. Each form
// is first sent with bad input, which must come back next to its field and
// change nothing.
func TestAdminSuppliersWalk(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			c := h.ui()
			if st, loc := c.login(h.roleUser(auth.RoleSales), rolePassword); st != http.StatusSeeOther {
				t.Fatalf("login: %d %s", st, loc)
			}
			// refused posts bad input and wants 422 with the field's error.
			refused := func(path string, form url.Values, errID, says string) {
				t.Helper()
				st, _, body := c.do("POST", path, form)
				if st != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+errID+`"`) || !strings.Contains(body, says) {
					t.Fatalf("POST %s with bad input: %d, want 422 with %s saying %q\n%.3000s", path, st, errID, says, body)
				}
			}
			// created posts and wants a redirect; it returns the location.
			created := func(path string, form url.Values) string {
				t.Helper()
				st, hd, body := c.do("POST", path, form)
				if st != http.StatusSeeOther {
					t.Fatalf("POST %s: %d\n%.3000s", path, st, body)
				}
				return hd.Get("Location")
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
			idIn := regexp.MustCompile(`/admin/(?:suppliers|letters/templates|letters/batches)/([0-9a-f-]+)`)
			idOf := func(loc string) string {
				t.Helper()
				m := idIn.FindStringSubmatch(loc)
				if m == nil {
					t.Fatalf("no ID in %q", loc)
				}
				return m[1]
			}

			refused("/admin/suppliers", url.Values{"name": {"  "}}, "s-name-err", "name is required")
			if body := page("/admin/suppliers"); strings.Contains(body, "data-supplier=") {
				t.Fatal("a refused supplier was saved")
			}
			sid := idOf(created("/admin/suppliers", url.Values{"name": {"Druckerei Beispiel GmbH"}, "language": {"de"}, "dream_client": {"1"}}))
			created("/admin/suppliers", url.Values{"name": {"Kantine Alltag KG"}, "language": {"de"}})
			if body := page("/admin/suppliers?dream=1", "Druckerei Beispiel GmbH"); strings.Contains(body, "Kantine Alltag") {
				t.Fatal("the dream-client filter lists a supplier that is none")
			}

			sp := "/admin/suppliers/" + sid
			refused(sp+"/contacts", url.Values{"position": {"Einkauf"}}, "pe-contact_id-err", "contact_id or contact is required")
			refused(sp+"/contacts", url.Values{"last_name": {"Muster"}, "email": {"kein-at"}}, "pe-email-err", "email")
			created(sp+"/contacts", url.Values{"position": {"Geschäftsführerin"}, "first_name": {"Petra"}, "last_name": {"Muster"}, "email": {"petra@druckerei.example"},
				"street": {"Hafenstraße 12"}, "postal_code": {"20457"}, "city": {"Hamburg"}, "country": {"de"}})
			created(sp+"/contacts", url.Values{"position": {"Einkauf"}, "first_name": {"Otto"}, "last_name": {"Ohneadresse"}, "email": {"otto@druckerei.example"}})
			body := page(sp, "Petra Muster", "Otto Ohneadresse")
			cid := regexp.MustCompile(`<tr data-contact="([0-9a-f-]+)"><td><a href="/admin/contacts/[0-9a-f-]+">Petra Muster`).FindStringSubmatch(body)
			if cid == nil {
				t.Fatalf("no contact person row for Petra\n%s", body)
			}
			petra := cid[1]

			// The first inquiry shows its text with the notice link to copy.
			refused(sp+"/inquiries", url.Values{"contact_id": {petra}, "channel": {"email"}, "request": {""}}, "iq-request-err", "request is required")
			refused(sp+"/inquiries", url.Values{"contact_id": {petra}, "channel": {"fax"}, "request": {"Broschüren"}}, "iq-channel-err", "email, web_form, post")
			loc := created(sp+"/inquiries", url.Values{"contact_id": {petra}, "channel": {"email"}, "request": {"2.000 Broschüren A4"}})
			iid := regexp.MustCompile(`inquiry=([0-9a-f-]+)`).FindStringSubmatch(loc)
			if iid == nil {
				t.Fatalf("inquiry redirect: %s", loc)
			}
			body = page(loc, `id="fresh-text"`, "2.000 Broschüren A4", `data-copy="fresh-text"`, `data-sent="false"`)
			notice := regexp.MustCompile(`id="fresh-notice">([^<]+)<`).FindStringSubmatch(body)
			if notice == nil || !strings.Contains(notice[1], "/p/notices/") || !strings.Contains(body[strings.Index(body, `id="fresh-text"`):], notice[1]) {
				t.Fatalf("the inquiry text does not link the supplier notice\n%s", body)
			}
			refused("/admin/supplier-inquiries/"+iid[1]+"/sent", url.Values{"supplier_id": {sid}, "inquiry": {iid[1]}, "sent_at": {"gestern"}}, "sent-"+iid[1]+"-err", "sending date")
			if n := len(h.ledgerKinds(petra, "notice_given")); n != 0 {
				t.Fatalf("a refused mark-sent recorded %d notice_given", n)
			}
			created("/admin/supplier-inquiries/"+iid[1]+"/sent", url.Values{"supplier_id": {sid}, "inquiry": {iid[1]}})
			if n := len(h.ledgerKinds(petra, "notice_given")); n != 1 {
				t.Fatalf("mark sent: %d notice_given events, want 1", n)
			}
			refused("/admin/supplier-inquiries/"+iid[1]+"/sent", url.Values{"supplier_id": {sid}, "inquiry": {iid[1]}}, "sent-"+iid[1]+"-err", "already marked sent")
			page(sp, `data-sent="true"`)

			refused(sp+"/contracts", url.Values{"concluded_on": {"2999-01-01"}}, "co-concluded_on-err", "future")
			created(sp+"/contracts", url.Values{"reference": {"B-2026-17"}})
			page(sp, "B-2026-17")

			// A merge field the letters do not know is refused next to the text.
			tpl := url.Values{"name": {"Backflow"}, "language": {"de"}, "subject": {"Ein Angebot für {{supplier.name}}"}, "signature": {"Erika Mustermann"},
				"body":        {"Guten Tag, wir hätten eine Idee für {{organisation}}."},
				"sender.name": {"Demo GmbH"}, "sender.address": {"Musterstraße 1\r\n10115 Berlin"}, "sender.footer": {"Demo GmbH · HRB 000000 B"}}
			refused("/admin/letters/templates", tpl, "t-body-err", "organisation")
			if body := page("/admin/letters"); strings.Contains(body, "data-template=") {
				t.Fatal("a refused template was saved")
			}
			tpl.Set("body", "Sie drucken für uns – wir hätten eine Idee für {{organization}}.")
			tid := idOf(created("/admin/letters/templates", tpl))
			page("/admin/letters/templates/"+tid, "v1", "Sie drucken für uns")
			refused("/admin/letters/templates/"+tid+"/schedule", url.Values{"delay_days": {"400"}, "enabled": {"1"}}, "sd-"+tid+"-err", "0 to 365")
			created("/admin/letters/templates/"+tid+"/schedule", url.Values{"delay_days": {"5"}, "enabled": {"1"}})
			page("/admin/letters", "5 days after each contract")

			refused("/admin/letters/batches", url.Values{"supplier_id": {sid}}, "b-template_id-err", "template_id is required")
			bid := idOf(created("/admin/letters/batches", url.Values{"template_id": {tid}, "supplier_id": {sid}}))
			body = page("/admin/letters/batches/"+bid, `data-reasons="supplier_notice_missing"`, "supplier privacy notice not given", `id="pdf-preview"`, "/admin/letters/batches/"+bid+"/pdf?inline=1")
			if !strings.Contains(body, "<strong>1</strong> letters") {
				t.Fatalf("batch counts\n%s", body)
			}

			var exports int
			st, hd, pdf := c.do("GET", "/admin/letters/batches/"+bid+"/pdf", nil)
			if err := h.db.R.QueryRow(`SELECT count(*) FROM audit_events WHERE workspace_id = $1 AND action = 'export' AND route = 'GET /admin/letters/batches/{id}/pdf' AND resource_id = $2`, h.ws.ID, bid).Scan(&exports); err != nil || exports != 1 {
				t.Fatalf("the PDF download is not in the audit trail as an export (%d, %v)", exports, err)
			}
			if st != 200 || hd.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(hd.Get("Content-Disposition"), "attachment") || !strings.HasPrefix(pdf, "%PDF") {
				t.Fatalf("PDF download: %d %v %.20q", st, hd, pdf)
			}
			if txt := pdfText(t, []byte(pdf)); !strings.Contains(txt, "Petra Muster") || !strings.Contains(txt, "Hafenstraße 12") || strings.Contains(txt, "Ohneadresse") {
				t.Fatalf("the batch PDF:\n%s", txt)
			}
			st, hd, _ = c.do("GET", "/admin/letters/batches/"+bid+"/pdf?inline=1", nil)
			if st != 200 || !strings.HasPrefix(hd.Get("Content-Disposition"), "inline") || hd.Get("X-Frame-Options") != "SAMEORIGIN" || !strings.Contains(hd.Get("Content-Security-Policy"), "frame-ancestors 'self'") {
				t.Fatalf("PDF preview: %d %v", st, hd)
			}
			st, hd, csv := c.do("GET", "/admin/letters/batches/"+bid+"/manifest", nil)
			if st != 200 || !strings.HasPrefix(hd.Get("Content-Type"), "text/csv") || !strings.Contains(csv, "Hamburg") {
				t.Fatalf("manifest: %d %v\n%s", st, hd, csv)
			}

			// The sales view: a response is logged, and the matrix says
			// what the engine allows now.
			refused("/admin/contacts/"+petra+"/responses", url.Values{"summary": {"Rückruf"}}, "r-channel-err", "channel is required")
			created("/admin/contacts/"+petra+"/responses", url.Values{"channel": {"phone"}, "reply_channels": {"email"}, "summary": {"Möchte ein Angebot für Kalender"}})
			page("/admin/contacts/"+petra+"/sales", "Möchte ein Angebot für Kalender", `data-purpose="supplier_acquisition" data-channel="post" data-allowed="true"`)

			// The data protection officer reads, but does not write.
			dpo := h.ui()
			if st, loc := dpo.login(h.roleUser(auth.RoleDPO), rolePassword); st != http.StatusSeeOther {
				t.Fatalf("dpo login: %d %s", st, loc)
			}
			if st, _, _ := dpo.do("GET", "/admin/letters/batches/"+bid, nil); st != 200 {
				t.Fatalf("dpo reads the batch: %d", st)
			}
			if st, _, _ := dpo.do("POST", "/admin/letters/batches", url.Values{"template_id": {tid}}); st != http.StatusForbidden {
				t.Fatalf("dpo creates a batch: %d, want 403", st)
			}
		})
	}
}
