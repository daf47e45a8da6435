package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// A TxChain's transaction that has another waiting commits and begins
// that one's in one go: what it wrote is committed and seen by others at
// once, the next transaction runs on the same PostgreSQL session, a
// failing one leaves nothing and the chain goes on, and Close gives back
// a begun transaction nobody came for.
func TestTxChain(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		prefix := "chain-" + id.New()[24:] + "-"
		insert := func(slug string) func(q store.Querier) error {
			return func(q store.Querier) error {
				_, err := q.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`, id.New(), prefix+slug, "C", now)
				return err
			}
		}
		count := func() int {
			t.Helper()
			var n int
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM workspaces WHERE slug LIKE $1`, prefix+"%").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// pid is the session's process on PostgreSQL (0 on SQLite).
		pid := func(q store.Querier) int {
			t.Helper()
			if db.Dialect != store.Postgres {
				return 0
			}
			var p int
			if err := q.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		inTx := func() int {
			t.Helper()
			if db.Dialect != store.Postgres {
				return 0
			}
			var n int
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		yes := func() bool { return true }
		no := func() bool { return false }

		c := db.NewTxChain()
		var first, second int
		if err := c.Tx(ctx, func(q store.Querier) error {
			first = pid(q)
			return insert("a")(q)
		}, yes); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 1 {
			t.Fatalf("%d rows seen after the first transaction, want 1: not committed", n)
		}
		if db.Dialect == store.Postgres && inTx() != 1 {
			t.Fatalf("%d sessions in a begun transaction, want the chain's 1", inTx())
		}
		if err := c.Tx(ctx, func(q store.Querier) error {
			second = pid(q)
			return insert("b")(q)
		}, yes); err != nil {
			t.Fatal(err)
		}
		if first != second {
			t.Errorf("the next transaction ran in session %d, want the chain's %d", second, first)
		}
		// A failing transaction rolls back its own writes only.
		boom := errors.New("boom")
		err := c.Tx(ctx, func(q store.Querier) error {
			if err := insert("c")(q); err != nil {
				return err
			}
			return boom
		}, yes)
		if !errors.Is(err, boom) {
			t.Fatalf("failing transaction: %v, want its error", err)
		}
		if n := count(); n != 2 {
			t.Fatalf("%d rows after the failed transaction, want 2", n)
		}
		if err := c.Tx(ctx, insert("d"), yes); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if n := inTx(); n != 0 {
			t.Errorf("%d sessions left in a transaction after Close, want 0", n)
		}
		if err := c.Tx(ctx, insert("e"), no); err != nil {
			t.Fatal(err)
		}
		if n, open := count(), inTx(); n != 4 || open != 0 {
			t.Fatalf("%d rows and %d sessions in a transaction at the end, want 4 and 0", n, open)
		}
	})
}
