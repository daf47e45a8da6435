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

func TestRenumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		off  int
		want string
	}{
		{"INSERT INTO t (a, b) VALUES ($1, $2)", 0, "INSERT INTO t (a, b) VALUES ($1, $2)"},
		{"INSERT INTO t (a, b) VALUES ($1,$2),($9,$10) ON CONFLICT DO NOTHING", 7, "INSERT INTO t (a, b) VALUES ($8,$9),($16,$17) ON CONFLICT DO NOTHING"},
		{"SELECT $1 || '$' || $12", 100, "SELECT $101 || '$' || $112"},
	} {
		if got := store.Renumber(c.in, c.off); got != c.want {
			t.Errorf("Renumber(%q, %d) = %q, want %q", c.in, c.off, got, c.want)
		}
	}
}

// INSERTs combined into one statement write what they would have written
// one by one, and a failing one fails the statement that carries it (or
// the flush), so nothing of the run is left.
func TestCombinedInserts(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect != store.Postgres {
			t.Skip("INSERTs are combined on PostgreSQL only")
		}
		ctx := context.Background()
		now := time.Now().UTC()
		ins := `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`
		count := func() int {
			var n int
			if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM workspaces WHERE slug LIKE 'comb-%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		var statements int
		db.SetTrace(func(string) { statements++ })
		defer db.SetTrace(nil)
		err := db.TxCached(ctx, func(q store.Querier) error {
			c := store.Combine(q)
			for _, slug := range []string{"comb-a", "comb-b"} {
				if _, err := c.ExecContext(ctx, ins, id.New(), slug, "C", now); err != nil {
					return err
				}
			}
			var got string
			if err := c.QueryRowContext(ctx, ins+` RETURNING slug`, id.New(), "comb-c", "C", now).Scan(&got); err != nil || got != "comb-c" {
				return errors.Join(err, errors.New("returning: "+got))
			}
			if _, err := c.ExecContext(ctx, ins, id.New(), "comb-d", "C", now); err != nil {
				return err
			}
			return c.Flush(ctx)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 4 || statements != 2 {
			t.Fatalf("%d rows in %d statements, want 4 in 2", n, statements)
		}

		err = db.TxCached(ctx, func(q store.Querier) error {
			c := store.Combine(q)
			if _, err := c.ExecContext(ctx, ins, id.New(), "comb-e", "C", now); err != nil {
				return err
			}
			if _, err := c.ExecContext(ctx, ins, id.New(), "comb-a", "C", now); err != nil {
				return err
			}
			// A read flushes first; its error is kept for the caller.
			var n int
			_ = c.QueryRowContext(ctx, `SELECT count(*) FROM workspaces`).Scan(&n)
			return c.Err()
		})
		if !errors.Is(store.MapError(err), store.ErrConflict) {
			t.Fatalf("a taken slug in a combined run: %v, want a conflict", err)
		}
		if n := count(); n != 4 {
			t.Fatalf("%d rows after the failed run, want the 4 from before", n)
		}
	})
}
