package consent

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// countingQuerier records the statements sent through it.
type countingQuerier struct {
	q     store.Querier
	mu    sync.Mutex
	stmts []string
}

func (c *countingQuerier) note(query string) {
	c.mu.Lock()
	c.stmts = append(c.stmts, query)
	c.mu.Unlock()
}

func (c *countingQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c.note(query)
	return c.q.ExecContext(ctx, query, args...)
}

func (c *countingQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.note(query)
	return c.q.QueryContext(ctx, query, args...)
}

func (c *countingQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.note(query)
	return c.q.QueryRowContext(ctx, query, args...)
}

// On PostgreSQL a batch's flush holds the chain head for three statements:
// one takes the head and the slots' locks and carries the new contacts'
// rows the caller held back (store.Combined), one reads the permission
// blocks, and one writes the events, the head's advance, the blocks and
// the marks. What it writes is what the statement-by-statement flush
// writes: a chain that verifies and every contact's permission state.
func TestBatchFlushStatements(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect != store.Postgres {
			t.Skip("the flush combines statements on PostgreSQL only")
		}
		ctx := context.Background()
		f := newFixture(t, db)
		evs := f.signUpEvents()
		f.ledger.Warm(ctx, f.ws, evs)
		type signUp struct {
			prep contact.Prepared
			pn   *PreparedNew
		}
		// flush writes the sign-ups of emails in one batch, the contacts
		// held back for the flush to carry, and returns its statements.
		flush := func(emails ...string) []string {
			t.Helper()
			var ups []signUp
			for _, e := range emails {
				prep, pn := f.prepareSignUp(e, evs)
				ups = append(ups, signUp{prep, pn})
			}
			counted := &countingQuerier{}
			err := db.TxCached(ctx, func(q store.Querier) error {
				counted.q = q
				held := store.Combine(counted)
				preps := make([]contact.Prepared, len(ups))
				for i, u := range ups {
					preps[i] = u.prep
				}
				cs := f.contacts.WithTx(held)
				// The batch writes the new contacts' first permission states.
				cs.OnChange(nil)
				if err := cs.InsertPrepared(ctx, preps); err != nil {
					return err
				}
				b := f.ledger.NewBatch()
				b.DeferCatalogCheck()
				for _, u := range ups {
					if err := b.AppendPrepared(ctx, held, u.pn, f.ws, NewContact{Points: u.prep.Points(), Sealer: u.prep.Key.Sealer}, evs, Actor{}); err != nil {
						return err
					}
				}
				if err := b.Flush(ctx, held); err != nil {
					return err
				}
				return held.Flush(ctx)
			})
			if err != nil {
				t.Fatal(err)
			}
			return counted.stmts
		}
		// The workspace's first events: its chain head is made in between.
		flush("first@example.com")
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK || rep.Events != 1 {
			t.Fatalf("verify after the first: %+v, %v", rep, err)
		}
		emails := []string{"a@example.com", "b@example.com", "c@example.com"}
		stmts := flush(emails...)
		for i, s := range stmts {
			t.Logf("%d: %.120s", i+1, s)
		}
		if len(stmts) != 3 {
			t.Fatalf("the flush ran %d statements, want 3", len(stmts))
		}
		if first := stmts[0]; !strings.HasPrefix(first, "WITH w0 AS (INSERT INTO contact_keys") || !strings.Contains(first, "INSERT INTO contacts") || !strings.Contains(first, "FOR UPDATE") || !strings.Contains(first, "pg_advisory_xact_lock") {
			t.Errorf("the first statement does not carry the contacts into the lock of the head and slots: %.200s", first)
		}
		all := len(emails) + 1
		if n := countRows(t, db, `SELECT count(*) FROM contacts WHERE workspace_id = $1`, f.ws); n != all {
			t.Errorf("%d contacts, want %d", n, all)
		}
		rep, err := f.ledger.Verify(ctx, f.ws)
		if err != nil || !rep.OK || rep.Events != int64(all) || rep.HeadSeq != int64(all) {
			t.Fatalf("verify: %+v, %v; want %d events, head at %d, OK", rep, err, all, all)
		}
		// One permission mark per contact.
		if n := countRows(t, db, `SELECT count(*) FROM permission_checks c JOIN permission_spaces s ON s.space = c.space WHERE s.workspace_id = $1`, f.ws); n != all {
			t.Errorf("%d permission marks, want %d", n, all)
		}
		// A later sign-up, flushed statement by statement, extends the
		// chain the combined flush wrote.
		prep, pn := f.prepareSignUp("d@example.com", evs)
		if err := f.writeSignUp(prep, pn, evs, true); err != nil {
			t.Fatal(err)
		}
		if rep, err := f.ledger.Verify(ctx, f.ws); err != nil || !rep.OK || rep.Events != int64(all+1) {
			t.Fatalf("verify after one more: %+v, %v", rep, err)
		}
	})
}
