package app

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/config"
	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/webhook"
)

// webhooks returns the webhook service wired as newInstance wires it.
func (h *harness) webhooks() *webhook.Service {
	contacts, _, _, _ := h.consent()
	return webhookService(h.db, h.cfg, contacts.Keys(), h.queue, h.log)
}

// webhookRows gives workspace A an endpoint with one queued delivery, for
// the isolation test.
func webhookRows(t *testing.T, h *harness, ws, contactID string) map[string]string {
	t.Helper()
	ctx := context.Background()
	svc := h.webhooks()
	ep, _, err := svc.Create(ctx, ws, webhook.NewEndpoint{Name: "A's ERP", URL: "https://erp.a.example/hook", EventTypes: []string{webhook.TypeContactObjected}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.db.Tx(ctx, func(tx store.Tx) error {
		return svc.Notify(ctx, tx, ws, webhook.TypeContactObjected, contactID, nil)
	}); err != nil {
		t.Fatal(err)
	}
	ds, err := svc.Deliveries(ctx, ws, ep.ID, webhook.DeliveryFilter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	return map[string]string{"webhook": ep.ID, "delivery": ds[0].ID}
}

// hookReceiver is a real HTTP receiver on loopback that keeps every body.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	types  []string
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.types = append(rc.types, r.Header.Get("Fairlead-Event-Type"))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) got() ([]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.types...), append([]string(nil), rc.bodies...)
}

// The webhook API end to end: register an endpoint, the ledger's events
// reach it through the running workers with IDs and no personal values,
// the delivery log shows it, a redelivery repeats the event, and bad input
// is a clear 400 that changes nothing.
func TestWebhookAPIAndLedgerEvents(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			h := newHarnessWith(t, d, func(c *config.Config) { c.WebhookAllowPrivate = true }, fastJobs)
			h.startQueue()
			admin, dpo, mkt := h.tokens[auth.RoleAdmin], h.tokens[auth.RoleDPO], h.tokens[auth.RoleMarketing]
			must := func(r response, status int) map[string]any {
				t.Helper()
				if r.Status != status {
					t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
				}
				return r.json(t)
			}
			rc := newHookReceiver(t)

			for _, bad := range []struct {
				body  map[string]any
				field string
			}{
				{map[string]any{"name": "ERP", "url": "ftp://erp.example.com", "event_types": []string{"consent.withdrawn"}}, `"field":"url"`},
				{map[string]any{"name": "ERP", "url": "http://erp.example.com/hook", "event_types": []string{"consent.withdrawn"}}, `"code":"https_required"`},
				{map[string]any{"name": "ERP", "url": rc.URL, "event_types": []string{"contact.deleted"}}, `"allowed":["contact.erased"`},
				{map[string]any{"url": rc.URL, "event_types": []string{"consent.withdrawn"}}, `"field":"name"`},
			} {
				r := h.do("POST", "/api/v1/webhooks", admin, bad.body)
				if r.Status != 400 || !strings.Contains(string(r.Body), bad.field) {
					t.Fatalf("%v: %d %s", bad.body, r.Status, r.Body)
				}
			}
			if n := h.count("webhook_endpoints"); n != 0 {
				t.Fatalf("refused requests created %d endpoints", n)
			}

			created := must(h.do("POST", "/api/v1/webhooks", admin, map[string]any{"name": "Shop", "url": rc.URL + "/fairlead",
				"event_types": []string{"consent.withdrawn", "contact.rectified", "contact.erased"}, "data_categories": []string{"contact data", "orders"}}), 201)
			epID, secret := created["id"].(string), created["secret"].(string)
			list := h.do("GET", "/api/v1/webhooks", dpo, nil)
			must(list, 200)
			if strings.Contains(string(list.Body), secret) || strings.Contains(string(must(h.do("GET", "/api/v1/webhooks/"+epID, dpo, nil), 200)["url"].(string)), secret) {
				t.Fatal("the secret is shown after create")
			}
			if r := h.do("POST", "/api/v1/webhooks", mkt, map[string]any{}); r.Status != 403 {
				t.Fatalf("marketing creates endpoints: %d", r.Status)
			}
			if r := h.do("PATCH", "/api/v1/webhooks/"+epID, admin, map[string]any{"url": "http://erp.example.com/x"}); r.Status != 400 {
				t.Fatalf("patch with http URL: %d %s", r.Status, r.Body)
			}
			rot := must(h.do("POST", "/api/v1/webhooks/"+epID+"/rotate-secret", admin, nil), 200)
			if rot["secret"] == secret {
				t.Fatal("rotation kept the secret")
			}

			// The person's journey through the ledger.
			email := "wilhelmine.webhook@example.org"
			c := must(h.do("POST", "/api/v1/contacts", mkt, map[string]any{"email": email, "last_name": "Webhook", "audience": "b2c", "relationship": "prospect"}), 201)
			cid := c["id"].(string)
			ledgerPath := "/api/v1/contacts/" + cid + "/ledger"
			for _, ev := range []map[string]any{
				{"kind": "consent_requested", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi", "evidence": map[string]any{"source": "api", "ip_address": "198.51.100.7"}},
				{"kind": "consent_confirmed", "purpose": "newsletter", "channels": []string{"email"}, "verification": "email_doi", "evidence": map[string]any{"source": "api", "confirmation_method": "email_link"}},
				{"kind": "consent_withdrawn", "purpose": "newsletter", "channels": []string{"email"}, "evidence": map[string]any{"source": "unsubscribe_link", "ip_address": "198.51.100.9"}},
			} {
				must(h.do("POST", ledgerPath, mkt, ev), 201)
			}
			must(h.do("PATCH", "/api/v1/contacts/"+cid, admin, map[string]any{"relationship": "customer"}), 200)

			deadline := time.Now().Add(60 * time.Second)
			var types, bodies []string
			for time.Now().Before(deadline) {
				if types, bodies = rc.got(); len(types) >= 2 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if strings.Join(types, ",") != "consent.withdrawn,contact.rectified" {
				t.Fatalf("receiver got %v", types)
			}
			var withdrawn webhook.Event
			if err := json.Unmarshal([]byte(bodies[0]), &withdrawn); err != nil {
				t.Fatal(err)
			}
			if withdrawn.ContactID != cid || withdrawn.Data["purpose"] != "newsletter" || withdrawn.Data["ledger_event_id"] == "" {
				t.Fatalf("withdrawal event %s", bodies[0])
			}
			if !strings.Contains(bodies[1], `"fields":["relationship"]`) {
				t.Fatalf("rectification event %s", bodies[1])
			}
			for _, b := range bodies {
				for _, leak := range []string{email, "example.org", "Webhook", "198.51.100", "prospect", "customer"} {
					if strings.Contains(b, leak) {
						t.Fatalf("payload carries %q: %s", leak, b)
					}
				}
			}

			var ds map[string]any
			for time.Now().Before(deadline) {
				ds = must(h.do("GET", "/api/v1/webhooks/"+epID+"/deliveries?state=delivered", dpo, nil), 200)
				if len(ds["deliveries"].([]any)) == 2 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			items := ds["deliveries"].([]any)
			if len(items) != 2 {
				t.Fatalf("deliveries %v", ds)
			}
			first := items[1].(map[string]any)
			if first["event_type"] != "consent.withdrawn" || len(first["log"].([]any)) != 1 {
				t.Fatalf("delivery %v", first)
			}
			if r := h.do("GET", "/api/v1/webhooks/"+epID+"/deliveries?state=lost", dpo, nil); r.Status != 400 || !strings.Contains(string(r.Body), "pending") {
				t.Fatalf("bad state filter: %d %s", r.Status, r.Body)
			}
			re := must(h.do("POST", "/api/v1/webhooks/deliveries/"+first["id"].(string)+"/redeliver", admin, nil), 202)
			if re["event_id"] != first["event_id"] || re["state"] != "pending" {
				t.Fatalf("redelivered %v", re)
			}
			for time.Now().Before(deadline) {
				if types, bodies = rc.got(); len(types) >= 3 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(bodies) != 3 || bodies[2] != bodies[0] {
				t.Fatalf("the redelivery did not repeat the event: %v", types)
			}
			recips, err := h.webhooks().Recipients(context.Background(), h.ws.ID, cid)
			if err != nil || len(recips) != 1 || recips[0].Name != "Shop" || strings.Join(recips[0].DataCategories, ",") != "contact data,orders" {
				t.Fatalf("recipients %+v %v", recips, err)
			}
		})
	}
}

// The ledger hook runs inside the append's transaction: a withdrawal that
// rolls back leaves no event, no delivery and no job.
func TestLedgerHookRollsBackWithTheAppend(t *testing.T) {
	t.Parallel()
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarnessWith(t, d, func(c *config.Config) { c.WebhookAllowPrivate = true }, fastJobs)
			admin := h.tokens[auth.RoleAdmin]
			if r := h.do("POST", "/api/v1/webhooks", admin, map[string]any{"name": "CRM", "url": "https://crm.example.com/hook", "event_types": []string{"consent.withdrawn"}}); r.Status != 201 {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			r := h.do("POST", "/api/v1/contacts", admin, map[string]any{"email": "rolf.rollback@example.org", "audience": "b2c", "relationship": "prospect"})
			cid := r.json(t)["id"].(string)
			_, _, _, ledger := h.consent()
			for _, k := range []string{consent.KindConsentRequested, consent.KindConsentConfirmed} {
				if _, err := ledger.Append(ctx, nil, h.ws.ID, cid, consent.NewEvent{Kind: k, Purpose: "newsletter", Channels: []string{"email"},
					Details: consent.Details{Verification: "email_doi"}, Evidence: consent.EvidenceInput{Source: "api", ConfirmationMethod: "email_link"}}, consent.Actor{}); err != nil {
					t.Fatal(err)
				}
			}
			withdraw := consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: "newsletter", Channels: []string{"email"}, Evidence: consent.EvidenceInput{Source: "api"}}
			boom := errors.New("a later step of the caller failed")
			err := h.db.Tx(ctx, func(tx store.Tx) error {
				if _, err := ledger.Append(ctx, tx, h.ws.ID, cid, withdraw, consent.Actor{}); err != nil {
					return err
				}
				if n := countIn(t, tx, "webhook_deliveries", h.ws.ID); n != 1 {
					t.Errorf("inside the transaction: %d deliveries, want 1", n)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatal(err)
			}
			if n := h.count("webhook_events") + h.count("webhook_deliveries") + h.count("jobs"); n != 0 {
				t.Fatalf("a rolled back withdrawal left %d webhook rows or jobs", n)
			}
			if _, err := ledger.Append(ctx, nil, h.ws.ID, cid, withdraw, consent.Actor{}); err != nil {
				t.Fatal(err)
			}
			if h.count("webhook_events") != 1 || h.count("webhook_deliveries") != 1 || h.count("jobs") != 1 {
				t.Fatal("a committed withdrawal did not queue exactly one delivery")
			}
		})
	}
}

func countIn(t *testing.T, q store.Querier, table, ws string) int {
	t.Helper()
	var n int
	if err := q.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
