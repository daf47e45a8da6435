package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestAuditTrail: changes, exports, personal reads and overrides through
// the API are recorded with actor, request ID, route, ID and field names —
// never values — and the trail refuses UPDATE and DELETE.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mkt, admin, dpo := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleAdmin], h.tokens[auth.RoleDPO]
			r := h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": "audited.person@example.com", "last_name": "Geheim", "audience": "b2c", "relationship": "prospect"})
			if r.Status != 201 {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			cid := r.json(t)["id"].(string)
			createReq := r.Header.Get("X-Request-ID")
			h.do("PATCH", "/api/v1/contacts/"+cid, mkt, map[string]any{"first_name": "Streng"})
			h.do("GET", "/api/v1/contacts/"+cid+"/consent-records", dpo, nil)
			h.do("POST", "/api/v1/decide", mkt, map[string]any{"facts": map[string]any{"as_of": "2026-12-01", "audience": "b2c", "relationship": "prospect", "policy": map[string]any{"consent_max_idle_days": 30}}, "request": map[string]any{"purpose": "direct_marketing", "channel": "post"}})
			h.do("POST", "/api/v1/decide", mkt, map[string]any{"facts": map[string]any{"as_of": "2026-12-01", "audience": "b2c", "relationship": "prospect"}, "request": map[string]any{"purpose": "direct_marketing", "channel": "post"}})
			if r := h.do("PATCH", "/api/v1/contacts/"+cid, h.tokens[auth.RoleViewer], map[string]any{"first_name": "X"}); r.Status != 403 {
				t.Fatalf("viewer patch: %d", r.Status)
			}

			r = h.do("GET", "/api/v1/audit", dpo, nil)
			if r.Status != 200 {
				t.Fatalf("audit: %d %s", r.Status, r.Body)
			}
			body := string(r.Body)
			for _, bad := range []string{"audited.person", "Geheim", "Streng"} {
				if strings.Contains(body, bad) {
					t.Fatalf("the trail carries a personal value %q: %s", bad, body)
				}
			}
			var out struct {
				Events []struct {
					ActorID    string   `json:"actor_id"`
					RequestID  string   `json:"request_id"`
					Action     string   `json:"action"`
					Route      string   `json:"route"`
					ResourceID string   `json:"resource_id"`
					Fields     []string `json:"fields"`
					Status     int      `json:"status"`
				} `json:"events"`
			}
			_ = json.Unmarshal(r.Body, &out)
			mktID := h.tokenID(mkt)
			want := map[string]bool{}
			for _, e := range out.Events {
				switch {
				case e.Route == "POST /api/v1/contacts" && e.Action == "create" && e.ResourceID == cid && e.ActorID == mktID && e.RequestID == createReq && strings.Join(e.Fields, ",") == "audience,email,last_name,relationship" && e.Status == 201:
					want["create"] = true
				case e.Route == "PATCH /api/v1/contacts/{id}" && e.Action == "update" && e.ResourceID == cid && strings.Join(e.Fields, ",") == "first_name" && e.Status == 200:
					want["update"] = true
				case e.Route == "PATCH /api/v1/contacts/{id}" && e.Status == 403:
					want["refused"] = true
				case e.Route == "GET /api/v1/contacts/{id}/consent-records" && e.Action == "export" && e.ResourceID == cid:
					want["export"] = true
				case e.Route == "POST /api/v1/decide" && e.Action == "override":
					want["override"] = true
				}
			}
			for _, k := range []string{"create", "update", "refused", "export", "override"} {
				if !want[k] {
					t.Errorf("no %s entry in %.2000s", k, body)
				}
			}
			decides := strings.Count(body, `"POST /api/v1/decide"`)
			if decides != 1 {
				t.Errorf("%d decide entries; a what-if without override is not a change", decides)
			}
			// Filters and CSV.
			r = h.do("GET", "/api/v1/audit?resource_id="+cid+"&action=update", admin, nil)
			_ = json.Unmarshal(r.Body, &out)
			if len(out.Events) != 2 || out.Events[0].Status != 200 || out.Events[1].Status != 403 {
				t.Fatalf("filtered (the change and the refused attempt): %.1500s", r.Body)
			}
			csv := h.do("GET", "/api/v1/audit/export", dpo, nil)
			if csv.Status != 200 || !strings.HasPrefix(string(csv.Body), "id,at,actor_type") || !strings.Contains(string(csv.Body), "PATCH /api/v1/contacts/{id}") {
				t.Fatalf("csv: %d %s", csv.Status, csv.Body)
			}
			if r := h.do("GET", "/api/v1/audit?action=steal", dpo, nil); r.Status != 400 {
				t.Fatalf("bad filter: %d", r.Status)
			}
			if r := h.do("GET", "/api/v1/audit", mkt, nil); r.Status != 403 {
				t.Fatalf("marketing reads the trail: %d", r.Status)
			}
			// Append-only in the database.
			ctx := context.Background()
			if _, err := h.db.W.ExecContext(ctx, `UPDATE audit_events SET actor_id = 'nobody'`); err == nil {
				t.Fatal("UPDATE of the audit trail succeeded")
			}
			if _, err := h.db.W.ExecContext(ctx, `DELETE FROM audit_events`); err == nil {
				t.Fatal("DELETE of the audit trail succeeded")
			}
		})
	}
}
