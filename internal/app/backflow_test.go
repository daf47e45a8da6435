package app

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/supplier"
)

func init() {
	// The batch PDF is checked by the tests themselves (pdftotext).
	openapi3filter.RegisterBodyDecoder("application/pdf", openapi3filter.FileBodyDecoder)
}

// suppliers returns the backflow service wired as newInstance wires it.
func (h *harness) suppliers() *supplier.Backflow {
	contacts, _, notices, ledger := h.consent()
	return supplierService(h.db, contacts, notices, ledger, nil, nil, h.queue, h.log)
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is needed to read the batch PDF (Debian: poppler-utils)")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// letterTemplate is the acquisition letter of the tests.
func letterTemplate(name, body string) map[string]any {
	return map[string]any{
		"name": name, "language": "de",
		"subject":   "Ein Angebot für {{supplier.name}}",
		"body":      body,
		"signature": "Erika Mustermann",
		"sender": map[string]any{"name": "Demo GmbH", "address": []string{"Musterstraße 1", "10115 Berlin"},
			"footer": []string{"Demo GmbH · HRB 000000 B · USt-IdNr. DE000000000"}},
	}
}

// ledgerKinds returns the contact's ledger events of kind.
func (h *harness) ledgerKinds(contactID, kind string) []map[string]any {
	h.t.Helper()
	r := h.do("GET", "/api/v1/contacts/"+contactID+"/ledger", h.tokens[auth.RoleDPO], nil)
	if r.Status != 200 {
		h.t.Fatalf("ledger: %d %s", r.Status, r.Body)
	}
	var out []map[string]any
	for _, e := range r.json(h.t)["events"].([]any) {
		if ev := e.(map[string]any); ev["kind"] == kind {
			out = append(out, ev)
		}
	}
	return out
}

// TestBackflowEndToEnd walks the backflow acquisition through the API:
// supplier with a contact person -> first inquiry linking the supplier
// notice -> marked sent (notice_given) -> contract recorded -> five days
// later the scheduled job prints the letter (PDF and manifest, every letter
// in the ledger) -> the supplier objects -> the next batch leaves them out
// with the reason code; their call is still answered (inquiry_reply).
func TestBackflowEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			// The queue's clock is injected: the job due five days after
			// the contract runs when the clock says so.
			var skew atomic.Int64
			qo := fastJobs
			qo.Now = func() time.Time { return time.Now().UTC().Add(time.Duration(skew.Load())) }
			h := newHarnessWith(t, d, nil, qo)
			mk, sales := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales]

			r := h.do("POST", "/api/v1/suppliers", mk, map[string]any{"name": "Druckerei Beispiel GmbH", "dream_client": true, "notes": "Traumkunde: druckt für die halbe Stadt"})
			if r.Status != 201 {
				t.Fatalf("create supplier: %d %s", r.Status, r.Body)
			}
			sid := r.json(t)["id"].(string)
			r = h.do("POST", "/api/v1/suppliers/"+sid+"/contacts", sales, map[string]any{"position": "Geschäftsführerin", "contact": map[string]any{
				"first_name": "Petra", "last_name": "Muster", "email": "petra.muster@druckerei.example",
				"address": map[string]any{"street": "Hafenstraße 12", "postal_code": "20457", "city": "Hamburg", "country": "DE"}}})
			if r.Status != 201 {
				t.Fatalf("add contact person: %d %s", r.Status, r.Body)
			}
			cid := r.json(t)["contacts"].([]any)[0].(map[string]any)["contact_id"].(string)

			// The letter template and its schedule: five days after the contract.
			r = h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Backflow", "Sie drucken für uns – wir hätten eine Idee für {{organization}}.\n\nAm {{date}} schreiben wir Ihnen, weil wir gern auch für Sie arbeiten würden."))
			if r.Status != 201 {
				t.Fatalf("save template: %d %s", r.Status, r.Body)
			}
			tpl := r.json(t)
			tid := tpl["id"].(string)
			if r = h.do("PUT", "/api/v1/letter-templates/"+tid+"/schedule", mk, map[string]any{"delay_days": 5}); r.Status != 200 {
				t.Fatalf("schedule: %d %s", r.Status, r.Body)
			}

			// The first inquiry links the supplier notice.
			r = h.do("POST", "/api/v1/suppliers/"+sid+"/inquiries", sales, map[string]any{"contact_id": cid, "channel": "email", "request": "2.000 Broschüren A4, 16 Seiten, 4/4-farbig"})
			if r.Status != 201 {
				t.Fatalf("inquiry: %d %s", r.Status, r.Body)
			}
			inq := r.json(t)
			url := inq["notice_url"].(string)
			if !strings.HasPrefix(url, h.url+"/p/notices/") || !strings.Contains(inq["body"].(string), url) {
				t.Fatalf("the inquiry text does not link the supplier notice %q:\n%s", url, inq["body"])
			}
			if p := h.page("GET", strings.TrimPrefix(url, h.url), nil); p.Status != 200 || !strings.Contains(p.Body, "Lieferanten") || !strings.Contains(p.Body, "WIDERSPRUCHSRECHT") {
				t.Fatalf("public supplier notice: %d %s", p.Status, p.Body)
			}
			if n := h.ledgerKinds(cid, "notice_given"); len(n) != 0 {
				t.Fatalf("notice_given before the inquiry was sent: %v", n)
			}
			r = h.do("POST", "/api/v1/supplier-inquiries/"+inq["id"].(string)+"/sent", sales, map[string]any{})
			if r.Status != 200 {
				t.Fatalf("mark sent: %d %s", r.Status, r.Body)
			}
			ng := h.ledgerKinds(cid, "notice_given")
			if len(ng) != 1 {
				t.Fatalf("want one notice_given, got %v", ng)
			}
			det := ng[0]["details"].(map[string]any)
			if det["notice"] != inq["notice_hash"] || det["notice_kind"] != "supplier_privacy_notice" || !slices.Equal(anyStrings(ng[0]["channels"]), []string{"email"}) {
				t.Fatalf("notice_given does not name the notice version and channel: %v", ng[0])
			}
			if r = h.do("POST", "/api/v1/supplier-inquiries/"+inq["id"].(string)+"/sent", sales, map[string]any{}); r.Status != 409 {
				t.Fatalf("marking sent twice: %d, want 409", r.Status)
			}

			// The contract makes the supplier relationship and queues the letter.
			r = h.do("POST", "/api/v1/suppliers/"+sid+"/contracts", mk, map[string]any{"reference": "B-2026-17"})
			if r.Status != 201 {
				t.Fatalf("contract: %d %s", r.Status, r.Body)
			}
			if js := r.json(t)["jobs"].([]any); len(js) != 1 {
				t.Fatalf("want one scheduled batch job, got %v", js)
			}
			if ok, reasons := h.decision(cid, "supplier_acquisition", "post"); !ok || reasons[0] != "postal_legitimate_interest" {
				t.Fatalf("supplier_acquisition by post after the contract: %v %v", ok, reasons)
			}
			for _, k := range []string{"relationship_started", "contract_started", "legitimate_interest_assessment"} {
				if len(h.ledgerKinds(cid, k)) != 1 {
					t.Fatalf("want one %s event", k)
				}
			}

			// Nothing before the due time; five days later the job prints.
			h.startQueue()
			time.Sleep(200 * time.Millisecond)
			if bs := h.do("GET", "/api/v1/letter-batches", mk, nil).json(t)["batches"].([]any); len(bs) != 0 {
				t.Fatalf("a batch before its time: %v", bs)
			}
			skew.Store(int64(5*24*time.Hour + time.Minute))
			var batch map[string]any
			for deadline := time.Now().Add(15 * time.Second); ; {
				if bs := h.do("GET", "/api/v1/letter-batches", mk, nil).json(t)["batches"].([]any); len(bs) == 1 {
					batch = h.do("GET", "/api/v1/letter-batches/"+bs[0].(map[string]any)["id"].(string), h.tokens[auth.RoleDPO], nil).json(t)
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the scheduled batch was not created")
				}
				time.Sleep(50 * time.Millisecond)
			}
			bid := batch["id"].(string)
			if batch["letters"].(float64) != 1 || batch["left_out"].(float64) != 0 || batch["template_hash"] != tpl["hash"] || batch["schedule_id"] == nil {
				t.Fatalf("scheduled batch: %v", batch)
			}
			item := batch["items"].([]any)[0].(map[string]any)
			r = h.do("GET", "/api/v1/letter-batches/"+bid+"/pdf", mk, nil)
			if r.Status != 200 || r.Header.Get("Content-Type") != "application/pdf" {
				t.Fatalf("pdf: %d %s", r.Status, r.Header.Get("Content-Type"))
			}
			text := pdfText(t, r.Body)
			for _, want := range []string{"Petra Muster", "Druckerei Beispiel GmbH", "Hafenstraße 12", "20457 Hamburg", "Ein Angebot für Druckerei Beispiel GmbH", "Guten Tag Petra Muster", "widersprechen"} {
				if !strings.Contains(text, want) {
					t.Errorf("the letter PDF lacks %q:\n%s", want, text)
				}
			}
			r = h.do("GET", "/api/v1/letter-batches/"+bid+"/manifest", mk, nil)
			if r.Status != 200 || !strings.Contains(string(r.Body), item["ref"].(string)) || !strings.Contains(string(r.Body), "Hamburg") {
				t.Fatalf("manifest: %d %s", r.Status, r.Body)
			}
			sent := h.ledgerKinds(cid, "letter_sent")
			if len(sent) != 1 || sent[0]["id"] != item["ledger_event"] || sent[0]["purpose"] != "supplier_acquisition" ||
				sent[0]["details"].(map[string]any)["template"] != tpl["hash"] || !slices.Equal(anyStrings(sent[0]["channels"]), []string{"post"}) {
				t.Fatalf("the letter is not in the ledger as sent: %v (item %v)", sent, item)
			}
			if v := h.do("GET", "/api/v1/ledger/verify", h.tokens[auth.RoleDPO], nil).json(t); v["ok"] != true {
				t.Fatalf("ledger chain after the batch: %v", v)
			}

			// The supplier calls back: the call is logged, replies by e-mail
			// are inquiry_reply.
			r = h.do("POST", "/api/v1/contacts/"+cid+"/responses", sales, map[string]any{"channel": "phone", "reply_channels": []string{"email"}, "summary": "möchte ein Angebot per E-Mail"})
			if r.Status != 201 {
				t.Fatalf("log response: %d %s", r.Status, r.Body)
			}

			// Then they object to advertising: the next batch leaves them out.
			r = h.do("POST", "/api/v1/contacts/"+cid+"/ledger", sales, map[string]any{"kind": "objection", "objection_type": "direct_marketing"})
			if r.Status != 201 {
				t.Fatalf("objection: %d %s", r.Status, r.Body)
			}
			r = h.do("POST", "/api/v1/letter-batches", mk, map[string]any{"template_id": tid, "supplier_id": sid})
			if r.Status != 201 {
				t.Fatalf("next batch: %d %s", r.Status, r.Body)
			}
			next := r.json(t)
			items := next["items"].([]any)
			if next["letters"].(float64) != 0 || len(items) != 1 {
				t.Fatalf("next batch: %v", next)
			}
			it := items[0].(map[string]any)
			if it["contact_id"] != cid || it["included"] != false || anyStrings(it["reasons"])[0] != "marketing_objection" {
				t.Fatalf("the objecting supplier is not listed as left out with marketing_objection: %v", it)
			}
			if r = h.do("GET", "/api/v1/letter-batches/"+next["id"].(string)+"/pdf", mk, nil); r.Status != 409 {
				t.Fatalf("pdf of an empty batch: %d", r.Status)
			}
			if n := len(h.ledgerKinds(cid, "letter_sent")); n != 1 {
				t.Fatalf("%d letter_sent events after the objection, want still 1", n)
			}

			// The sales view shows the response and what is allowed now.
			view := h.do("GET", "/api/v1/suppliers/"+sid+"/sales-view", sales, nil).json(t)
			cv := view["contacts"].([]any)[0].(map[string]any)
			if len(cv["responses"].([]any)) != 1 {
				t.Fatalf("sales view responses: %v", cv["responses"])
			}
			cells := map[string]map[string]any{}
			for _, c := range cv["matrix"].([]any) {
				m := c.(map[string]any)
				cells[m["purpose"].(string)+"/"+m["channel"].(string)] = m
			}
			if c := cells["inquiry_replies/email"]; c["allowed"] != true {
				t.Errorf("reply by e-mail to the supplier's call: %v", c)
			}
			if c := cells["supplier_acquisition/post"]; c["allowed"] != false || anyStrings(c["reasons"])[0] != "marketing_objection" {
				t.Errorf("supplier_acquisition/post after the objection: %v", c)
			}
			if c := cells["order_processing/email"]; c["allowed"] != true {
				t.Errorf("purchase correspondence after the objection: %v", c)
			}
			if r = h.do("GET", "/api/v1/contacts/"+cid+"/responses", h.tokens[auth.RoleDPO], nil); r.Status != 200 {
				t.Fatalf("contact sales view as dpo: %d %s", r.Status, r.Body)
			}

			// Erasure discards the print files that hold the person's
			// address and blanks their response summaries.
			if r = h.do("POST", "/api/v1/contacts/"+cid+"/erase", h.tokens[auth.RoleDPO], map[string]any{}); r.Status != 200 {
				t.Fatalf("erase: %d %s", r.Status, r.Body)
			}
			if r = h.do("GET", "/api/v1/letter-batches/"+bid+"/pdf", mk, nil); r.Status != 409 {
				t.Fatalf("pdf after the erasure: %d", r.Status)
			}
			if r = h.do("GET", "/api/v1/letter-batches/"+bid+"/manifest", mk, nil); r.Status != 409 {
				t.Fatalf("manifest after the erasure: %d", r.Status)
			}
			rs := h.do("GET", "/api/v1/contacts/"+cid+"/responses", sales, nil).json(t)["responses"].([]any)
			if len(rs) != 1 || rs[0].(map[string]any)["summary"] != "" {
				t.Fatalf("response after the erasure: %v", rs)
			}
		})
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestBackflowBadInputChangesNothing: an unknown merge field is refused at
// save naming the field; a batch with bad input is refused before anything
// is written; an address too wide for the window leaves that letter out.
func TestBackflowBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mk := h.tokens[auth.RoleMarketing]

			r := h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Tippfehler", "Guten Tag {{frist_name}},\n\nwir schreiben Ihnen."))
			if r.Status != 400 && r.Status != 422 {
				t.Fatalf("unknown merge field: %d %s", r.Status, r.Body)
			}
			e := r.json(t)["error"].(map[string]any)
			if e["field"] != "body" || e["code"] != "unknown_merge_field" || !strings.Contains(e["message"].(string), "frist_name") {
				t.Fatalf("the error does not name the field and the merge field: %v", e)
			}
			if n := h.count("letter_templates"); n != 0 {
				t.Fatalf("%d templates after a refused save", n)
			}
			r = h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Gut", "Wir schreiben {{organization}}."))
			if r.Status != 201 {
				t.Fatalf("save: %d %s", r.Status, r.Body)
			}
			tpl := r.json(t)
			// The same content again is the same version; a change is a new one.
			if r = h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Gut", "Wir schreiben {{organization}}.")); r.Status != 200 || r.json(t)["hash"] != tpl["hash"] {
				t.Fatalf("same content: %d %s", r.Status, r.Body)
			}
			if r = h.do("POST", "/api/v1/letter-templates", mk, letterTemplate("Gut", "Wir schreiben {{organization}} gern.")); r.Status != 201 || r.json(t)["version"].(float64) != 2 {
				t.Fatalf("changed content: %d %s", r.Status, r.Body)
			}
			if vs := h.do("GET", "/api/v1/letter-templates/"+tpl["id"].(string), h.tokens[auth.RoleDPO], nil).json(t)["versions"].([]any); len(vs) != 2 || vs[1].(map[string]any)["hash"] != tpl["hash"] {
				t.Fatalf("versions: %v", vs)
			}

			sid := h.do("POST", "/api/v1/suppliers", mk, map[string]any{"name": "Spedition Weit & Breit"}).json(t)["id"].(string)
			long := "Lange Straße mit einem Namen, der in kein Sichtfenster eines Briefumschlags passt 1"
			for _, c := range []map[string]any{
				{"first_name": "Ole", "last_name": "Kurz", "address": map[string]any{"street": "Kai 1", "postal_code": "28195", "city": "Bremen", "country": "DE"}},
				{"first_name": "Ute", "last_name": "Lang", "address": map[string]any{"street": long, "postal_code": "28195", "city": "Bremen", "country": "DE"}},
			} {
				if r = h.do("POST", "/api/v1/suppliers/"+sid+"/contacts", mk, map[string]any{"contact": c}); r.Status != 201 {
					t.Fatalf("contact person: %d %s", r.Status, r.Body)
				}
			}
			before := h.backflowRows()
			for _, bad := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{}, "template_id"},
				{map[string]any{"template_id": tpl["id"], "channel": "email"}, "channel"},
				{map[string]any{"template_id": tpl["id"], "purpose": "no_such_purpose"}, "purpose"},
				{map[string]any{"template_id": tpl["id"], "purpose": "newsletter"}, ""},
				{map[string]any{"template_id": tpl["id"], "supplier_id": h.ws.ID}, "supplier_id"},
				{map[string]any{"template_id": h.ws.ID}, "template_id"},
			} {
				r := h.do("POST", "/api/v1/letter-batches", mk, bad.body)
				if bad.field == "" {
					// newsletter allows post: a valid batch, decided per contact.
					continue
				}
				if r.Status != 400 {
					t.Errorf("batch %v: %d, want 400: %s", bad.body, r.Status, r.Body)
					continue
				}
				if f := r.json(t)["error"].(map[string]any)["field"]; f != bad.field {
					t.Errorf("batch %v: error names %v, want %s", bad.body, f, bad.field)
				}
			}
			// The valid newsletter batch above wrote its rows; compare from here.
			before = h.backflowRows()
			for _, body := range []map[string]any{{"template_id": tpl["id"], "channel": "sms"}, {"template_id": "not-an-id"}} {
				if r := h.do("POST", "/api/v1/letter-batches", mk, body); r.Status != 400 {
					t.Errorf("batch %v: %d", body, r.Status)
				}
			}
			if after := h.backflowRows(); after != before {
				t.Fatalf("a refused batch changed rows:\n%s\n%s", before, after)
			}

			// A valid batch: the address that does not fit is left out by name of the reason.
			r = h.do("POST", "/api/v1/letter-batches", mk, map[string]any{"template_id": tpl["id"], "supplier_id": sid})
			if r.Status != 201 {
				t.Fatalf("batch: %d %s", r.Status, r.Body)
			}
			b := r.json(t)
			if b["letters"].(float64) != 1 || b["left_out"].(float64) != 1 {
				t.Fatalf("batch: %v", b)
			}
			for _, x := range b["items"].([]any) {
				it := x.(map[string]any)
				if it["included"] == false && anyStrings(it["reasons"])[0] != "address_does_not_fit" {
					t.Errorf("left out with %v, want address_does_not_fit", it["reasons"])
				}
			}
		})
	}
}

// backflowRows counts the rows a batch writes.
func (h *harness) backflowRows() string {
	h.t.Helper()
	var out []string
	for _, tb := range []string{"letter_batches", "letter_batch_items", "ledger_events", "jobs"} {
		out = append(out, tb+"="+jsonInt(h.count(tb)))
	}
	return strings.Join(out, " ")
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }
