package app

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestCampaignAPI walks a campaign over HTTP: a template with an unknown
// merge field is refused naming it; a withdrawal through the API between
// scheduling and sending stops that message (skipped, with the reason
// code); the provider's signed bounce notification suppresses the address.
func TestCampaignAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, smtptest.Options{})
			h := newHarnessWith(t, d, func(c *config.Config) { c.SMTPURL = srv.URL() }, jobs.Options{})
			mkt, admin, viewer := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleAdmin], h.tokens[auth.RoleViewer]
			must := func(r response, status int) response {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r
			}
			must(h.do("PATCH", "/api/v1/settings", admin, map[string]any{"imprint": map[string]string{"de": "Beispiel GmbH, Weg 1, 10115 Berlin"}}), 200)
			notice := must(h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": "Newsletter",
				"body": "Ja, ich möchte den Newsletter per E-Mail. Widerruf jederzeit."}), 201).json(t)
			var cids []string
			for _, email := range []string{"a@example.com", "b@example.com"} {
				c := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": email, "first_name": "Ada", "audience": "b2c", "relationship": "prospect"}), 201).json(t)
				cid := c["id"].(string)
				cids = append(cids, cid)
				must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"email"},
					"verification": "email_doi", "evidence": map[string]any{"source": "form:newsletter", "notice_hash": notice["id"], "text_shown": notice["body"]}}), 201)
				must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_confirmed", "purpose": "newsletter", "channels": []string{"email"},
					"verification": "email_doi", "evidence": map[string]any{"source": "form:newsletter", "confirmation_method": "email_link"}}), 201)
			}
			bad := must(h.do("POST", "/api/v1/campaigns", mkt, map[string]any{"name": "x", "purpose": "newsletter",
				"steps": []any{map[string]any{"subject": "Hallo {{vorname}}", "text": "x"}}}), 400).json(t)
			if e := bad["error"].(map[string]any); e["field"] != "steps[0].subject" || e["code"] != "unknown_merge_field" || !strings.Contains(e["message"].(string), "vorname") {
				t.Fatalf("unknown merge field: %v", e)
			}
			if list := must(h.do("GET", "/api/v1/campaigns", mkt, nil), 200).json(t); len(list["campaigns"].([]any)) != 0 {
				t.Fatalf("a refused campaign was saved: %v", list)
			}
			must(h.do("POST", "/api/v1/campaigns", viewer, map[string]any{}), 403)
			c := must(h.do("POST", "/api/v1/campaigns", mkt, map[string]any{"name": "Frühjahr", "purpose": "newsletter", "rate_per_second": 100,
				"steps": []any{map[string]any{"subject": "Hallo {{first_name}}", "text": "Neuigkeiten für {{ first_name }}"}}}), 201).json(t)
			cid := c["id"].(string)
			pv := must(h.do("POST", "/api/v1/campaigns/"+cid+"/preview", mkt, map[string]any{"step": 0, "contact_id": cids[0]}), 200).json(t)
			if pv["subject"] != "Hallo Ada" {
				t.Fatalf("preview: %v", pv)
			}
			must(h.do("POST", "/api/v1/campaigns/"+cid+"/test", mkt, map[string]any{"to": "review@example.org"}), 202)
			sched := must(h.do("POST", "/api/v1/campaigns/"+cid+"/schedule", mkt, map[string]any{}), 200).json(t)
			if sched["recipients"].(float64) != 2 {
				t.Fatalf("schedule: %v", sched)
			}
			must(h.do("POST", "/api/v1/campaigns/"+cid+"/schedule", mkt, map[string]any{}), 409)
			// b withdraws after scheduling, before the send.
			must(h.do("POST", "/api/v1/contacts/"+cids[1]+"/ledger", mkt, map[string]any{"kind": "consent_withdrawn", "purpose": "newsletter", "channels": []string{"email"},
				"evidence": map[string]any{"source": "preference_center"}}), 201)
			must(h.do("POST", "/api/v1/campaigns/"+cid+"/pause", mkt, nil), 200)
			must(h.do("POST", "/api/v1/campaigns/"+cid+"/resume", mkt, nil), 200)
			if _, err := h.campaigns().Run(context.Background(), h.ws.ID, cid); err != nil {
				t.Fatal(err)
			}
			msgs := srv.WaitFor(t, 2, 5*time.Second) // the test message and a's
			if msgs[0].Header.Get("X-Fairlead-Test") != "true" || msgs[1].To[0] != "a@example.com" || len(srv.Messages()) != 2 {
				t.Fatalf("messages: %d", len(srv.Messages()))
			}
			rep := must(h.do("GET", "/api/v1/campaigns/"+cid+"/report", h.tokens[auth.RoleDPO], nil), 200).json(t)
			if rep["sent"].(float64) != 1 || rep["skipped_by"].(map[string]any)["consent_withdrawn"].(float64) != 1 {
				t.Fatalf("report: %v", rep)
			}
			must(h.do("GET", "/api/v1/campaigns/"+cid, mkt, nil), 200)

			// The provider reports a hard bounce of a's message.
			sec := must(h.do("GET", "/api/v1/campaigns/notification-secret", admin, nil), 200).json(t)
			must(h.do("GET", "/api/v1/campaigns/notification-secret", mkt, nil), 403)
			body, _ := json.Marshal(map[string]any{"events": []any{map[string]any{"type": "bounce", "bounce_type": "hard", "message_id": msgs[1].Header.Get("Message-ID")}}})
			post := func(sig string) *http.Response {
				req, _ := http.NewRequest("POST", h.url+sec["path"].(string), bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Fairlead-Signature", sig)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res
			}
			if res := post("sha256=00"); res.StatusCode != 401 {
				t.Fatalf("unsigned notification: %d", res.StatusCode)
			}
			m := hmac.New(sha256.New, []byte(sec["secret"].(string)))
			m.Write(body)
			if res := post("sha256=" + hex.EncodeToString(m.Sum(nil))); res.StatusCode != 200 {
				t.Fatalf("signed notification: %d", res.StatusCode)
			}
			var n int
			h.db.R.QueryRow(`SELECT COUNT(*) FROM suppressions WHERE workspace_id = $1 AND kind = 'email' AND contact_id = $2`, h.ws.ID, cids[0]).Scan(&n)
			if n != 1 {
				t.Fatalf("hard bounce did not suppress: %d", n)
			}
			rep = must(h.do("GET", "/api/v1/campaigns/"+cid+"/report", mkt, nil), 200).json(t)
			if rep["bounced"].(float64) != 1 {
				t.Fatalf("report after bounce: %v", rep)
			}
		})
	}
}

