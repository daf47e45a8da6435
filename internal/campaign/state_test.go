package campaign

import (
	"context"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// event appends one event to a contact's ledger, dated at.
func (f *fixture) event(cid string, at time.Time, ev consent.NewEvent) {
	f.t.Helper()
	ev.OccurredAt = &at
	if ev.Evidence.Source == "" {
		ev.Evidence.Source = "test"
	}
	if _, err := f.ledger.Append(context.Background(), nil, f.ws, cid, ev, dpo); err != nil {
		f.t.Fatalf("%s: %v", ev.Kind, err)
	}
}

// consentFor records a confirmed consent of purpose on e-mail by double
// opt-in, dated at.
func (f *fixture) consentFor(cid, purpose string, at time.Time) {
	f.t.Helper()
	f.event(cid, at, consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: purpose, Channels: []string{"email"}, Details: consent.Details{Verification: "email_doi"},
		Evidence: consent.EvidenceInput{Source: "form:newsletter", NoticeHash: f.notice.Hash, TextShown: f.notice.Body}})
	f.event(cid, at, consent.NewEvent{Kind: consent.KindConsentConfirmed, Purpose: purpose, Channels: []string{"email"}, Details: consent.Details{Verification: "email_doi"},
		Evidence: consent.EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}})
}

