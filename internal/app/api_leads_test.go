package app

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/track"
)

// TestLeadsAPI walks rules, scoring, the hand-off to the sales view, a
// manual move, segments with a validation error, sensitive flags and the
// feedback page over HTTP.
func TestLeadsAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			ctx := context.Background()
			mkt, sales, dpo, viewer := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales], h.tokens[auth.RoleDPO], h.tokens[auth.RoleViewer]
			must := func(r response, status int) response {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r
			}
			rules := map[string]any{"half_life_days": 30, "fit": []any{}, "assignment": []any{}, "handoff": "sales_qualified",
				"thresholds": map[string]any{"lead": 1, "marketing_qualified": 10, "sales_qualified": 20},
				"engagement": []any{map[string]any{"id": "wp", "type": "download", "points": 25}}}
			v := must(h.do("PUT", "/api/v1/scoring/rules", sales, rules), 201).json(t)
			if v["version"] != float64(1) {
				t.Fatalf("version %v", v)
			}
			must(h.do("PUT", "/api/v1/scoring/rules", mkt, rules), 200)
			var queued int
			if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM jobs WHERE workspace_id = $1 AND kind = 'lead.recompute'`, h.ws.ID).Scan(&queued); err != nil || queued != 1 {
				t.Fatalf("%d recompute jobs queued for one new version (%v)", queued, err)
			}
			bad := must(h.do("PUT", "/api/v1/scoring/rules", mkt, map[string]any{"half_life_days": 30, "handoff": "customer",
				"thresholds": map[string]any{"lead": 1, "marketing_qualified": 10, "sales_qualified": 20}}), 400).json(t)
			if e := bad["error"].(map[string]any); e["field"] != "handoff" {
				t.Fatalf("bad handoff: %v", e)
			}
			must(h.do("PUT", "/api/v1/scoring/rules", viewer, rules), 403)
			must(h.do("GET", "/api/v1/scoring/rules/versions/1", viewer, nil), 403)
			must(h.do("GET", "/api/v1/scoring/rules/versions/1", dpo, nil), 200)

			c := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "lead@example.com", "audience": "b2b", "relationship": "prospect"}), 201).json(t)
			cid := c["id"].(string)
			if err := h.leads().Events.Record(ctx, nil, h.ws.ID, []track.Event{{ContactID: cid, Type: "download", Name: "whitepaper"}}); err != nil {
				t.Fatal(err)
			}
			sc := must(h.do("GET", "/api/v1/contacts/"+cid+"/score?lang=de", sales, nil), 200).json(t)
			if s, _ := sc["score"].(float64); s < 24.99 || s > 25 || sc["stage"] != "sales_qualified" || !strings.Contains(string(mustJSON(sc["contributions"])), "+25 Download whitepaper am") {
				t.Fatalf("score: %v", sc)
			}
			leads := must(h.do("GET", "/api/v1/sales/leads", sales, nil), 200).json(t)["leads"].([]any)
			if len(leads) != 1 || len(leads[0].(map[string]any)["blocked"].([]any)) == 0 {
				t.Fatalf("sales view: %v", leads)
			}
			must(h.do("GET", "/api/v1/sales/leads", mkt, nil), 403)
			must(h.do("POST", "/api/v1/contacts/"+cid+"/stage", mkt, map[string]any{"stage": "customer", "reason": "signed"}), 400)
			must(h.do("POST", "/api/v1/contacts/"+cid+"/stage", sales, map[string]any{"stage": "customer"}), 400)
			moved := must(h.do("POST", "/api/v1/contacts/"+cid+"/stage", sales, map[string]any{"stage": "customer", "reason": "signed"}), 200).json(t)
			if moved["stage"] != "customer" {
				t.Fatalf("moved: %v", moved)
			}
			tr := must(h.do("GET", "/api/v1/contacts/"+cid+"/lead", viewer, nil), 403)
			_ = tr
			lt := must(h.do("GET", "/api/v1/contacts/"+cid+"/lead", sales, nil), 200).json(t)
			if n := len(lt["transitions"].([]any)); n != 2 {
				t.Fatalf("%d transitions: %v", n, lt)
			}
			must(h.do("POST", "/api/v1/scoring/recompute", mkt, map[string]any{}), 200)

			pv := must(h.do("POST", "/api/v1/segments/preview", mkt, map[string]any{"filter": map[string]any{"field": "stage", "op": "eq", "value": "customer"}}), 200).json(t)
			if pv["count"] != float64(1) {
				t.Fatalf("preview %v", pv)
			}
			e := must(h.do("POST", "/api/v1/segments/preview", mkt, map[string]any{"filter": map[string]any{"and": []any{map[string]any{"field": "score", "op": "between"}}}}), 400).json(t)["error"].(map[string]any)
			if e["field"] != "filter.and[0].op" || !strings.Contains(e["message"].(string), "gte") {
				t.Fatalf("validation error %v", e)
			}
			sg := must(h.do("POST", "/api/v1/segments", mkt, map[string]any{"name": "Customers", "filter": map[string]any{"field": "stage", "op": "eq", "value": "customer"}}), 201).json(t)
			sid := sg["id"].(string)
			mem := must(h.do("GET", "/api/v1/segments/"+sid+"/members", viewer, nil), 403)
			_ = mem
			members := must(h.do("GET", "/api/v1/segments/"+sid+"/members", sales, nil), 200).json(t)
			if ids := members["contact_ids"].([]any); len(ids) != 1 || ids[0] != cid {
				t.Fatalf("members %v", members)
			}

			// Feedback through the signed link, shown per segment.
			link, err := h.leads().FeedbackURL(h.ws.ID, cid, "campaign:x:1")
			if err != nil {
				t.Fatal(err)
			}
			if p := h.page("GET", link, nil, "Accept-Language", "de"); p.Status != 200 || !strings.Contains(p.Body, "keine personenbezogenen Daten") {
				t.Fatalf("feedback page: %d %s", p.Status, p.Body)
			}
			if p := h.page("POST", link, url.Values{"rating": {"9"}}); p.Status != 400 {
				t.Fatalf("rating 9: %d", p.Status)
			}
			if p := h.page("POST", link, url.Values{"rating": {"4"}, "comment": {"passt"}}); p.Status != 200 {
				t.Fatalf("feedback: %d %s", p.Status, p.Body)
			}
			// Someone outside the segment answers too: not counted for it.
			outsider := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "outsider@example.com", "audience": "b2c", "relationship": "prospect"}), 201).json(t)["id"].(string)
			olink, err := h.leads().FeedbackURL(h.ws.ID, outsider, "campaign:x:1")
			if err != nil {
				t.Fatal(err)
			}
			if p := h.page("POST", olink, url.Values{"rating": {"1"}, "comment": {"zu viel"}}); p.Status != 200 {
				t.Fatalf("outsider feedback: %d %s", p.Status, p.Body)
			}
			// A changed character inside the signature, and the same link
			// spelled with its last character's unused bits set: neither
			// opens (a lenient decoder read the second as the real link).
			forged := []byte(link)
			forged[len(forged)-8] ^= 1
			if p := h.page("GET", string(forged), nil); p.Status != 404 {
				t.Fatalf("forged link: %d", p.Status)
			}
			alt := nonCanonical(link)
			if alt == "" {
				t.Fatalf("the link's length leaves no unused bits; pick a ref that does: %s", link)
			}
			if p := h.page("GET", alt, nil); p.Status != 404 {
				t.Fatalf("the link spelled another way: %d", p.Status)
			}
			fb := must(h.do("GET", "/api/v1/segments/"+sid+"/feedback", mkt, nil), 200).json(t)
			if fb["answers"] != float64(1) || fb["average"] != float64(4) || !strings.Contains(string(mustJSON(fb["comments"])), `"text":"passt"`) || strings.Contains(string(mustJSON(fb)), "zu viel") {
				t.Fatalf("feedback summary %v", fb)
			}
			var stored string
			if err := h.db.R.QueryRow(`SELECT comment FROM lead_feedback WHERE workspace_id = $1 AND contact_id = $2`, h.ws.ID, cid).Scan(&stored); err != nil || !strings.HasPrefix(stored, keyring.TextPrefix) {
				t.Fatalf("feedback comment at rest: %q %v", stored, err)
			}

			must(h.do("PUT", "/api/v1/sensitive", mkt, map[string]any{"flags": []any{}}), 403)
			must(h.do("PUT", "/api/v1/sensitive", dpo, map[string]any{"flags": []any{map[string]any{"kind": "event_type", "name": "download", "category": "sensitive_topic"}}}), 200)
			rep := must(h.do("GET", "/api/v1/sensitive/report", dpo, nil), 200).json(t)
			if !strings.Contains(string(mustJSON(rep)), `"engagement_rule"`) {
				t.Fatalf("report %v", rep)
			}
		})
	}
}

// nonCanonical spells a raw base64url text with its last character's unused
// bits set, which a lenient decoder reads as the same bytes; "" when the
// length leaves no unused bits.
func nonCanonical(tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var unused uint
	switch len(tok[strings.LastIndexByte(tok, '/')+1:]) % 4 {
	case 2:
		unused = 4
	case 3:
		unused = 2
	default:
		return ""
	}
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	return tok[:len(tok)-1] + string(alphabet[last|(1<<unused-1)])
}
