package consent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// Many new contacts of two workspaces appended in one batch, each in a
// savepoint of its own as a group commit runs them: the chains verify,
// pieces refused by the ledger or failing after their append leave no
// trace, and every written state is what a Refresh derives.
func TestBatchAppendNew(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		g := newFixture(t, db)
		l := f.ledger
		events := func(fx *fixture) []NewEvent {
			return []NewEvent{
				{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-10"), Details: Details{Verification: "email_doi"}, Evidence: fx.evidence()},
				{Kind: KindConsentConfirmed, Purpose: "newsletter", Channels: []string{"email"}, OccurredAt: at("2026-01-11"), Details: Details{Verification: "email_doi"},
					Evidence: EvidenceInput{Source: "form:newsletter", ConfirmationMethod: "email_link"}},
			}
		}
		// A contact of each workspace first, so the batch appends behind
		// an existing chain.
		f.append(f.contact(contact.Input{Email: "first@example.com"}).ID, events(f)[0])
		g.append(g.contact(contact.Input{Email: "first@example.com"}).ID, events(g)[0])
		l.Warm(ctx, f.ws, events(f))
		l.Warm(ctx, g.ws, events(g))

		const n = 40
		// Every third piece is prepared before the transaction (not the
		// refused ones: PrepareNew refuses them itself, see below).
		preps := make([]contact.Prepared, n)
		pre := make([]*PreparedNew, n)
		for i := range n {
			fx := f
			if i%2 == 1 {
				fx = g
			}
			var err error
			if preps[i], err = f.contacts.Prepare(fx.ws, contact.Input{Email: fmt.Sprintf("b%d@example.com", i), Audience: "b2c", Relationship: "prospect"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if i%3 != 0 || i%7 == 3 {
				continue
			}
			if pre[i], err = l.PrepareNew(ctx, fx.ws, NewContact{Points: preps[i].Points(), Sealer: preps[i].Key.Sealer}, events(fx), Actor{}); err != nil || pre[i] == nil {
				t.Fatalf("prepare %d before the transaction: %v, %v", i, pre[i], err)
			}
		}
		if _, err := l.PrepareNew(ctx, f.ws, NewContact{Points: preps[3].Points(), Sealer: preps[3].Key.Sealer}, events(f)[1:], Actor{}); err == nil {
			t.Fatal("PrepareNew took a confirmation without its request")
		}
		boom := errors.New("boom")
		var kept, dropped []string
		keptIn := map[string]int{}
		wsOf := map[string]string{}
		err := db.TxCached(ctx, func(q store.Querier) error {
			b := l.NewBatch()
			for i := range n {
				fx := f
				if i%2 == 1 {
					fx = g
				}
				prep := preps[i]
				evs := events(fx)
				if i%7 == 3 {
					// A confirmation without its request: refused by the
					// ledger's checks.
					evs = evs[1:]
				}
				mark := b.Len()
				err := store.Savepoint(ctx, q, "piece", func() error {
					cs := f.contacts.WithTx(q)
					cs.OnChange(nil)
					if err := cs.InsertPrepared(ctx, []contact.Prepared{prep}); err != nil {
						return err
					}
					if err := b.AppendPrepared(ctx, q, pre[i], fx.ws, NewContact{Points: prep.Points(), Sealer: prep.Key.Sealer}, evs, Actor{}); err != nil {
						return err
					}
					if i%7 == 5 {
						// The piece fails after its append.
						return boom
					}
					return nil
				})
				switch {
				case i%7 == 3:
					var ce *ConflictError
					if !errors.As(err, &ce) || ce.Code != "invalid_transition" {
						t.Errorf("piece %d: %v, want invalid_transition", i, err)
					}
				case i%7 == 5:
					if !errors.Is(err, boom) {
						t.Errorf("piece %d: %v, want its own error", i, err)
					}
				case err != nil:
					return err
				}
				if err != nil {
					b.Truncate(mark)
					dropped = append(dropped, prep.Contact.ID)
					continue
				}
				kept = append(kept, prep.Contact.ID)
				keptIn[fx.ws]++
				wsOf[prep.Contact.ID] = fx.ws
			}
			return b.Flush(ctx, q)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, fx := range []*fixture{f, g} {
			rep, err := l.Verify(ctx, fx.ws)
			if err != nil || !rep.OK || rep.Events != int64(1+2*keptIn[fx.ws]) {
				t.Fatalf("verify: %+v %v (want %d events)", rep, err, 1+2*keptIn[fx.ws])
			}
		}
		for _, cid := range dropped {
			var events int
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM ledger_events WHERE contact_id = $1`, cid).Scan(&events); err != nil {
				t.Fatal(err)
			}
			var contacts int
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM contacts WHERE id = $1`, cid).Scan(&contacts); err != nil {
				t.Fatal(err)
			}
			if contacts != 0 || events != 0 {
				t.Errorf("failed piece %s left a trace: %d contacts, %d events", cid, contacts, events)
			}
		}
		for _, cid := range kept {
			evs, err := l.Events(ctx, wsOf[cid], cid, true)
			if err != nil || len(evs) != 2 || evs[0].Evidence.TextShown == "" || evs[0].Evidence.Personal == nil {
				t.Fatalf("events of %s: %+v %v", cid, evs, err)
			}
		}

		// The stored state is what a refresh of every contact derives: the
		// refresh changes no block and no mark.
		before := permissionRows(t, db)
		if len(before) < len(kept) {
			t.Fatalf("%d permission rows for %d contacts", len(before), len(kept))
		}
		l.slotCache.Clear()
		for i, cid := range kept {
			if err := l.Refresh(ctx, db.W, wsOf[cid], cid); err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
		}
		if after := permissionRows(t, db); !reflect.DeepEqual(before, after) {
			t.Errorf("a refresh changed the batch's state:\nbefore %v\nafter  %v", before, after)
		}
		granted := 0
		for _, fx := range []*fixture{f, g} {
			if err := l.AllowedContacts(ctx, fx.ws, "newsletter", "email", StateFilter{}, func(string) error { granted++; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if granted != len(kept) {
			t.Errorf("%d contacts allowed newsletter e-mails, want the %d kept", granted, len(kept))
		}
	})
}

// permissionRows are the permission blocks and marks as stored.
func permissionRows(t *testing.T, db *store.DB) []string {
	t.Helper()
	return testdb.Rows(t, db, nil,
		`SELECT slot, lo, entries FROM permission_blocks ORDER BY slot, lo`,
		`SELECT space, contact_id, catalog, coalesce(recheck_at, 0), coalesce(granted, ''), profile FROM permission_checks ORDER BY space, contact_id`)
}
