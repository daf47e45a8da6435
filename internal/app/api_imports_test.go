package app

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestImportAPI imports a file with a bad line through the API, runs the
// dry and the atomic variant, exports the contacts with their provenance
// and works off the Art. 14 task of a third-party contact, on both
// backends; the harness checks every answer against the OpenAPI document.
func TestImportAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mkt, dpo, viewer, admin := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleDPO], h.tokens[auth.RoleViewer], h.tokens[auth.RoleAdmin]
			must := func(r response, status int) map[string]any {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && r.Body[0] == '{' {
					return r.json(t)
				}
				return nil
			}
			count := func() int {
				var n int
				if err := h.db.R.QueryRow(`SELECT COUNT(*) FROM contacts WHERE workspace_id = $1`, h.ws.ID).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			file := "Mail,Name\nbought@example.org,Käufer\nnot-an-address,X\nother@example.org,O\n"
			body := map[string]any{"source": "Adresshandel Beispiel", "data_source": "third_party", "data": file, "mapping": map[string]string{"Mail": "email", "Name": "last_name"}}

			// An unknown target field names the allowed ones; nothing changes.
			e := must(h.do("POST", "/api/v1/imports", mkt, map[string]any{"source": "x", "data_source": "third_party", "data": file, "mapping": map[string]string{"Mail": "mail"}}), 400)
			if f := e["error"].(map[string]any); f["field"] != "mapping.Mail" || !strings.Contains(f["message"].(string), "last_name") {
				t.Fatalf("error %v", e)
			}
			must(h.do("POST", "/api/v1/imports", viewer, body), 403)

			body["dry_run"] = true
			dry := must(h.do("POST", "/api/v1/imports", mkt, body), 200)
			if dry["created"].(float64) != 2 || dry["committed"] != false || count() != 0 {
				t.Fatalf("dry run %v, %d contacts", dry, count())
			}
			delete(body, "dry_run")
			body["atomic"] = true
			at := must(h.do("POST", "/api/v1/imports", mkt, body), 200)
			if at["committed"] != false || count() != 0 {
				t.Fatalf("atomic %v", at)
			}
			delete(body, "atomic")
			rep := must(h.do("POST", "/api/v1/imports", mkt, body), 201)
			errs := rep["errors"].([]any)
			if rep["created"].(float64) != 2 || len(errs) != 1 || errs[0].(map[string]any)["line"].(float64) != 3 || errs[0].(map[string]any)["field"] != "email" || count() != 2 {
				t.Fatalf("import %v", rep)
			}
			imp := must(h.do("GET", "/api/v1/imports/"+rep["import_id"].(string), dpo, nil), 200)
			if imp["source_name"] != "Adresshandel Beispiel" || imp["created"].(float64) != 2 {
				t.Fatalf("import record %v", imp)
			}
			must(h.do("GET", "/api/v1/imports/"+rep["import_id"].(string), h.otherAdmin, nil), 404)

			j := must(h.do("POST", "/api/v1/imports", mkt, map[string]any{"format": "json", "source": "CRM", "data_source": "self_provided",
				"records": []map[string]any{{"email": "json@example.org", "last_name": "J"}}}), 201)
			if j["created"].(float64) != 1 {
				t.Fatalf("json import %v", j)
			}

			r := h.do("GET", "/api/v1/exports/contacts", dpo, nil)
			if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("export %d %s", r.Status, r.Body)
			}
			rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
			if err != nil || len(rows) != 4 {
				t.Fatalf("export rows %v %v", rows, err)
			}
			if !strings.Contains(string(r.Body), "bought@example.org,,,Käufer,,b2c,prospect,,,,,third_party,Adresshandel Beispiel,"+rep["import_id"].(string)) {
				t.Fatalf("export lacks the provenance: %s", r.Body)
			}
			r = h.do("GET", "/api/v1/exports/contacts?format=json", mkt, nil)
			var out []map[string]any
			if r.Status != 200 || json.Unmarshal(r.Body, &out) != nil || len(out) != 3 {
				t.Fatalf("json export %d %s", r.Status, r.Body)
			}
			must(h.do("GET", "/api/v1/exports/contacts", viewer, nil), 403)
			must(h.do("GET", "/api/v1/exports/contacts?format=xml", mkt, nil), 400)

			ts := must(h.do("GET", "/api/v1/art14-tasks", dpo, nil), 200)["tasks"].([]any)
			if len(ts) != 2 {
				t.Fatalf("tasks %v", ts)
			}
			must(h.do("GET", "/api/v1/art14-tasks", h.otherAdmin, nil), 200)
			tk := ts[0].(map[string]any)
			n := must(h.do("POST", "/api/v1/notices", admin, map[string]any{"kind": "privacy_notice", "language": "de", "title": "Art. 14", "body": "Ihre Adresse stammt von Adresshandel Beispiel."}), 201)
			must(h.do("POST", "/api/v1/art14-tasks/"+tk["id"].(string)+"/done", h.otherAdmin, map[string]any{"notice": n["id"], "channel": "post"}), 404)
			must(h.do("POST", "/api/v1/art14-tasks/"+tk["id"].(string)+"/done", dpo, map[string]any{"notice": "nope", "channel": "post"}), 400)
			done := must(h.do("POST", "/api/v1/art14-tasks/"+tk["id"].(string)+"/done", dpo, map[string]any{"notice": n["id"], "channel": "post"}), 200)
			if done["status"] != "done" || done["notice_event_id"] == "" {
				t.Fatalf("done %v", done)
			}
			must(h.do("POST", "/api/v1/art14-tasks/"+tk["id"].(string)+"/done", dpo, map[string]any{"notice": n["id"], "channel": "post"}), 409)
			if open := must(h.do("GET", "/api/v1/art14-tasks?status=open", mkt, nil), 200)["tasks"].([]any); len(open) != 1 {
				t.Fatalf("open tasks %v", open)
			}
			led := h.do("GET", "/api/v1/contacts/"+tk["contact_id"].(string)+"/ledger", dpo, nil)
			if led.Status != 200 || !strings.Contains(string(led.Body), `"notice_given"`) {
				t.Fatalf("ledger %d %s", led.Status, led.Body)
			}
		})
	}
}
