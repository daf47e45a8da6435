package app

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/consentrecord"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestConsentRecordsAPI exports a contact's consents as ISO/IEC TS 27560
// consent records and receipts on both backends: a newsletter e-mail DOI
// consent requested, confirmed and withdrawn, a written phone consent, and
// an unverified consent that cannot make a valid record.
func TestConsentRecordsAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mkt, sales, dpo := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales], h.tokens[auth.RoleDPO]
			must := func(r response, status int) map[string]any {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r.json(t)
			}

			text := "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit."
			notice := must(h.do("POST", "/api/v1/notices", dpo, map[string]any{"kind": "consent_text", "language": "de", "title": "Newsletter", "body": text}), 201)["id"].(string)
			callText := "Dürfen wir Sie künftig telefonisch über Angebote informieren?"
			callNotice := must(h.do("POST", "/api/v1/notices", dpo, map[string]any{"kind": "consent_text", "language": "de", "title": "Telefon", "body": callText}), 201)["id"].(string)
			c := must(h.do("POST", "/api/v1/contacts", sales, map[string]any{"email": "erika.beispiel@example.org", "phone": "0171 7654321", "first_name": "Erika", "last_name": "Beispiel", "audience": "b2c", "relationship": "prospect"}), 201)
			cid := c["id"].(string)
			ledger := "/api/v1/contacts/" + cid + "/ledger"
			for _, ev := range []map[string]any{
				{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi", "occurred_at": "2026-01-10T09:15:02Z",
					"evidence": map[string]any{"source": "form:newsletter-footer", "notice_hash": notice, "text_shown": text, "ip_address": "198.51.100.7", "user_agent": "Firefox"}},
				{"kind": "consent_confirmed", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi", "occurred_at": "2026-01-10T09:42:13Z",
					"evidence": map[string]any{"source": "form:newsletter-footer", "confirmation_method": "email_link", "ip_address": "198.51.100.8"}},
				{"kind": "consent_requested", "purpose": "sales_calls", "channels": []string{"phone"}, "verification": "written", "occurred_at": "2026-02-03T14:20:45Z",
					"evidence": map[string]any{"source": "form:trade-fair-card", "notice_hash": callNotice, "text_shown": callText}},
				{"kind": "consent_confirmed", "purpose": "sales_calls", "channels": []string{"phone"}, "verification": "written", "occurred_at": "2026-02-03T14:21:00Z",
					"evidence": map[string]any{"source": "form:trade-fair-card", "confirmation_method": "signature", "notice_hash": callNotice}},
				{"kind": "consent_withdrawn", "purpose": "newsletter", "channels": []string{"email"}, "occurred_at": "2026-03-02T18:05:11Z",
					"evidence": map[string]any{"source": "unsubscribe_link"}},
			} {
				must(h.do("POST", ledger, mkt, ev), 201)
			}

			// Two records, in purpose order, with the right statuses.
			path := "/api/v1/contacts/" + cid + "/consent-records"
			r := h.do("GET", path, dpo, nil)
			body := must(r, 200)
			for _, leak := range []string{"erika", "example.org", "7654321", "198.51.100", "Firefox", "Beispiel"} {
				if strings.Contains(strings.ToLower(string(r.Body)), strings.ToLower(leak)) {
					t.Errorf("consent records contain %q: %s", leak, r.Body)
				}
			}
			if inc := body["incomplete"].([]any); len(inc) != 0 {
				t.Fatalf("incomplete: %v", inc)
			}
			recs := body["records"].([]any)
			if len(recs) != 2 {
				t.Fatalf("%d records, want 2: %s", len(recs), r.Body)
			}
			type want struct {
				purpose, channel, last string
				version                float64
				methods                []string
				notice                 string
			}
			wants := []want{
				{"newsletter", "email", "dpv:ConsentWithdrawn", 3, []string{"email_doi", "email_doi", "unsubscribe_link"}, notice},
				{"sales_calls", "phone", "dpv:ConsentGiven", 2, []string{"written", "written"}, callNotice},
			}
			ids := make([]string, len(recs))
			for i, w := range wants {
				rec := recs[i].(map[string]any)
				ids[i] = rec["dct:identifier"].(string)
				if rec["@type"] != "dpv:ConsentRecord" || rec["dct:conformsTo"] != consentrecord.RecordProfile || rec["@context"] == nil ||
					rec["dpv:hasIdentifier"] != ids[i] || rec["@id"] != "urn:uuid:"+ids[i] || rec["schema:version"] != w.version {
					t.Errorf("record %d header: %v", i, rec)
				}
				if s := rec["dpv:hasDataSubject"].(map[string]any); s["dct:identifier"] != cid || s["@id"] != "urn:uuid:"+cid {
					t.Errorf("record %d data subject: %v", i, s)
				}
				proc := rec["dpv:hasProcess"].([]any)[0].(map[string]any)
				pur := proc["dpv:hasPurpose"].(map[string]any)
				if pur["dct:identifier"] != w.purpose || pur["skos:broader"] != "dpv:DirectMarketing" {
					t.Errorf("record %d purpose: %v", i, pur)
				}
				if chs := proc["fairlead:channel"].([]any); len(chs) != 1 || chs[0] != w.channel {
					t.Errorf("record %d channels: %v", i, chs)
				}
				if ent := rec["dpv:hasEntity"].([]any)[0].(map[string]any); ent["dpv:hasName"] != h.ws.Name {
					t.Errorf("record %d controller: %v", i, ent)
				}
				evs := rec["dpv:hasConsentStatus"].([]any)
				if len(evs) != len(w.methods) {
					t.Fatalf("record %d: %d events, want %d", i, len(evs), len(w.methods))
				}
				for j, m := range w.methods {
					if got := evs[j].(map[string]any)["dpv:hasIndicationMethod"]; got != m {
						t.Errorf("record %d event %d method %v, want %s", i, j, got, m)
					}
				}
				last := evs[len(evs)-1].(map[string]any)["@type"].([]any)
				if last[0] != w.last {
					t.Errorf("record %d ends in %v, want %s", i, last, w.last)
				}
				n := rec["dpv:hasNotice"].([]any)[0].(map[string]any)
				if n["schema:sha256"] != w.notice || !strings.HasSuffix(n["schema:url"].(string), "/p/notices/"+w.notice) || n["dct:language"] != "de" {
					t.Errorf("record %d notice: %v", i, n)
				}
			}
			if !strings.Contains(string(r.Body), text) || !strings.Contains(string(r.Body), "2026-01-10T09:42:13Z") || !strings.Contains(string(r.Body), "eu-gdpr:A6-1-a") {
				t.Errorf("records lack the text shown, times or legal basis: %s", r.Body)
			}
			if ids[0] == ids[1] {
				t.Fatalf("records share an ID")
			}

			// Stable: the same IDs and bytes for another role and call.
			r2 := h.do("GET", path, sales, nil)
			if must(r2, 200); !bytes.Equal(r.Body, r2.Body) {
				t.Errorf("records differ between calls:\n%s\n%s", r.Body, r2.Body)
			}

			// The receipt of the withdrawn newsletter consent.
			receipt := path + "/" + ids[0] + "/receipt"
			r = h.do("GET", receipt, mkt, nil)
			rc := must(r, 200)
			if rc["@type"] != "dpv:ConsentReceipt" || rc["dct:conformsTo"] != consentrecord.ReceiptSummaryProfile || rc["schema:recipient"] != "urn:uuid:"+cid {
				t.Errorf("receipt header: %s", r.Body)
			}
			act := rc["dpv:hasRecordOfActivity"].([]any)[0].(map[string]any)
			if act["dct:identifier"] != ids[0] || act["dpv:hasConsentStatus"].(map[string]any)["@type"].([]any)[0] != "dpv:ConsentWithdrawn" ||
				act["dpv:hasConsentStatus"].(map[string]any)["dpv:hasIndicationMethod"] != "unsubscribe_link" {
				t.Errorf("receipt summary: %v", act)
			}
			for _, leak := range []string{"erika", "example.org", "7654321", "198.51.100"} {
				if strings.Contains(strings.ToLower(string(r.Body)), leak) {
					t.Errorf("receipt contains %q: %s", leak, r.Body)
				}
			}
			if again := h.do("GET", receipt, dpo, nil); !bytes.Equal(again.Body, r.Body) {
				t.Errorf("receipt not deterministic")
			}
			var phone map[string]any
			if err := json.Unmarshal(h.do("GET", path+"/"+ids[1]+"/receipt", dpo, nil).Body, &phone); err != nil || phone["@type"] != "dpv:ConsentReceipt" {
				t.Errorf("phone receipt: %v %v", err, phone)
			}

			// A consent recorded without verification cannot claim 27560
			// conformance: it is listed as incomplete, with no receipt.
			must(h.do("POST", ledger, mkt, map[string]any{"kind": "consent_requested", "purpose": "event_invitations", "channels": []string{"email"}, "verification": "none",
				"evidence": map[string]any{"notice_hash": notice}}), 201)
			body = must(h.do("GET", path, mkt, nil), 200)
			inc := body["incomplete"].([]any)
			if len(body["records"].([]any)) != 2 || len(inc) != 1 {
				t.Fatalf("after an unverified consent: %v", body)
			}
			bad := inc[0].(map[string]any)
			if bad["purpose"] != "event_invitations" || bad["status"] != "pending" || !strings.Contains(bad["problems"].([]any)[0].(string), "method") {
				t.Errorf("incomplete: %v", bad)
			}
			r = h.do("GET", path+"/"+bad["id"].(string)+"/receipt", mkt, nil)
			if r.Status != 409 || !strings.Contains(string(r.Body), "record_incomplete") {
				t.Errorf("receipt of an incomplete record: %d %s", r.Status, r.Body)
			}
			// The complete records keep their IDs.
			if r3 := must(h.do("GET", path, mkt, nil), 200); r3["records"].([]any)[0].(map[string]any)["dct:identifier"] != ids[0] {
				t.Errorf("record ID changed")
			}

			for _, sc := range []scenario{
				{name: "made-up record", method: "GET", path: path + "/" + id.New() + "/receipt", role: auth.RoleMarketing, wantStatus: 404},
				{name: "record ID that is no UUID", method: "GET", path: path + "/not-a-record/receipt", role: auth.RoleDPO, wantStatus: 404},
				{name: "unknown contact", method: "GET", path: "/api/v1/contacts/" + id.New() + "/consent-records", role: auth.RoleAdmin, wantStatus: 404},
				{name: "unknown contact's receipt", method: "GET", path: "/api/v1/contacts/" + id.New() + "/consent-records/" + ids[0] + "/receipt", role: auth.RoleAdmin, wantStatus: 404},
				{name: "viewer sees no consents", method: "GET", path: path, role: auth.RoleViewer, wantStatus: 403},
				{name: "viewer gets no receipt", method: "GET", path: receipt, role: auth.RoleViewer, wantStatus: 403},
			} {
				t.Run(sc.name, func(t *testing.T) {
					if r := h.do(sc.method, sc.path, h.tokens[sc.role], sc.body); r.Status != sc.wantStatus {
						t.Fatalf("status %d, want %d: %s", r.Status, sc.wantStatus, r.Body)
					}
				})
			}
			// Another workspace sees neither the records nor the receipt.
			for _, p := range []string{path, receipt} {
				if r := h.do("GET", p, h.otherAdmin, nil); r.Status != 404 || strings.Contains(string(r.Body), ids[0]) {
					t.Errorf("other workspace: %s -> %d %s", p, r.Status, r.Body)
				}
			}
		})
	}
}