// TestCampaignUpdateDraftAPI changes a draft over HTTP (settings, facts and
// steps); bad input changes nothing; once scheduled the campaign answers
// with a 409 naming its status, and its steps stay as scheduled.
func TestCampaignUpdateDraftAPI(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d)
			mkt, viewer := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleViewer]
			must := func(r response, status int) response {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r
			}
			c := must(h.do("POST", "/api/v1/campaigns", mkt, map[string]any{"name": "Frühjahr", "purpose": "newsletter",
				"steps": []any{map[string]any{"subject": "Hallo", "text": "Eins"}}}), 201).json(t)
			path := "/api/v1/campaigns/" + c["id"].(string)
			upd := map[string]any{"name": "Sommer", "purpose": "product_offers", "rate_per_second": 20, "own_similar_offer": true, "notice_in_message": true,
				"steps": []any{map[string]any{"subject": "Hallo {{first_name}}", "text": "Eins"}, map[string]any{"delay_seconds": 86400, "subject": "Zwei", "text": "Zwei"}}}
			must(h.do("PUT", path, viewer, upd), 403)
			got := must(h.do("PUT", path, mkt, upd), 200).json(t)
			if got["name"] != "Sommer" || got["purpose"] != "product_offers" || got["own_similar_offer"] != true || got["notice_in_message"] != true ||
				len(got["steps"].([]any)) != 2 || got["status"] != "draft" {
				t.Fatalf("updated: %v", got)
			}
			bad := must(h.do("PUT", path, mkt, map[string]any{"name": "x", "purpose": "newsletter", "steps": []any{map[string]any{"subject": "{{vorname}}", "text": "x"}}}), 400).json(t)
			if e := bad["error"].(map[string]any); e["field"] != "steps[0].subject" || e["code"] != "unknown_merge_field" {
				t.Fatalf("bad update: %v", e)
			}
			if now := must(h.do("GET", path, mkt, nil), 200).json(t); now["name"] != "Sommer" || len(now["steps"].([]any)) != 2 {
				t.Fatalf("a refused update changed the draft: %v", now)
			}
			must(h.do("PUT", "/api/v1/campaigns/0190aaaa-0000-7000-8000-00000000abcd", mkt, upd), 404)
			must(h.do("POST", path+"/schedule", mkt, map[string]any{}), 200)
			conflict := must(h.do("PUT", path, mkt, upd), 409).json(t)
			if e := conflict["error"].(map[string]any); e["code"] != "campaign_state" || !strings.Contains(e["message"].(string), "only a draft") || !strings.Contains(e["message"].(string), "scheduled") {
				t.Fatalf("update of a scheduled campaign: %v", e)
			}
		})
	}
}
