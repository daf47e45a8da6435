package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// consent returns the consent services wired as newInstance wires them.
func (h *harness) consent() (*contact.Store, *consent.Purposes, *consent.Notices, *consent.Ledger) {
	return consentServices(h.db, config.Config{MasterKey: testMasterKey})
}

// consentRows creates in workspace ws a contact with a ledger event, a
// custom purpose and a notice, for the isolation test.
func consentRows(t *testing.T, h *harness, ws string) map[string]string {
	t.Helper()
	ctx := context.Background()
	contacts, purposes, notices, ledger := h.consent()
	c, err := contacts.Create(ctx, ws, contact.Input{Email: "victim@example.com", LastName: "Victim", Audience: "b2c", Relationship: "prospect"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Append(ctx, nil, ws, c.ID, consent.NewEvent{Kind: consent.KindObjection, Details: consent.Details{ObjectionType: "direct_marketing"}}, consent.Actor{}); err != nil {
		t.Fatal(err)
	}
	p, err := purposes.Create(ctx, ws, consent.NewPurpose{Key: "victim_offers", Kind: "direct_marketing", DescriptionDE: "x", DescriptionEN: "x", Channels: []string{"post"}})
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := notices.Create(ctx, ws, "test", consent.NewNotice{Kind: "privacy_notice", Language: "de", Title: "Nur A", Body: "Text nur in Workspace A."})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"contact": c.ID, "purpose": p.Key, "notice": n.Hash}
}

// TestConsentAPIScenarios runs the consent hub's API end to end on both
// backends: purposes, notices, contacts with dedupe, the ledger with its
// role rules and evidence redaction, and chain verification.
func TestConsentAPIScenarios(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			admin, mkt, sales, dpo, viewer := h.tokens[auth.RoleAdmin], h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales], h.tokens[auth.RoleDPO], h.tokens[auth.RoleViewer]
			must := func(r response, status int) map[string]any {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r.json(t)
			}
			// Purposes: the built-in catalogue exists, and can be extended.
			r := h.do("GET", "/api/v1/purposes", viewer, nil)
			must(r, 200)
			for _, k := range []string{"newsletter", "supplier_acquisition", "doi_confirmation", "email_tracking", `"built_in":true`} {
				if !strings.Contains(string(r.Body), k) {
					t.Errorf("catalogue lacks %s", k)
				}
			}
			must(h.do("POST", "/api/v1/purposes", mkt, map[string]any{"key": "webinar_series", "kind": "direct_marketing", "description_de": "Webinare", "description_en": "Webinars", "channels": []string{"email"}}), 201)

			// Notices: same content twice is the same version.
			n1 := must(h.do("POST", "/api/v1/notices", dpo, map[string]any{"kind": "consent_text", "language": "de", "title": "Newsletter", "body": "Ja, ich möchte den Newsletter. <b>Widerruf</b> jederzeit."}), 201)
			n2 := must(h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": "Newsletter", "body": "Ja, ich möchte den Newsletter. <b>Widerruf</b> jederzeit."}), 200)
			notice := n1["id"].(string)
			if n2["id"] != notice || len(notice) != 64 {
				t.Fatalf("versions differ: %v %v", n1["id"], n2["id"])
			}
			must(h.do("GET", "/api/v1/notices/"+notice, sales, nil), 200)

			// Contacts: create, dedupe, find by e-mail, rectify.
			c := must(h.do("POST", "/api/v1/contacts", sales, map[string]any{"email": " Anna.Muster@Example.com ", "first_name": "Anna", "last_name": "Muster", "audience": "b2c", "relationship": "prospect", "phone": "0171 1234567",
				"address": map[string]any{"street": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "de"}}), 201)
			cid := c["id"].(string)
			if c["email"] != "anna.muster@example.com" || c["phone"] != "01711234567" {
				t.Fatalf("not normalised: %v", c)
			}
			r = h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "ANNA.MUSTER@example.com", "audience": "b2c", "relationship": "prospect"})
			if r.Status != 409 || !strings.Contains(string(r.Body), `"field":"email"`) || !strings.Contains(string(r.Body), cid) {
				t.Fatalf("duplicate: %d %s", r.Status, r.Body)
			}
			r = h.do("GET", "/api/v1/contacts?email=anna.muster%40EXAMPLE.com", dpo, nil)
			if m := must(r, 200); len(m["contacts"].([]any)) != 1 {
				t.Fatalf("search: %s", r.Body)
			}
			for i := 0; i < 3; i++ {
				must(h.do("POST", "/api/v1/contacts", admin, map[string]any{"last_name": "Page", "audience": "b2b", "relationship": "supplier", "organization": "Lieferant GmbH"}), 201)
			}
			p1 := must(h.do("GET", "/api/v1/contacts?limit=2", admin, nil), 200)
			p2 := must(h.do("GET", "/api/v1/contacts?limit=2&after="+p1["next_after"].(string), admin, nil), 200)
			if len(p1["contacts"].([]any)) != 2 || len(p2["contacts"].([]any)) != 2 || p1["contacts"].([]any)[0].(map[string]any)["id"] != cid {
				t.Fatalf("paging: %v / %v", p1, p2)
			}
			// Nothing personal is stored in clear.
			var raw string
			h.db.R.QueryRow(`SELECT coalesce(email_index, '') || ':' || coalesce(phone_index, '') FROM contacts WHERE id = $1`, cid).Scan(&raw)
			if strings.Contains(raw, "anna") || strings.Contains(raw, "1234567") || len(raw) != 129 {
				t.Fatalf("indexes: %q", raw)
			}

			// The ledger: a DOI consent with evidence, by marketing.
			ev := map[string]any{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi",
				"evidence": map[string]any{"source": "form:footer", "notice_hash": notice, "text_shown": "Ja, ich möchte den Newsletter.", "ip_address": "198.51.100.7", "user_agent": "Firefox"}}
			e := must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, ev), 201)
			if e["seq"].(float64) != 1 || e["evidence"].(map[string]any)["personal_state"] != "redacted" {
				t.Fatalf("appended: %v", e)
			}
			must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_confirmed", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi",
				"evidence": map[string]any{"confirmation_method": "email_link", "ip_address": "198.51.100.8"}}), 201)
			// Sales may record an objection, but no consent.
			must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", sales, map[string]any{"kind": "objection", "objection_type": "analytics", "channels": []string{"web"}}), 201)
			r = h.do("POST", "/api/v1/contacts/"+cid+"/ledger", sales, map[string]any{"kind": "consent_requested", "purpose": "sales_calls", "channels": []string{"phone"}})
			if r.Status != 403 || !strings.Contains(string(r.Body), "inbound_request_received, objection") {
				t.Fatalf("sales recording a consent: %d %s", r.Status, r.Body)
			}
			r = h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "erasure_requested"})
			if r.Status != 403 {
				t.Fatalf("marketing recording an erasure: %d %s", r.Status, r.Body)
			}
			// Personal evidence: dpo sees it, marketing does not.
			r = h.do("GET", "/api/v1/contacts/"+cid+"/ledger", dpo, nil)
			if must(r, 200); !strings.Contains(string(r.Body), "198.51.100.7") || !strings.Contains(string(r.Body), "Ja, ich möchte den Newsletter.") {
				t.Fatalf("dpo ledger lacks evidence: %s", r.Body)
			}
			r = h.do("GET", "/api/v1/contacts/"+cid+"/ledger", mkt, nil)
			if must(r, 200); strings.Contains(string(r.Body), "198.51.100") || !strings.Contains(string(r.Body), `"personal_state":"redacted"`) {
				t.Fatalf("marketing sees personal evidence: %s", r.Body)
			}
			if m := must(h.do("GET", "/api/v1/ledger/verify", dpo, nil), 200); m["ok"] != true || m["head_seq"].(float64) != 3 {
				t.Fatalf("verify: %v", m)
			}

			// Bad input: a clear 4xx, and nothing changes.
			before := ledgerHead(t, h)
			for _, sc := range []scenario{
				{name: "unknown purpose", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleMarketing, body: map[string]any{"kind": "consent_requested", "purpose": "spam", "channels": []string{"email"}}, wantStatus: 400, want: []string{`"field":"purpose"`, "newsletter", "webinar_series"}},
				{name: "unknown channel", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleMarketing, body: map[string]any{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"fax"}}, wantStatus: 400, want: []string{`"field":"channels"`, `"allowed":["email","sms","phone","post","web","none"]`}},
				{name: "channel not allowed for purpose", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleMarketing, body: map[string]any{"kind": "consent_requested", "purpose": "webinar_series", "channels": []string{"post"}}, wantStatus: 400, want: []string{"channel_not_allowed", `"allowed":["email"]`}},
				{name: "impossible transition", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleMarketing, body: map[string]any{"kind": "consent_withdrawn", "purpose": "product_offers", "channels": []string{"email"}}, wantStatus: 409, want: []string{"invalid_transition", "consent_requested"}},
				{name: "unknown event kind", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleDPO, body: map[string]any{"kind": "objection_lifted"}, wantStatus: 400, want: []string{`"field":"kind"`, "consent_requested"}},
				{name: "unknown ledger field", method: "POST", path: "/api/v1/contacts/" + cid + "/ledger", role: auth.RoleDPO, body: map[string]any{"kind": "objection", "hash": "x"}, wantStatus: 400, want: []string{"unknown_field"}},
				{name: "ledger of unknown contact", method: "POST", path: "/api/v1/contacts/" + id.New() + "/ledger", role: auth.RoleDPO, body: map[string]any{"kind": "objection"}, wantStatus: 404},
				{name: "bad audience", method: "POST", path: "/api/v1/contacts", role: auth.RoleSales, body: map[string]any{"email": "x@example.com", "audience": "b2x", "relationship": "prospect"}, wantStatus: 400, want: []string{`"field":"audience"`, "b2c, b2b"}},
				{name: "missing relationship", method: "POST", path: "/api/v1/contacts", role: auth.RoleSales, body: map[string]any{"email": "x@example.com", "audience": "b2c"}, wantStatus: 400, want: []string{`"field":"relationship"`}},
				{name: "bad email", method: "POST", path: "/api/v1/contacts", role: auth.RoleSales, body: map[string]any{"email": "Anna <x@example.com>", "audience": "b2c", "relationship": "prospect"}, wantStatus: 400, want: []string{`"field":"email"`}},
				{name: "bad phone", method: "POST", path: "/api/v1/contacts", role: auth.RoleSales, body: map[string]any{"phone": "call me", "audience": "b2c", "relationship": "prospect"}, wantStatus: 400, want: []string{`"field":"phone"`}},
				{name: "rectify to a taken address", method: "PATCH", path: "/api/v1/contacts/" + p1["contacts"].([]any)[1].(map[string]any)["id"].(string), role: auth.RoleDPO, body: map[string]any{"email": "anna.muster@example.com"}, wantStatus: 409, want: []string{`"field":"email"`}},
				{name: "bad limit", method: "GET", path: "/api/v1/contacts?limit=501", role: auth.RoleAdmin, wantStatus: 400, want: []string{`"field":"limit"`}},
				{name: "bad cursor", method: "GET", path: "/api/v1/contacts?after=x", role: auth.RoleAdmin, wantStatus: 400, want: []string{`"field":"after"`}},
				{name: "viewer sees no people", method: "GET", path: "/api/v1/contacts", role: auth.RoleViewer, wantStatus: 403},
				{name: "bad purpose kind", method: "POST", path: "/api/v1/purposes", role: auth.RoleDPO, body: map[string]any{"key": "x_y", "kind": "spam", "description_de": "x", "description_en": "x"}, wantStatus: 400, want: []string{`"field":"kind"`, "direct_marketing, consent_confirmation"}},
				{name: "purpose channel beyond its kind", method: "POST", path: "/api/v1/purposes", role: auth.RoleDPO, body: map[string]any{"key": "x_y", "kind": "legal_retention", "description_de": "x", "description_en": "x", "channels": []string{"email"}}, wantStatus: 400, want: []string{`"allowed":["none"]`}},
				{name: "duplicate purpose", method: "POST", path: "/api/v1/purposes", role: auth.RoleDPO, body: map[string]any{"key": "newsletter", "kind": "direct_marketing", "description_de": "x", "description_en": "x"}, wantStatus: 400, want: []string{`"field":"key"`, "duplicate"}},
				{name: "sales may not extend the catalogue", method: "POST", path: "/api/v1/purposes", role: auth.RoleSales, body: map[string]any{"key": "x_y"}, wantStatus: 403},
				{name: "bad notice kind", method: "POST", path: "/api/v1/notices", role: auth.RoleDPO, body: map[string]any{"kind": "imprint", "language": "de", "title": "x", "body": "y"}, wantStatus: 400, want: []string{`"field":"kind"`, "privacy_notice"}},
				{name: "bad notice language", method: "POST", path: "/api/v1/notices", role: auth.RoleDPO, body: map[string]any{"kind": "privacy_notice", "language": "fr", "title": "x", "body": "y"}, wantStatus: 400, want: []string{`"field":"language"`, "de, en"}},
				{name: "same text as another kind", method: "POST", path: "/api/v1/notices", role: auth.RoleDPO, body: map[string]any{"kind": "privacy_notice", "language": "de", "title": "Newsletter", "body": "Ja, ich möchte den Newsletter. <b>Widerruf</b> jederzeit."}, wantStatus: 409, want: []string{"consent_text"}},
				{name: "unknown notice", method: "GET", path: "/api/v1/notices/" + strings.Repeat("0", 64), role: auth.RoleViewer, wantStatus: 404},
				{name: "verify is for admin and dpo", method: "GET", path: "/api/v1/ledger/verify", role: auth.RoleMarketing, wantStatus: 403},
			} {
				t.Run(sc.name, func(t *testing.T) {
					r := h.do(sc.method, sc.path, h.tokens[sc.role], sc.body)
					if r.Status != sc.wantStatus {
						t.Fatalf("status %d, want %d: %s", r.Status, sc.wantStatus, r.Body)
					}
					for _, w := range sc.want {
						if !strings.Contains(string(r.Body), w) {
							t.Errorf("body lacks %q: %s", w, r.Body)
						}
					}
				})
			}
			if after := ledgerHead(t, h); after != before {
				t.Errorf("rejected requests changed the ledger: %s -> %s", before, after)
			}
			var n int
			h.db.R.QueryRow(`SELECT count(*) FROM contacts WHERE workspace_id = $1`, h.ws.ID).Scan(&n)
			if n != 4 {
				t.Errorf("%d contacts, want 4: a rejected request created one", n)
			}

			// Changing the e-mail address: the old confirmation no longer covers it.
			_, _, _, ledger := h.consent()
			asOf := time.Now().Add(time.Minute)
			f, _, err := ledger.Facts(context.Background(), h.ws.ID, cid, "newsletter", "email", asOf)
			if err != nil || len(f.Consents) != 1 {
				t.Fatalf("facts before: %v %+v", err, f.Consents)
			}
			must(h.do("PATCH", "/api/v1/contacts/"+cid, dpo, map[string]any{"email": "anna@new.example"}), 200)
			f, _, _ = ledger.Facts(context.Background(), h.ws.ID, cid, "newsletter", "email", asOf)
			if len(f.Consents) != 0 {
				t.Fatalf("consent for the old address still counts: %+v", f.Consents)
			}

			// The public notice page: no login, escaped, 404 for unknown ids.
			res, err := http.Get(h.url + "/p/notices/" + notice)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), "&lt;b&gt;Widerruf&lt;/b&gt;") || strings.Contains(string(body), "<b>Widerruf") ||
				!strings.Contains(string(body), notice) || !strings.Contains(string(body), `lang="de"`) || !strings.Contains(string(body), "Fassung") {
				t.Fatalf("public page %d: %s", res.StatusCode, body)
			}
			res, _ = http.Get(h.url + "/p/notices/" + strings.Repeat("1", 64))
			res.Body.Close()
			if res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("unknown notice page: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
			}
		})
	}
}

func ledgerHead(t *testing.T, h *harness) string {
	t.Helper()
	var seq int64
	var hash []byte
	h.db.R.QueryRow(`SELECT seq, hash FROM ledger_heads WHERE workspace_id = $1`, h.ws.ID).Scan(&seq, &hash)
	b, _ := json.Marshal([]any{seq, hash})
	return string(b)
}
