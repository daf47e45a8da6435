package campaign

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/mail/smtptest"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

// consentUses reads the consent_uses rows of the workspace: contact ->
// purpose|channel|source and the time.
func (f *fixture) consentUses() map[string]string {
	f.t.Helper()
	rows, err := f.db.R.QueryContext(context.Background(), `SELECT contact_id, purpose, channel, source FROM consent_uses WHERE workspace_id = $1`, f.ws)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var cid, p, ch, src string
		if err := rows.Scan(&cid, &p, &ch, &src); err != nil {
			f.t.Fatal(err)
		}
		out[strings.ToLower(cid)] = p + "|" + ch + "|" + src
	}
	return out
}

// A message sent on a consent records its use (rules §9 log_consent_usage);
// a recipient the engine stopped does not, and the access export shows it.
func TestSendOnConsentRecordsItsUse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		a, b := f.subscriber(1), f.subscriber(2)
		camp := f.create(newsletter())
		f.schedule(camp)
		f.withdraw(b.ID)
		if p := f.run(camp); p.Sent != 1 || p.Skipped != 1 {
			t.Fatalf("pass = %+v", p)
		}
		uses := f.consentUses()
		want := "newsletter|email|campaign:" + camp.ID + ":0"
		if len(uses) != 1 || uses[a.ID] != want {
			t.Fatalf("consent uses = %v, want only %s: %s", uses, a.ID, want)
		}
		x, err := f.svc.Privacy.AccessExport(context.Background(), f.ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.ConsentUses) != 1 || x.ConsentUses[0].Purpose != "newsletter" || x.ConsentUses[0].LastUsedAt.IsZero() {
			t.Fatalf("export consent uses = %+v", x.ConsentUses)
		}
		first := x.ConsentUses[0].LastUsedAt
		// A second campaign moves last_used_at forward, still one row.
		f.clock.advance(time.Minute)
		again := f.create(newsletter())
		f.schedule(again)
		if p := f.run(again); p.Sent != 1 {
			t.Fatalf("second pass = %+v", p)
		}
		x, err = f.svc.Privacy.AccessExport(context.Background(), f.ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.ConsentUses) != 1 || !x.ConsentUses[0].LastUsedAt.After(first) || x.ConsentUses[0].Source != "campaign:"+again.ID+":0" {
			t.Fatalf("after second campaign: %+v (first %v)", x.ConsentUses, first)
		}
		if y, _ := f.svc.Privacy.AccessExport(context.Background(), f.ws, b.ID); len(y.ConsentUses) != 0 {
			t.Fatalf("skipped recipient has consent uses %+v", y.ConsentUses)
		}
	})
}

// customer creates an existing customer without any consent whose address
// came from a sale, with the notice of the right to object given then.
func (f *fixture) customer(email string) contact.Contact {
	f.t.Helper()
	ctx := context.Background()
	c, err := f.svc.Contacts.Create(ctx, f.ws, contact.Input{Email: email, FirstName: "Kundin", Audience: "b2c", Relationship: "customer"})
	if err != nil {
		f.t.Fatal(err)
	}
	when := f.clock.Now().Add(-time.Hour)
	if _, err := f.ledger.Append(ctx, nil, f.ws, c.ID, consent.NewEvent{Kind: consent.KindExistingCustomerFacts, OccurredAt: &when,
		Details: consent.Details{AddressFromSale: true, NoticeAtCollection: true, LastPurchaseAt: when.Format(time.DateOnly)}, Evidence: consent.EvidenceInput{Source: "shop:order"}}, dpo); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// The existing-customer exemption (UWG §7(3)) applies only when the
// campaign declares its facts: then a customer without consent gets the
// message on existing_customer_exemption (not a consent use); after an
// objection not.
func TestExistingCustomerExemptionNeedsTheCampaignFacts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		ctx := context.Background()
		kept, objecting := f.customer("kundin1@example.net"), f.customer("kundin2@example.net")
		in := newsletter()
		in.Purpose = "product_offers"
		if n := f.schedule(f.create(in)); n != 0 {
			t.Fatalf("without the facts the audience is %d, want 0", n)
		}
		in.Facts = Facts{OwnSimilarOffer: true, NoticeInMessage: true}
		camp := f.create(in)
		if got, _ := f.svc.Get(ctx, f.ws, camp.ID); got.Facts != in.Facts {
			t.Fatalf("stored facts = %+v", got.Facts)
		}
		if n := f.schedule(camp); n != 2 {
			t.Fatalf("with the facts the audience is %d, want 2", n)
		}
		now := f.clock.Now()
		if _, err := f.ledger.Append(ctx, nil, f.ws, objecting.ID, consent.NewEvent{Kind: consent.KindObjection, Channels: []string{"any"}, OccurredAt: &now,
			Details: consent.Details{ObjectionType: "direct_marketing"}, Evidence: consent.EvidenceInput{Source: "preference_center"}}, consent.Actor{}); err != nil {
			t.Fatal(err)
		}
		f.clock.advance(time.Second)
		if p := f.run(camp); p.Sent != 1 || p.Skipped != 1 {
			t.Fatalf("pass = %+v, want 1 sent, 1 skipped", p)
		}
		msgs := f.smtp.WaitFor(t, 1, 5*time.Second)
		if len(msgs) != 1 || msgs[0].To[0] != kept.Email {
			t.Fatalf("messages = %d", len(msgs))
		}
		// The footer carries the notice the exemption relies on.
		// (Quoted-printable: soft line breaks removed.)
		if body := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(msgs[0].Data)); !strings.Contains(body, "jederzeit widersprechen") {
			t.Fatalf("message without the objection notice:\n%s", body)
		}
		if r := f.report(camp); r.SkippedBy["marketing_objection"] != 1 {
			t.Fatalf("report = %+v", r)
		}
		// The engine's basis for the message sent is the exemption.
		ds, err := f.svc.Engine.DecideContacts(ctx, f.ws, []string{kept.ID}, "product_offers", "email", camp.engine())
		if err != nil || !ds[kept.ID].Allowed || string(ds[kept.ID].Reasons[0]) != "existing_customer_exemption" {
			t.Fatalf("decision = %+v, %v", ds[kept.ID], err)
		}
		if uses := f.consentUses(); len(uses) != 0 {
			t.Fatalf("a send on the exemption is not a consent use: %v", uses)
		}
	})
}

// The facts are refused for a purpose that is not advertising, naming the
// field; nothing is saved.
func TestCampaignFactsNeedADirectMarketingPurpose(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, smtptest.Options{})
		in := newsletter()
		in.Purpose = TrackingPurpose
		in.Facts = Facts{NoticeInMessage: true}
		_, err := f.svc.Create(context.Background(), f.ws, in)
		var ve *validate.Error
		if !errors.As(err, &ve) || ve.Field != "notice_in_message" || !strings.Contains(ve.Error(), "direct_marketing") {
			t.Fatalf("err = %v, want notice_in_message refused", err)
		}
		if cs, _ := f.svc.List(context.Background(), f.ws); len(cs) != 0 {
			t.Fatalf("saved %d campaigns", len(cs))
		}
	})
}
