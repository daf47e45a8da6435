package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func TestTxCachedReusesStatementsAndKeepsTransactions(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		insert := `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`
		count := func() int {
			var n int
			if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'cached-%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for i := 0; i < 5; i++ {
			err := db.TxCached(ctx, func(q store.Querier) error {
				if _, err := q.ExecContext(ctx, insert, id.New(), fmt.Sprintf("cached-%d", i), "Cached", now); err != nil {
					return err
				}
				var n int
				return q.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'cached-%'`).Scan(&n)
			})
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		if got := count(); got != 5 {
			t.Fatalf("%d rows after 5 transactions, want 5", got)
		}
		// A failing transaction through cached statements writes nothing.
		boom := errors.New("boom")
		err := db.TxCached(ctx, func(q store.Querier) error {
			if _, err := q.ExecContext(ctx, insert, id.New(), "cached-x", "Cached", now); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || count() != 5 {
			t.Fatalf("rolled back transaction: err %v, %d rows (want 5)", err, count())
		}
		// A constraint error through a cached statement is the usual one.
		err = db.TxCached(ctx, func(q store.Querier) error {
			_, err := q.ExecContext(ctx, insert, id.New(), "cached-0", "Cached", now)
			return store.MapError(err)
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate slug: %v, want ErrConflict", err)
		}
		rows := 0
		err = db.TxCached(ctx, func(q store.Querier) error {
			rs, err := q.QueryContext(ctx, `SELECT slug FROM workspaces WHERE slug LIKE $1 ORDER BY slug`, "cached-%")
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				rows++
			}
			return rs.Err()
		})
		if err != nil || rows != 5 {
			t.Fatalf("query through the cache: %d rows, %v", rows, err)
		}
		if db.Dialect == store.SQLite && store.CachedStmts(db) < 2 {
			t.Fatalf("%d statements cached on SQLite, want the insert and the count", store.CachedStmts(db))
		}
	})
}

// TestStmtCacheSharesTheWriteConnectionsStatements: a bulk writer's
// per-transaction cache (db.StmtCache) prepares a text on SQLite's write
// connection once, after the second transaction that runs it (a text run
// once, like the short last part of a multi-row INSERT, is not kept), and
// later transactions run it from there; rows, rollbacks and errors stay
// those of each transaction.
// insertWorkspace writes a workspace row through q with an INSERT whose
// text carries tag, so that each test's statement is a text of its own in
// the caches it counts.
func insertWorkspace(ctx context.Context, q store.Querier, tag, slug string) error {
	_, err := q.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4) /* `+tag+` */`,
		id.New(), slug, tag, time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	return err
}

func TestStmtCacheSharesTheWriteConnectionsStatements(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		run := func(slug string, fail bool) error {
			return db.Tx(ctx, func(tx store.Tx) error {
				q := db.StmtCache(tx)
				defer q.Close()
				if err := insertWorkspace(ctx, q, "shared", slug); err != nil {
					return store.MapError(err)
				}
				if fail {
					return errors.New("boom")
				}
				return nil
			})
		}
		before := store.CachedStmts(db)
		if err := run("shared-0", false); err != nil {
			t.Fatal(err)
		}
		if got := store.CachedStmts(db); got != before {
			t.Fatalf("write connection's cache: %d statements after the first transaction, %d before; want none added for a text run once", got, before)
		}
		if err := run("shared-1", false); err != nil {
			t.Fatal(err)
		}
		after := store.CachedStmts(db)
		if db.Dialect == store.SQLite && after != before+1 {
			t.Fatalf("write connection's cache: %d statements after the second transaction, %d before; want one more", after, before)
		}
		if err := run("shared-2", true); err == nil {
			t.Fatal("a failing transaction succeeded")
		}
		if err := run("shared-0", false); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate slug through the shared statement: %v, want ErrConflict", err)
		}
		if got := store.CachedStmts(db); got != after {
			t.Fatalf("%d statements cached after more transactions of the same text, want %d", got, after)
		}
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'shared-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("%d rows, want the 2 of the committed transactions", n)
		}
	})
}

// TestTxReleasesTheWriterWhenItsFunctionPanics: a panic inside DB.Tx
// rolls back before anything else wants the one write connection (the
// statements its caches asked for are prepared on it afterwards), so the
// next transaction runs instead of waiting for it for ever.
func TestTxReleasesTheWriterWhenItsFunctionPanics(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			_ = db.TxCached(ctx, func(q store.Querier) error {
				if err := insertWorkspace(ctx, q, "panics", "panics-0"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		select {
		case p := <-panicked:
			if p == nil {
				t.Fatal("no panic")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the panic has not left DB.Tx 10 s later: it waits for the write connection it holds")
		}
		done := make(chan error, 1)
		go func() {
			done <- db.Tx(ctx, func(tx store.Tx) error { return insertWorkspace(ctx, tx, "panics", "panics-1") })
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the next transaction still waits for the write connection 10 s after the panic")
		}
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'panics-%'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d rows (%v), want only the second transaction's", n, err)
		}
	})
}

// TestQueryReadPreparesOnce: a repeated read text is prepared once on
// SQLite's read pool and answers with the rows of the moment.
func TestQueryReadPreparesOnce(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		count := func() int {
			rows, err := db.QueryRead(ctx, `SELECT count(*) FROM workspaces WHERE slug LIKE $1`, "read-%")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var n int
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
			}
			return n
		}
		before := store.ReadStmts(db)
		for i := range 3 {
			if got := count(); got != i {
				t.Fatalf("read %d: %d rows, want %d", i, got, i)
			}
			if _, err := db.W.ExecContext(ctx, `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, 'R', $3)`, id.New(), fmt.Sprintf("read-%d", i), time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		want := before + 1
		if db.Dialect != store.SQLite {
			want = 0 // pgx keeps its own statement cache per connection
		}
		if got := store.ReadStmts(db); got != want {
			t.Errorf("%d statements prepared on the read pool, want %d", got, want)
		}
	})
}
