package consent

import (
	"context"
	"testing"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// HookBeforeAppend leaves the re-derivation to the appends that follow,
// but still records a change of a decision-relevant field; the state at
// the commit is the one the record and all events give.
func TestHookBeforeAppend(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		c := f.contact(contact.Input{FirstName: "Ada", Email: "ada@example.com", Phone: "+49 151 1111111"})
		kinds := func() []string {
			evs, err := f.ledger.Events(ctx, f.ws, c.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				out = append(out, e.Kind)
			}
			return out
		}
		for _, step := range []struct {
			up   contact.Update
			want int // record_changed events added
		}{
			{contact.Update{FirstName: new("Ada L.")}, 0},
			{contact.Update{Phone: new("+49 151 2222222"), Audience: new("b2b")}, 1},
		} {
			before := len(kinds())
			err := db.Tx(ctx, func(tx store.Tx) error {
				cs := f.contacts.WithTx(tx)
				cs.OnChange(f.ledger.HookBeforeAppend())
				if _, err := cs.Update(ctx, f.ws, c.ID, step.up); err != nil {
					return err
				}
				_, err := f.ledger.Append(ctx, tx, f.ws, c.ID, NewEvent{Kind: KindConsentRequested, Purpose: "newsletter", Channels: []string{"email"},
					Details: Details{Verification: "email_doi", CollectedBy: "self"}, Evidence: f.evidence()}, Actor{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			ks := kinds()[before:]
			changed := 0
			for _, k := range ks {
				if k == KindRecordChanged {
					changed++
				}
			}
			if changed != step.want || ks[len(ks)-1] != KindConsentRequested {
				t.Fatalf("%+v: events %v, want %d record_changed before the consent", step.up, ks, step.want)
			}
			// The stored state is what a refresh from scratch writes.
			var mark, again [2]any
			read := func(dst *[2]any) {
				if err := db.R.QueryRowContext(ctx, `SELECT granted, profile FROM permission_checks WHERE contact_id = $1`, f.ledger.contactKey(c.ID)).Scan(&dst[0], &dst[1]); err != nil {
					t.Fatal(err)
				}
			}
			read(&mark)
			if err := db.Tx(ctx, func(tx store.Tx) error { return f.ledger.Refresh(ctx, tx, f.ws, c.ID) }); err != nil {
				t.Fatal(err)
			}
			read(&again)
			if mark != again {
				t.Fatalf("%+v: state %v after the submission, %v derived again", step.up, mark, again)
			}
		}
	})
}
