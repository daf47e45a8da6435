package consent

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// Before the first sign-up of a new workspace, Warm makes its permission
// slots in a transaction of its own and commits them: the writing
// transactions that follow need not make (and lock) any, so two of them —
// on two nodes — cannot each hold a slot the other waits for. With the
// slots committed the first sign-up is prepared outside the writer too.
func TestWarmMakesTheSlotsAhead(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		l := f.ledger
		count := func() (slots, spaces int) {
			t.Helper()
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM permission_slots WHERE workspace_id = $1`, f.ws).Scan(&slots); err != nil {
				t.Fatal(err)
			}
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM permission_spaces WHERE workspace_id = $1`, f.ws).Scan(&spaces); err != nil {
				t.Fatal(err)
			}
			return slots, spaces
		}
		if s, sp := count(); s != 0 || sp != 0 {
			t.Fatalf("a new workspace has %d slots and %d spaces already; the test needs none", s, sp)
		}
		evs := f.signUpEvents()
		l.Warm(ctx, f.ws, evs)

		// The workspace has the built-in catalogue only.
		want := 0
		for _, p := range DefaultCatalog() {
			want += len(p.Channels)
		}
		if s, sp := count(); s != want || sp != 1 {
			t.Fatalf("after Warm: %d committed slots and %d spaces, want %d (every purpose × channel of the catalogue) and 1", s, sp, want)
		}

		prep, pn := f.prepareSignUp("first@example.com", evs)
		// It is appended as any other, and Warm again makes nothing new.
		if err := f.writeSignUp(prep, pn, evs, false); err != nil {
			t.Fatal(err)
		}
		l.Warm(ctx, f.ws, evs)
		if s, sp := count(); s != want || sp != 1 {
			t.Fatalf("after the sign-up: %d slots and %d spaces, want %d and 1", s, sp, want)
		}
		evts, err := l.Events(ctx, f.ws, prep.Contact.ID, false)
		if err != nil || len(evts) != 1 {
			t.Fatalf("the sign-up's events: %d, %v; want 1", len(evts), err)
		}
		if rep, err := l.Verify(ctx, f.ws); err != nil || !rep.OK || rep.Events != 1 {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
	})
}

// A batch that defers the catalogue check (as capture's group commit
// does) trusts the catalogue its appends were prepared with and checks the
// purpose count under the chain head: a purpose added after the
// preparation fails the flush with ErrCatalogueChanged, nothing is
// written, and the append run again in a batch that reads the catalogue
// succeeds with the new purpose in the contact's state.
func TestBatchDeferredCatalogueCheck(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		l := f.ledger
		evs := f.signUpEvents()
		l.Warm(ctx, f.ws, evs)

		// Unchanged catalogue: the deferred check passes.
		p1, pn1 := f.prepareSignUp("one@example.com", evs)
		if err := f.writeSignUp(p1, pn1, evs, true); err != nil {
			t.Fatal(err)
		}

		p2, pn2 := f.prepareSignUp("two@example.com", evs)
		if _, err := f.purposes.Create(ctx, f.ws, webinars); err != nil {
			t.Fatal(err)
		}
		if err := f.writeSignUp(p2, pn2, evs, true); !errors.Is(err, ErrCatalogueChanged) {
			t.Fatalf("flush after a purpose was added: %v, want ErrCatalogueChanged", err)
		}
		if n := countRows(t, db, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, f.ws); n != 1 {
			t.Fatalf("%d contacts after the failed batch, want 1: it wrote something", n)
		}
		if err := f.writeSignUp(p2, pn2, evs, false); err != nil {
			t.Fatalf("the append run again: %v", err)
		}
		if rep, err := l.Verify(ctx, f.ws); err != nil || !rep.OK || rep.Events != 2 {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		// The second contact's state was derived with the new purpose.
		var slots int
		if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM permission_slots WHERE workspace_id = $1 AND purpose_key = $2`, f.ws, "webinar_invites").Scan(&slots); err != nil || slots != 1 {
			t.Fatalf("slots of the new purpose: %d, %v; want 1", slots, err)
		}
	})
}

func countRows(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.R.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A purpose added to a workspace whose catalogue and slots are kept does
// not send its sign-ups into the writer for good: the next Warm keeps the
// larger catalogue and makes the new purpose's slots, and PrepareNew
// prepares before the transaction again, with the new purpose.
func TestWarmAfterAPurposeIsAdded(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		l := f.ledger
		evs := f.signUpEvents()
		l.Warm(ctx, f.ws, evs)
		if _, err := f.purposes.Create(ctx, f.ws, webinars); err != nil {
			t.Fatal(err)
		}
		l.Warm(ctx, f.ws, evs)
		_, pn := f.prepareSignUp("after@example.com", evs)
		if !slices.ContainsFunc(pn.purposes, func(p Purpose) bool { return p.Key == "webinar_invites" }) {
			t.Fatal("prepared with the catalogue from before the new purpose")
		}
		if n := countRows(t, db, `SELECT count(*) FROM permission_slots WHERE workspace_id = $1 AND purpose_key = $2`, f.ws, "webinar_invites"); n != 1 {
			t.Fatalf("%d slots of the new purpose made ahead, want 1", n)
		}
	})
}

var webinars = NewPurpose{Key: "webinar_invites", Kind: "direct_marketing", DescriptionDE: "Webinare", DescriptionEN: "Webinars", Channels: []string{"email"}}

// signUpEvents are a newsletter sign-up's events (a double opt-in request).
func (f *fixture) signUpEvents() []NewEvent {
	return []NewEvent{{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"),
		Details: Details{Verification: "email_doi"}, Evidence: f.evidence()}}
}

// prepareSignUp prepares a new contact and, before any transaction, its
// sign-up's events; it fails the test unless PrepareNew prepares them.
func (f *fixture) prepareSignUp(email string, evs []NewEvent) (contact.Prepared, *PreparedNew) {
	f.t.Helper()
	prep, err := f.contacts.Prepare(f.ws, contact.Input{Email: email, Audience: "b2c", Relationship: "prospect"}, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	pn, err := f.ledger.PrepareNew(context.Background(), f.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{})
	if err != nil || pn == nil {
		f.t.Fatalf("%s: not prepared before the transaction: %v, %v", email, pn, err)
	}
	return prep, pn
}

// writeSignUp inserts the prepared contact and appends its prepared
// events through a batch (deferred: DeferCatalogCheck) in a transaction.
func (f *fixture) writeSignUp(prep contact.Prepared, pn *PreparedNew, evs []NewEvent, deferred bool) error {
	ctx := context.Background()
	return f.db.TxCached(ctx, func(q store.Querier) error {
		if err := f.contacts.WithTx(q).InsertPrepared(ctx, []contact.Prepared{prep}); err != nil {
			return err
		}
		b := f.ledger.NewBatch()
		if deferred {
			b.DeferCatalogCheck()
		}
		if err := b.AppendPrepared(ctx, q, pn, f.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{}); err != nil {
			return err
		}
		return b.Flush(ctx, q)
	})
}
