package consent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// A contact created with its first events through AppendNew ends up with
// the chain, the evidence and the permission state that Create and one
// Append per event give, and a refused event leaves nothing behind.
func TestAppendNewMatchesAppend(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		events := []NewEvent{
			{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}, Evidence: f.evidence()},
			{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11"), Details: Details{Verification: "email_doi"},
				Evidence: EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link", IPAddress: "203.0.113.10"}},
			{Kind: KindRetentionDutyStarted, OccurredAt: at("2026-01-11"), Details: Details{Basis: "HGB §257", Until: time.Now().AddDate(1, 0, 0).Format(time.DateOnly)}},
		}
		a := f.contact(contact.Input{Email: "a@example.com"})
		for _, ev := range events {
			f.append(a.ID, ev)
		}

		newContact := func(email string, evs []NewEvent) (string, error) {
			prep, err := f.contacts.Prepare(f.ws, contact.Input{Email: email, Audience: "b2c", Relationship: "prospect"}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			f.ledger.Warm(ctx, f.ws, evs)
			err = db.TxCached(ctx, func(q store.Querier) error {
				cs := f.contacts.WithTx(q)
				cs.OnChange(nil)
				if err := cs.InsertPrepared(ctx, []contact.Prepared{prep}); err != nil {
					return err
				}
				_, err := f.ledger.AppendNew(ctx, q, f.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{TokenID: "tok"})
				return err
			})
			return prep.Contact.ID, err
		}
		b, err := newContact("b@example.com", events)
		if err != nil {
			t.Fatal(err)
		}
		empty, err := newContact("c@example.com", nil)
		if err != nil {
			t.Fatal(err)
		}

		purposes, err := f.purposes.List(ctx, f.ws)
		if err != nil {
			t.Fatal(err)
		}
		allowed := func(cid string) map[[2]string]bool {
			out := map[[2]string]bool{}
			for _, p := range purposes {
				for _, ch := range p.Channels {
					_ = f.ledger.AllowedContacts(ctx, f.ws, p.Key, ch, StateFilter{}, func(x string) error {
						if x == cid {
							out[[2]string{p.Key, ch}] = true
						}
						return nil
					})
				}
			}
			return out
		}
		wantA, gotB := allowed(a.ID), allowed(b)
		if !wantA[[2]string{"newsletter", "email"}] || len(wantA) != len(gotB) {
			t.Fatalf("state after Append %v, after AppendNew %v", wantA, gotB)
		}
		for k := range wantA {
			if !gotB[k] {
				t.Errorf("AppendNew's state lacks %v", k)
			}
		}
		f.ledger.slotCache.Clear()
		if err := f.ledger.Refresh(ctx, db.W, f.ws, b); err != nil {
			t.Fatal(err)
		}
		if again := allowed(b); len(again) != len(gotB) {
			t.Errorf("a refresh changed AppendNew's state: %v, then %v", gotB, again)
		}
		plain := f.contact(contact.Input{Email: "d@example.com"})
		if got, want := allowed(empty), allowed(plain.ID); len(got) == 0 || len(got) != len(want) {
			t.Errorf("a new contact without events: grants %v, Create gives %v", got, want)
		}
		stale, err := f.ledger.StaleContacts(ctx, f.ws, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if stale[b] || stale[empty] {
			t.Errorf("contacts from AppendNew have no mark: %v", stale)
		}

		evs, err := f.ledger.Events(ctx, f.ws, b, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || evs[0].Evidence.TextShown != f.consentText.Body || evs[1].Evidence.Personal == nil || evs[1].Evidence.Personal.IPAddress != "203.0.113.10" {
			t.Fatalf("events of the new contact: %+v", evs)
		}
		rep, err := f.ledger.Verify(ctx, f.ws)
		if err != nil || !rep.OK || rep.Events != 6 {
			t.Fatalf("verify: %+v %v", rep, err)
		}

		// A confirmation without a request is refused, and neither the
		// contact nor any event was written.
		bad, err := newContact("e@example.com", events[1:2])
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Code != "invalid_transition" {
			t.Fatalf("confirmation without request: %v", err)
		}
		if _, err := f.contacts.Get(ctx, f.ws, bad); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused contact was written: %v", err)
		}
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK || rep.Events != 6 {
			t.Fatalf("verify after the refusal: %+v %v", rep, err)
		}
	})
}
