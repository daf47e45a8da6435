package app

import (
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// TestAccessExportCoversTrackingScoreAndSupplier checks that the Art. 15
// export carries what lead management, tracking and the backflow hold about
// the person, in the JSON document and on the page, and nothing of another
// contact.
func TestAccessExportCoversTrackingScoreAndSupplier(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		mkt, sales, dpo := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales], h.tokens[auth.RoleDPO]
		h.must(h.do("PUT", "/api/v1/scoring/rules", mkt, map[string]any{"half_life_days": 30, "fit": []any{}, "assignment": []any{}, "handoff": "sales_qualified",
			"thresholds": map[string]any{"lead": 1, "marketing_qualified": 10, "sales_qualified": 50},
			"engagement": []any{map[string]any{"id": "wp", "type": "download", "points": 12}}}), 201)
		cid := h.trackingContact("export-more@example.com", true)
		other := h.trackingContact("someone-else@example.com", true)
		for _, c := range []struct{ id, name string }{{cid, "whitepaper-datenschutz"}, {other, "other-asset"}} {
			h.must(h.do("POST", "/api/v1/events", mkt, map[string]any{"events": []map[string]any{{"contact_id": c.id, "type": "download", "name": c.name}}}), 200)
		}
		h.must(h.do("POST", "/api/v1/contacts/"+cid+"/stage", sales, map[string]any{"stage": "customer", "reason": "Vertrag per Telefon"}), 200)
		sid := h.must(h.do("POST", "/api/v1/suppliers", mkt, map[string]any{"name": "Druckerei Export GmbH"}), 201).json(t)["id"].(string)
		h.must(h.do("POST", "/api/v1/suppliers/"+sid+"/contacts", mkt, map[string]any{"contact_id": cid, "position": "Einkauf"}), 201)
		h.must(h.do("POST", "/api/v1/contacts/"+cid+"/responses", mkt, map[string]any{"channel": "phone", "summary": "Rückruf erbeten"}), 201)

		// Free texts that may name the person are sealed at rest.
		for _, q := range []string{`SELECT reason FROM lead_transitions WHERE contact_id = $1 AND cause = 'manual'`, `SELECT summary FROM contact_responses WHERE contact_id = $1`} {
			var stored string
			if err := h.db.R.QueryRow(q, cid).Scan(&stored); err != nil || !strings.HasPrefix(stored, keyring.TextPrefix) || strings.Contains(stored, "Telefon") || strings.Contains(stored, "Rückruf") {
				t.Fatalf("%s: %q %v", q, stored, err)
			}
		}
		if lt := h.must(h.do("GET", "/api/v1/contacts/"+cid+"/lead", sales, nil), 200).json(t)["transitions"].([]any); lt[len(lt)-1].(map[string]any)["reason"] != "Vertrag per Telefon" {
			t.Fatalf("transitions as read: %v", lt)
		}
		if rs := h.must(h.do("GET", "/api/v1/contacts/"+cid+"/responses", mkt, nil), 200).json(t)["responses"].([]any); len(rs) != 1 || rs[0].(map[string]any)["summary"] != "Rückruf erbeten" {
			t.Fatalf("responses as read: %v", rs)
		}
		x := h.must(h.do("GET", "/api/v1/contacts/"+cid+"/export", dpo, nil), 200).json(t)
		more, _ := x["more"].(map[string]any)
		if more == nil {
			t.Fatalf("export has no further data: %v", x)
		}
		evs, _ := more["tracking_events"].([]any)
		if len(evs) != 1 || evs[0].(map[string]any)["name"] != "whitepaper-datenschutz" {
			t.Fatalf("tracking events: %v", more["tracking_events"])
		}
		ld := more["lead"].(map[string]any)
		st := ld["state"].([]any)
		if len(st) != 1 || st[0].(map[string]any)["stage"] != "customer" {
			t.Fatalf("lead state: %v", ld["state"])
		}
		if cs := ld["contributions"].([]any); len(cs) != 1 || cs[0].(map[string]any)["points"] != 12.0 {
			t.Fatalf("contributions: %v", ld["contributions"])
		}
		tr := ld["transitions"].([]any)
		if len(tr) < 2 || tr[len(tr)-1].(map[string]any)["reason"] != "Vertrag per Telefon" {
			t.Fatalf("transitions: %v", ld["transitions"])
		}
		sp := more["supplier"].(map[string]any)
		if sc := sp["supplier_contacts"].([]any); len(sc) != 1 || sc[0].(map[string]any)["supplier_name"] != "Druckerei Export GmbH" || sc[0].(map[string]any)["supplier_id"] != sid {
			t.Fatalf("supplier contacts: %v", sp["supplier_contacts"])
		}
		if rs := sp["responses"].([]any); len(rs) != 1 || rs[0].(map[string]any)["summary"] != "Rückruf erbeten" {
			t.Fatalf("responses: %v", sp["responses"])
		}
		for _, k := range []string{"imports", "campaigns"} {
			if _, ok := more[k].(map[string]any); !ok {
				t.Fatalf("section %s missing: %v", k, more)
			}
		}
		if b := string(mustJSON(x)); strings.Contains(b, "other-asset") || strings.Contains(b, other) {
			t.Fatal("the export carries another contact's data")
		}
		page := h.must(h.do("GET", "/api/v1/contacts/"+cid+"/export?format=html&lang=en", dpo, nil), 200).Body
		for _, s := range []string{"Tracking events", "whitepaper-datenschutz", "Lead score and stage (profiling)", "Vertrag per Telefon", "Druckerei Export GmbH", "Rückruf erbeten"} {
			if !strings.Contains(string(page), s) {
				t.Errorf("page lacks %q", s)
			}
		}
	})
}
