package consent

import (
	"context"
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
		evs := []NewEvent{{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"),
			Details: Details{Verification: "email_doi"}, Evidence: f.evidence()}}
		l.Warm(ctx, f.ws, evs)

		// The workspace has the built-in catalogue only.
		want := 0
		for _, p := range DefaultCatalog() {
			want += len(p.Channels)
		}
		if s, sp := count(); s != want || sp != 1 {
			t.Fatalf("after Warm: %d committed slots and %d spaces, want %d (every purpose × channel of the catalogue) and 1", s, sp, want)
		}

		prep, err := f.contacts.Prepare(f.ws, contact.Input{Email: "first@example.com", Audience: "b2c", Relationship: "prospect"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pn, err := l.PrepareNew(ctx, f.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{})
		if err != nil || pn == nil {
			t.Fatalf("the first sign-up was not prepared before the transaction: %v, %v", pn, err)
		}
		// It is appended as any other, and Warm again makes nothing new.
		err = db.TxCached(ctx, func(q store.Querier) error {
			if err := f.contacts.WithTx(q).InsertPrepared(ctx, []contact.Prepared{prep}); err != nil {
				return err
			}
			b := l.NewBatch()
			if err := b.AppendPrepared(ctx, q, pn, f.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{}); err != nil {
				return err
			}
			return b.Flush(ctx, q)
		})
		if err != nil {
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