// Deciding a chunk from the stored permission state gives every recipient
// the verdict the engine gives on facts derived from the ledger: allowed or
// not, the reason code of a denial and whether a consent is used, for a
// campaign without and one with the existing-customer facts, over varied
// histories; and the tracking answer likewise. Most granted recipients are
// answered by the state, not by the ledger.
func TestStoredStateDecidesAsTheLedger(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		now := f.clock.Now()
		past := now.Add(-time.Hour)
		mk := func(name string, in contact.Input) string {
			if in.Email == "" {
				in.Email = name + "@example.net"
			}
			if in.Audience == "" {
				in.Audience = "b2c"
			}
			if in.Relationship == "" {
				in.Relationship = "prospect"
			}
			in.FirstName = name
			c, err := f.svc.Contacts.Create(ctx, f.ws, in)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return c.ID
		}
		names := map[string]string{}
		add := func(name string, cid string) string { names[cid] = name; return cid }
		both := func(name string) string {
			cid := add(name, mk(name, contact.Input{}))
			f.consentFor(cid, "newsletter", past)
			f.consentFor(cid, "product_offers", past)
			return cid
		}

		both("subscribed")
		tracked := both("subscribed_tracked")
		f.consentFor(tracked, TrackingPurpose, past)

		w := both("withdrawn")
		for _, p := range []string{"newsletter", "product_offers"} {
			f.event(w, now.Add(-time.Minute), consent.NewEvent{Kind: consent.KindConsentWithdrawn, Purpose: p, Channels: []string{"email"}})
		}
		o := both("objection_any")
		f.event(o, now.Add(-time.Minute), consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"any"}, Details: consent.Details{ObjectionType: "direct_marketing"}})
		os := both("objection_sms_only")
		f.event(os, now.Add(-time.Minute), consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"sms"}, Details: consent.Details{ObjectionType: "direct_marketing"}})

		for _, d := range []struct {
			name string
			at   time.Time
		}{{"pending", past}, {"expired_doi", now.AddDate(0, 0, -40)}} {
			cid := add(d.name, mk(d.name, contact.Input{}))
			for _, p := range []string{"newsletter", "product_offers"} {
				f.event(cid, d.at, consent.NewEvent{Kind: consent.KindConsentRequested, Purpose: p, Channels: []string{"email"}, Details: consent.Details{Verification: "email_doi"},
					Evidence: consent.EvidenceInput{Source: "form:newsletter", NoticeHash: f.notice.Hash, TextShown: f.notice.Body}})
			}
		}

		add("customer", f.customer("customer@example.net").ID)
		cobj := add("customer_objection", f.customer("customer_objection@example.net").ID)
		f.event(cobj, now.Add(-time.Minute), consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"email"}, Details: consent.Details{ObjectionType: "direct_marketing"}})
		csub := add("customer_subscribed", f.customer("customer_subscribed@example.net").ID)
		f.consentFor(csub, "newsletter", past)
		f.consentFor(csub, "product_offers", past)

		sup := add("supplier", mk("supplier", contact.Input{Audience: "b2b", Relationship: "supplier"}))
		f.event(sup, past, consent.NewEvent{Kind: consent.KindRelationshipStarted, Details: consent.Details{Relationship: "supplier"}})
		supc := add("supplier_subscribed", mk("supplier_subscribed", contact.Input{Audience: "b2b", Relationship: "supplier"}))
		f.consentFor(supc, "newsletter", past)
		f.consentFor(supc, "product_offers", past)

		third := add("third_party", mk("third_party", contact.Input{DataSource: "third_party"}))
		f.consentFor(third, "newsletter", past)
		f.consentFor(third, "product_offers", past)

		moved := both("address_changed")
		other := "moved@example.net"
		if _, err := f.svc.Contacts.Update(ctx, f.ws, moved, contact.Update{Email: &other}); err != nil {
			t.Fatal(err)
		}
		restricted := both("restricted")
		f.event(restricted, now.Add(-time.Minute), consent.NewEvent{Kind: consent.KindRestrictionStarted, Details: consent.Details{Ground: "accuracy_contested"}})
		// A consent dated ahead of now: once it starts to count, the state
		// has the contact due for a recheck (below).
		ahead := add("dated_ahead", mk("dated_ahead", contact.Input{}))
		f.consentFor(ahead, "newsletter", now.Add(time.Minute))
		f.consentFor(ahead, "product_offers", now.Add(time.Minute))

		gone := add("not_a_contact", id.New())

		ids := make([]string, 0, len(names))
		for cid := range names {
			ids = append(ids, cid)
		}
		pts, err := f.svc.Contacts.PointsFor(ctx, f.ws, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []Input{
			newsletter(),
			{Name: "Angebote", Purpose: "product_offers", RatePerSecond: 1000, Steps: newsletter().Steps, Facts: Facts{OwnSimilarOffer: true, NoticeInMessage: true}},
		} {
			c := f.create(in)
			r := &run{s: f.svc, ws: f.ws, c: c, fromState: true}
			got, grants, err := r.decide(ctx, ids, pts)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := f.svc.Engine.DecideContacts(ctx, f.ws, ids, c.Purpose, "email", c.engine())
			if err != nil {
				t.Fatal(err)
			}
			fromState := 0
			for _, cid := range ids {
				want, ok := ds[cid]
				v, gotOK := got[cid]
				if ok != gotOK || (ok && v != verdictOf(want)) {
					t.Errorf("%s %s: stored path %+v (present %v), ledger %+v (present %v)", c.Purpose, names[cid], v, gotOK, verdictOf(want), ok)
				}
				if g, ok := grants[cid]; ok && g.Has(0) {
					fromState++
				}
			}
			// subscribed, subscribed_tracked, objection_sms_only,
			// customer_subscribed, supplier_subscribed, third_party.
			if fromState != 6 {
				t.Errorf("%s: %d recipients answered by the stored state, want 6", c.Purpose, fromState)
			}
			if _, ok := got[gone]; ok {
				t.Errorf("a contact that does not exist got a verdict")
			}
			tr, err := r.tracking(ctx, ids, grants)
			if err != nil {
				t.Fatal(err)
			}
			tds, err := f.svc.Engine.DecideContacts(ctx, f.ws, ids, TrackingPurpose, "email", c.engine())
			if err != nil {
				t.Fatal(err)
			}
			for _, cid := range ids {
				if tr[cid] != tds[cid].Allowed {
					t.Errorf("tracking of %s: stored path %v, ledger %v", names[cid], tr[cid], tds[cid].Allowed)
				}
			}
			if !tr[tracked] {
				t.Errorf("tracking consent not seen")
			}
		}
		// Due for a recheck: decided live, and the consent now counts.
		f.clock.advance(2 * time.Minute)
		c := f.create(newsletter())
		r := &run{s: f.svc, ws: f.ws, c: c, fromState: true}
		got, grants, err := r.decide(ctx, []string{ahead}, pts)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := grants[ahead]; ok || !got[ahead].allowed {
			t.Fatalf("due for a recheck: grants %v, verdict %+v", grants, got[ahead])
		}
		// A withdrawal committed before the chunk is decided is honoured by it.
		subscribed := ""
		for cid, n := range names {
			if n == "subscribed" {
				subscribed = cid
			}
		}
		f.withdraw(subscribed)
		got, _, err = r.decide(ctx, []string{subscribed}, pts)
		if err != nil {
			t.Fatal(err)
		}
		if v := got[subscribed]; v.allowed || v.reason != "consent_withdrawn" {
			t.Fatalf("after the withdrawal: %+v", v)
		}
	})
}
