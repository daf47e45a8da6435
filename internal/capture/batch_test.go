package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// Concurrent work shares transactions, yet each piece commits or fails
// alone: a failure after a write, and a constraint violation (which on
// PostgreSQL aborts the whole transaction without a savepoint), undo only
// their own writes.
func TestGroupCommitFailuresStayAlone(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		insert := `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`
		if _, err := db.W.ExecContext(ctx, insert, id.New(), "taken", "Taken", now); err != nil {
			t.Fatal(err)
		}
		var g groupCommit
		const n = 300
		errs := make([]error, n)
		var wg sync.WaitGroup
		boom := errors.New("boom")
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				callerCtx, cancel := context.WithCancel(ctx)
				defer cancel()
				errs[i] = g.do(callerCtx, db, nil, func(ctx context.Context, q store.Querier, _ *consent.Batch) error {
					if i%10 == 5 {
						// The caller goes away while its work runs: the work
						// runs on (a statement interrupted on SQLite would
						// roll back the whole batch).
						cancel()
					}
					slug := fmt.Sprintf("gc-%d", i)
					if i%10 == 3 {
						slug = "taken"
					}
					if _, err := q.ExecContext(ctx, insert, id.New(), slug, "Group", now); err != nil {
						return store.MapError(err)
					}
					var inTx int
					if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'gc-%'`).Scan(&inTx); err != nil {
						return err
					}
					if i%10 == 7 {
						return boom
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		want := 0
		for i, err := range errs {
			switch i % 10 {
			case 3:
				if !errors.Is(err, store.ErrConflict) {
					t.Errorf("work %d: %v, want ErrConflict", i, err)
				}
			case 7:
				if !errors.Is(err, boom) {
					t.Errorf("work %d: %v, want its own error", i, err)
				}
			default:
				want++
				if err != nil {
					t.Errorf("work %d failed with a neighbour: %v", i, err)
				}
			}
		}
		var got int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'gc-%'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%d rows committed, want %d (failed work must leave nothing)", got, want)
		}
		if b := g.batches.Load(); b >= n {
			t.Errorf("%d transactions for %d pieces of work: nothing was grouped", b, n)
		}
		if !g.Idle() {
			t.Errorf("after all work: somebody leads or waits (%d waiting)", g.Waiting())
		}
	})
}

// Work whose caller has gone is not run, and does not hold up the others.
func TestGroupCommitCancelledCaller(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		var g groupCommit
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		err := g.do(ctx, db, nil, func(context.Context, store.Querier, *consent.Batch) error { ran = true; return nil })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("cancelled caller: err %v, ran %v", err, ran)
		}
		if err := g.do(context.Background(), db, nil, func(context.Context, store.Querier, *consent.Batch) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}
