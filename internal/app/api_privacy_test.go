package app

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/capture/token"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/privacy"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestPrivacyAPI walks a data protection officer's day through the API on
// both backends: a request as a case, the identity link, an extension,
// the export as JSON and page, the erasure and its second call, and the
// retention rules and plan. Every answer is checked against the OpenAPI
// document by the harness.
func TestPrivacyAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			dpo, mkt := h.tokens[auth.RoleDPO], h.tokens[auth.RoleMarketing]
			must := func(r response, status int) map[string]any {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
					return r.json(t)
				}
				return nil
			}
			c := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "dsr.person@example.org", "first_name": "Dora", "audience": "b2c", "relationship": "prospect"}), 201)
			cid := c["id"].(string)
			for _, kind := range []string{"consent_requested", "consent_confirmed"} {
				must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": kind, "purpose": "newsletter", "channels": []string{"email"},
					"evidence": map[string]any{"ip_address": "198.51.100.7", "confirmation_method": "email_link"}}), 201)
			}

			// Bad input names the field and changes nothing.
			e := must(h.do("POST", "/api/v1/dsr", dpo, map[string]any{"contact_id": cid, "request_type": "delete"}), 400)
			if e["error"].(map[string]any)["field"] != "request_type" {
				t.Fatalf("error: %v", e)
			}
			must(h.do("POST", "/api/v1/dsr", dpo, map[string]any{"contact_id": id.New(), "request_type": "access"}), 400)
			must(h.do("POST", "/api/v1/dsr", mkt, map[string]any{"contact_id": cid, "request_type": "access"}), 403)

			k := must(h.do("POST", "/api/v1/dsr", dpo, map[string]any{"contact_id": cid, "request_type": "access", "note": "by e-mail"}), 201)
			kid := k["id"].(string)
			if k["status"] != "received" || k["overdue"] != false {
				t.Fatalf("case: %v", k)
			}
			v := must(h.do("POST", "/api/v1/dsr/"+kid+"/verification", dpo, map[string]any{"method": "email_link", "lang": "en"}), 200)
			if v["status"] != "verifying" {
				t.Fatalf("after the link: %v", v)
			}
			must(h.do("POST", "/api/v1/dsr/"+kid+"/extend", dpo, map[string]any{"months": 3, "reason": "x"}), 400)
			x := must(h.do("POST", "/api/v1/dsr/"+kid+"/extend", dpo, map[string]any{"months": 1, "reason": "many requests"}), 200)
			if x["extended_months"].(float64) != 1 {
				t.Fatalf("extended: %v", x)
			}
			must(h.do("POST", "/api/v1/dsr/"+kid+"/complete", dpo, map[string]any{"outcome": "completed"}), 409)

			// The person clicks the link: the GET only shows a button.
			contacts, _, _, _ := h.consent()
			tok, err := token.Sign(contacts.Keys(), token.Token{Kind: token.Verify, Workspace: h.ws.ID, Subject: kid, Expires: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if p := h.page("GET", "/p/dsr/verify/"+tok, nil); p.Status != 200 || !strings.Contains(p.Body, "<form") {
				t.Fatalf("verify page: %d %s", p.Status, p.Body)
			}
			if got := must(h.do("GET", "/api/v1/dsr/"+kid, dpo, nil), 200); got["verified_at"] != nil {
				t.Fatal("a GET of the link verified the case")
			}
			if p := h.page("POST", "/p/dsr/verify/"+tok, url.Values{"lang": {"de"}}); p.Status != 200 || !strings.Contains(p.Body, "bestätigt") {
				t.Fatalf("verify: %d %s", p.Status, p.Body)
			}
			if p := h.page("POST", "/p/dsr/verify/"+tok+"A", url.Values{}); p.Status != 404 {
				t.Fatalf("tampered link: %d", p.Status)
			}

			// Export as JSON and as a page.
			ex := must(h.do("GET", "/api/v1/contacts/"+cid+"/export", dpo, nil), 200)
			if ex["status"] != "active" || len(ex["ledger"].([]any)) < 3 || len(ex["cases"].([]any)) != 1 {
				t.Fatalf("export: %v", ex)
			}
			page := h.do("GET", "/api/v1/contacts/"+cid+"/export?format=html&lang=en", dpo, nil)
			if page.Status != 200 || !strings.Contains(string(page.Body), "dsr.person@example.org") || !strings.Contains(string(page.Body), "198.51.100.7") {
				t.Fatalf("page: %d", page.Status)
			}
			must(h.do("GET", "/api/v1/contacts/"+cid+"/export?format=pdf", dpo, nil), 400)
			must(h.do("GET", "/api/v1/contacts/"+id.New()+"/export", dpo, nil), 404)

			done := must(h.do("POST", "/api/v1/dsr/"+kid+"/complete", dpo, map[string]any{"outcome": "completed"}), 200)
			if done["status"] != "completed" || len(done["log"].([]any)) != 5 {
				t.Fatalf("completed: %v", done)
			}
			must(h.do("POST", "/api/v1/dsr/"+kid+"/extend", dpo, map[string]any{"months": 1, "reason": "late"}), 409)
			if l := must(h.do("GET", "/api/v1/dsr?status=open", dpo, nil), 200); len(l["cases"].([]any)) != 0 {
				t.Fatalf("open cases: %v", l)
			}

			// Erasure, twice, and the export afterwards.
			er := must(h.do("POST", "/api/v1/contacts/"+cid+"/erase", dpo, nil), 200)
			if er["outcome"] != "erased" {
				t.Fatalf("erase: %v", er)
			}
			er = must(h.do("POST", "/api/v1/contacts/"+cid+"/erase", dpo, nil), 200)
			if er["outcome"] != "already_erased" {
				t.Fatalf("second erase: %v", er)
			}
			must(h.do("POST", "/api/v1/contacts/"+id.New()+"/erase", dpo, nil), 404)
			ex = must(h.do("GET", "/api/v1/contacts/"+cid+"/export", dpo, nil), 200)
			if ex["status"] != "erased" || ex["contact"] != nil || len(ex["remaining"].([]any)) == 0 {
				t.Fatalf("export after erasure: %v", ex)
			}
			page = h.do("GET", "/api/v1/contacts/"+cid+"/export?format=html", dpo, nil)
			if page.Status != 200 || strings.Contains(string(page.Body), "dsr.person@example.org") || !strings.Contains(string(page.Body), "gelöscht") {
				t.Fatalf("page after erasure: %d", page.Status)
			}

			// Retention rules and the dry run.
			ps := must(h.do("GET", "/api/v1/retention/policies", dpo, nil), 200)
			if len(ps["policies"].([]any)) != len(privacy.Rules) {
				t.Fatalf("policies: %v", ps)
			}
			must(h.do("PATCH", "/api/v1/retention/policies/contract_delete", dpo, map[string]any{"after_days": 365}), 400)
			p := must(h.do("PATCH", "/api/v1/retention/policies/inactive_lead", dpo, map[string]any{"after_days": 365}), 200)
			if p["after_days"].(float64) != 365 || p["default"] != false {
				t.Fatalf("policy: %v", p)
			}
			pl := must(h.do("GET", "/api/v1/retention/plan", dpo, nil), 200)
			if pl["evaluated"].(float64) < 1 {
				t.Fatalf("plan: %v", pl)
			}
		})
	}
}
