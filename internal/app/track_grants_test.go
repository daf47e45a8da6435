package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
)

// countingDecider passes every call to the real resolver and counts the
// contacts it was asked to decide.
type countingDecider struct {
	*audience.Resolver
	asked atomic.Int64
}

func (c *countingDecider) Decide(ctx context.Context, ws, contactID, purposeKey, channel string, cp audience.Campaign) (policy.Decision, error) {
	c.asked.Add(1)
	return c.Resolver.Decide(ctx, ws, contactID, purposeKey, channel, cp)
}

func (c *countingDecider) DecideContacts(ctx context.Context, ws string, ids []string, purposeKey, channel string, cp audience.Campaign) (map[string]policy.Decision, error) {
	c.asked.Add(int64(len(ids)))
	return c.Resolver.DecideContacts(ctx, ws, ids, purposeKey, channel, cp)
}

// TestTrackingFromStoredGrantsMatchesTheEngine: identification decided from
// the stored permission state gives every event the branch the full
// derivation gives it, over consent, withdrawal, objection, a pending double
// opt-in, a contact without consent and contacts without a mark; granted
// contacts are answered without asking the engine, and a withdrawal
// committed before a batch is honoured by that batch.
func TestTrackingFromStoredGrantsMatchesTheEngine(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, d store.Dialect) {
		h := newHarness(t, d)
		ctx := context.Background()
		mkt, dpo := h.tokens[auth.RoleMarketing], h.tokens[auth.RoleDPO]
		consentTo := func(cid, purpose, channel string) {
			text := "Ja, " + purpose + " darf mit meinem Kontakt verknüpft werden."
			nr := h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": purpose, "body": text})
			if nr.Status != 201 && nr.Status != 200 {
				t.Fatalf("notice: %d %s", nr.Status, nr.Body)
			}
			// An e-mail consent is confirmed by double opt-in.
			h.must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_requested", "purpose": purpose, "channels": []string{channel}, "verification": "email_doi",
				"evidence": map[string]any{"source": "form:signup", "notice_hash": nr.json(t)["id"], "text_shown": text, "ip_address": "203.0.113.1"}}), 201)
			h.must(h.do("POST", "/api/v1/contacts/"+cid+"/ledger", mkt, map[string]any{"kind": "consent_confirmed", "purpose": purpose, "channels": []string{channel}, "verification": "email_doi",
				"evidence": map[string]any{"source": "form:signup", "confirmation_method": "email_link"}}), 201)
		}
		consented := h.trackingContact("consented@example.com", true)
		both := h.trackingContact("both@example.com", true)
		consentTo(both, "email_tracking", "email")
		withdrawn := h.trackingContact("withdrawn@example.com", true)
		h.must(h.do("POST", "/api/v1/contacts/"+withdrawn+"/ledger", mkt, map[string]any{"kind": "consent_withdrawn", "purpose": "web_tracking", "channels": []string{"web"}}), 201)
		objected := h.trackingContact("objected@example.com", true)
		h.must(h.do("POST", "/api/v1/contacts/"+objected+"/ledger", dpo, map[string]any{"kind": "objection", "objection_type": "analytics"}), 201)
		pending := h.trackingContact("pending@example.com", false)
		nr := h.do("POST", "/api/v1/notices", mkt, map[string]any{"kind": "consent_text", "language": "de", "title": "DOI", "body": "Bitte bestätigen."})
		h.must(h.do("POST", "/api/v1/contacts/"+pending+"/ledger", mkt, map[string]any{"kind": "consent_requested", "purpose": "web_tracking", "channels": []string{"web"},
			"evidence": map[string]any{"source": "form:signup", "notice_hash": nr.json(t)["id"], "text_shown": "Bitte bestätigen."}}), 201)
		none := h.trackingContact("none@example.com", false)
		contacts := []string{consented, both, withdrawn, objected, pending, none}

		contacts2, purposes, _, ledger := consentServices(h.db, h.cfg)
		resolver := audience.New(h.db, ledger, purposes, nil)
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		service := func(stored bool) (*track.Service, *countingDecider) {
			s := trackService(h.db, contacts2.Keys())
			dc := &countingDecider{Resolver: resolver}
			s.Decider, s.Now = dc, clock
			if stored {
				s.Grants = ledger
			}
			return s, dc
		}
		live, _ := service(false)
		fromState, counted := service(true)

		// Every contact alone, for every event shape the identified branch
		// is asked about; the outcome tells the branch.
		compare := func(phase string) {
			t.Helper()
			for _, cid := range contacts {
				for _, e := range []track.Incoming{
					{ContactID: cid, Type: "page_view", Name: "/"},
					{ContactID: cid, Type: "download", Name: "x", DeviceAccess: true},
					{ContactID: cid, Type: "email_open", Name: "m1"},
					{ContactID: cid, Type: "email_click", Name: "m1", DeviceAccess: true},
				} {
					want, err := live.Ingest(ctx, h.ws.ID, []track.Incoming{e})
					if err != nil {
						t.Fatal(err)
					}
					got, err := fromState.Ingest(ctx, h.ws.ID, []track.Incoming{e})
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Fatalf("%s: contact %d, %s device %v: from the state %+v, derived %+v", phase, indexOf(contacts, cid), e.Type, e.DeviceAccess, got, want)
					}
				}
			}
		}
		compare("with marks")
		// The consented contacts really were answered from the state: a
		// batch of them asks the engine about nobody.
		counted.asked.Store(0)
		out, err := fromState.Ingest(ctx, h.ws.ID, []track.Incoming{
			{ContactID: consented, Type: "page_view", Name: "/a"}, {ContactID: both, Type: "page_view", Name: "/a", DeviceAccess: true},
			{ContactID: both, Type: "email_open", Name: "m2"}})
		if err != nil || out.Identified != 3 {
			t.Fatalf("granted batch: %+v %v", out, err)
		}
		if n := counted.asked.Load(); n != 0 {
			t.Fatalf("granted contacts were derived live: %d asked", n)
		}

		// A withdrawal committed before the batch: that batch honours it.
		h.must(h.do("POST", "/api/v1/contacts/"+consented+"/ledger", mkt, map[string]any{"kind": "consent_withdrawn", "purpose": "web_tracking", "channels": []string{"web"}}), 201)
		out, err = fromState.Ingest(ctx, h.ws.ID, []track.Incoming{{ContactID: consented, Type: "page_view", Name: "/after"}})
		if err != nil || out.Identified != 0 {
			t.Fatalf("after the withdrawal: %+v %v", out, err)
		}
		compare("after a withdrawal")

		// Without marks the state vouches for nobody: everything is
		// derived, with the same branches; an unknown contact is refused.
		if _, err := h.db.W.ExecContext(ctx, `DELETE FROM permission_checks`); err != nil {
			t.Fatal(err)
		}
		compare("without marks")
		if _, err := fromState.Ingest(ctx, h.ws.ID, []track.Incoming{{ContactID: "6b0c8d8e-0000-4000-8000-000000000000", Type: "page_view"}}); err == nil {
			t.Fatal("an unknown contact was accepted")
		}
	})
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}
