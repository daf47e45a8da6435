package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestContactabilityAndAudienceAPI: the matrix, a single decision and an
// audience over HTTP, all agreeing, and a withdrawal through the API that
// takes effect at once.
func TestContactabilityAndAudienceAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mkt, sales, viewer := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleSales], h.tokens[auth.RoleViewer]
			must := func(r response, status int) response {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r
			}
			notice := must(h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": "Newsletter",
				"body": "Ja, ich möchte den Newsletter per E-Mail. Widerruf jederzeit."}), 201).json(t)
			var cids []string
			for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
				c := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": email, "audience": "b2c", "relationship": "prospect"}), 201).json(t)
				cids = append(cids, c["id"].(string))
			}
			// a and b give a confirmed newsletter consent; c gives none.
			for _, cid := range cids[:2] {
				must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"email"},
					"verification": "email_doi", "evidence": map[string]any{"source": "form:newsletter", "notice_hash": notice["id"], "text_shown": notice["body"], "ip_address": "203.0.113.1"}}), 201)
				must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_confirmed", "purpose": "newsletter", "channels": []string{"email"},
					"verification": "email_doi", "evidence": map[string]any{"source": "form:newsletter", "confirmation_method": "email_link"}}), 201)
			}

			one := must(h.do("GET", "/api/v1/contacts/"+cids[0]+"/contactability?purpose=newsletter&channel=email", sales, nil), 200).json(t)
			if one["allowed"] != true || one["kind"] != "direct_marketing" || !strings.Contains(string(mustJSON(one["reasons"])), "consent_valid") {
				t.Fatalf("single decision: %v", one)
			}
			none := must(h.do("GET", "/api/v1/contacts/"+cids[2]+"/contactability?purpose=newsletter&channel=email", sales, nil), 200).json(t)
			if none["allowed"] != false || !strings.Contains(string(mustJSON(none["legal_refs"])), "UWG §7(2)") {
				t.Fatalf("no consent: %v", none)
			}
			matrix := must(h.do("GET", "/api/v1/contacts/"+cids[2]+"/contactability", mkt, nil), 200).json(t)
			cells := matrix["matrix"].([]any)
			var postAllowed, emailDenied bool
			for _, c := range cells {
				m := c.(map[string]any)
				if m["purpose"] == "product_offers" && m["channel"] == "post" {
					postAllowed = m["allowed"] == true
				}
				if m["purpose"] == "newsletter" && m["channel"] == "email" {
					emailDenied = m["allowed"] == false
				}
			}
			if len(cells) < 14 || !postAllowed || !emailDenied {
				t.Fatalf("matrix of a prospect without consent: %d cells, post allowed %v, e-mail denied %v", len(cells), postAllowed, emailDenied)
			}

			resolve := func(body any) []string {
				t.Helper()
				r := must(h.do("POST", "/api/v1/audiences/resolve", mkt, body), 200)
				if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-ndjson") {
					t.Fatalf("content type %q", r.Header.Get("Content-Type"))
				}
				lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
				var last struct {
					Count    int  `json:"count"`
					Complete bool `json:"complete"`
				}
				if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || !last.Complete || last.Count != len(lines)-1 {
					t.Fatalf("last line %q (err %v)", lines[len(lines)-1], err)
				}
				var ids []string
				for _, l := range lines[:len(lines)-1] {
					var x struct {
						ContactID string `json:"contact_id"`
					}
					if err := json.Unmarshal([]byte(l), &x); err != nil || !id.Valid(x.ContactID) {
						t.Fatalf("line %q", l)
					}
					ids = append(ids, x.ContactID)
				}
				return ids
			}
			got := resolve(map[string]any{"purpose": "newsletter", "channel": "email"})
			if len(got) != 2 || got[0] != cids[0] || got[1] != cids[1] {
				t.Fatalf("audience %v, want %v", got, cids[:2])
			}
			if n := must(h.do("POST", "/api/v1/audiences/resolve", mkt, map[string]any{"purpose": "product_offers", "channel": "post", "count_only": true}), 200).json(t); n["count"] != float64(3) {
				t.Fatalf("count_only: %v", n)
			}
			// The person withdraws: the next resolution leaves them out.
			must(h.do("POST", "/api/v1/contacts/"+cids[0]+"/ledger", mkt, map[string]any{"kind": "consent_withdrawn", "purpose": "newsletter", "channels": []string{"email"}}), 201)
			if got := resolve(map[string]any{"purpose": "newsletter", "channel": "email"}); len(got) != 1 || got[0] != cids[1] {
				t.Fatalf("after withdrawal: %v", got)
			}

			for _, sc := range []scenario{
				{name: "unknown purpose", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "spam", "channel": "email"}, wantStatus: 400, want: []string{`"field":"purpose"`, "newsletter"}},
				{name: "unknown channel", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "newsletter", "channel": "fax"}, wantStatus: 400, want: []string{`"field":"channel"`, "email"}},
				{name: "channel not used by purpose", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "supplier_acquisition", "channel": "email"}, wantStatus: 400, want: []string{"post"}},
				{name: "bad filter", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "newsletter", "channel": "email", "filter": map[string]any{"audience": "aliens"}}, wantStatus: 400, want: []string{`"field":"filter.audience"`, "b2c"}},
				{name: "missing channel", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "newsletter"}, wantStatus: 400, want: []string{`"field":"channel"`}},
				{name: "unknown field", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleMarketing, body: map[string]any{"purpose": "newsletter", "channel": "email", "limit": 5}, wantStatus: 400, want: []string{"unknown_field"}},
				{name: "viewer sees no people", method: "POST", path: "/api/v1/audiences/resolve", role: auth.RoleViewer, body: map[string]any{"purpose": "newsletter", "channel": "email"}, wantStatus: 403},
				{name: "purpose without channel", method: "GET", path: "/api/v1/contacts/" + cids[0] + "/contactability?purpose=newsletter", role: auth.RoleSales, wantStatus: 400, want: []string{`"field":"channel"`}},
				{name: "unknown contact", method: "GET", path: "/api/v1/contacts/" + id.New() + "/contactability", role: auth.RoleSales, wantStatus: 404},
				{name: "unknown contact single", method: "GET", path: "/api/v1/contacts/" + id.New() + "/contactability?purpose=newsletter&channel=email", role: auth.RoleSales, wantStatus: 404},
			} {
				tok := h.tokens[sc.role]
				r := h.do(sc.method, sc.path, tok, sc.body)
				if r.Status != sc.wantStatus {
					t.Errorf("%s: %d, want %d: %s", sc.name, r.Status, sc.wantStatus, r.Body)
				}
				for _, w := range sc.want {
					if !strings.Contains(string(r.Body), w) {
						t.Errorf("%s: body lacks %q: %s", sc.name, w, r.Body)
					}
				}
			}
			_ = viewer
		})
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
