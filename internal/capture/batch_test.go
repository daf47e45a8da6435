package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
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
		insert, now := takeSlug(t, db)
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
				errs[i] = g.do(callerCtx, db, nil, nil, func(ctx context.Context, q store.Querier, _ *batchWrites) error {
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
		checkOutcomes(t, db, "gc-%", errs, boom, func(i int) bool { return i%10 == 3 })
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
		err := g.do(ctx, db, nil, nil, func(context.Context, store.Querier, *batchWrites) error { ran = true; return nil })
		if !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("cancelled caller: err %v, ran %v", err, ran)
		}
		if err := g.do(context.Background(), db, nil, nil, func(context.Context, store.Querier, *batchWrites) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

// Rows collected for the batch's end are written for the pieces that
// succeeded only; a piece that fails after collecting leaves none, and a
// row that fails the batch's INSERT (here a taken slug, as two sign-ups
// of one new address would) sends the pieces one by one, where only its
// own piece fails. The batches of the second half hold no taken slug:
// their collected rows commit.
func TestGroupCommitCollectedRows(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		insert, now := takeSlug(t, db)
		var collected, direct atomic.Int64
		rows := slugRows(db)
		var g groupCommit
		const n = 200
		errs := make([]error, n)
		boom := errors.New("boom")
		// Two waves, the second started when the first is done: batches form
		// in the order the pieces queue, so only then does no batch of the
		// second half hold a taken slug.
		wave := func(lo, hi int) {
			var wg sync.WaitGroup
			var hold sync.Once
			for i := lo; i < hi; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					errs[i] = g.do(ctx, db, nil, rows, func(ctx context.Context, q store.Querier, w *batchWrites) error {
						// The first work waits until the others have queued, so
						// that they form full batches.
						hold.Do(func() {
							for deadline := time.Now().Add(10 * time.Second); g.Waiting() < hi-lo-64 && time.Now().Before(deadline); {
								time.Sleep(time.Millisecond)
							}
						})
						slug := fmt.Sprintf("cr-%d", i)
						if i%10 == 3 && i < n/2 {
							slug = "taken"
						}
						if w.rows == nil {
							direct.Add(1)
							if _, err := q.ExecContext(ctx, insert, id.New(), slug, "Direct", now); err != nil {
								return store.MapError(err)
							}
						} else {
							collected.Add(1)
							w.rows.values = append(w.rows.values, id.New(), slug, "Collected", now)
						}
						if i%10 == 7 {
							return boom
						}
						return nil
					})
				}(i)
			}
			wg.Wait()
		}
		wave(0, n/2)
		wave(n/2, n)
		checkOutcomes(t, db, "cr-%", errs, boom, func(i int) bool { return i%10 == 3 && i < n/2 })
		var fromBatch int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces WHERE slug LIKE 'cr-%' AND name = 'Collected'`).Scan(&fromBatch); err != nil {
			t.Fatal(err)
		}
		if fromBatch == 0 {
			t.Errorf("no collected row was committed (%d pieces collected, %d wrote directly)", collected.Load(), direct.Load())
		}
		if !g.Idle() {
			t.Errorf("after all work: somebody leads or waits (%d waiting)", g.Waiting())
		}
	})
}

// checkOutcomes checks each piece's own result — ErrConflict where
// conflict(i), boom for every tenth from the seventh, nil for the rest —
// and that exactly the successful pieces left a workspace whose slug
// matches like.
func checkOutcomes(t *testing.T, db *store.DB, like string, errs []error, boom error, conflict func(i int) bool) {
	t.Helper()
	want := 0
	for i, err := range errs {
		switch {
		case conflict(i):
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("work %d: %v, want ErrConflict", i, err)
			}
		case i%10 == 7:
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
	if err := db.R.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM workspaces WHERE slug LIKE $1`, like).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%d rows committed, want %d (failed work must leave nothing)", got, want)
	}
}

// wsInsert writes a workspace: the row the group commit tests write as
// their pieces' work.
const wsInsert = `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`

// takeSlug commits a workspace with the slug "taken", which a piece then
// conflicts with, and returns the insert and the time the pieces use.
func takeSlug(t *testing.T, db *store.DB) (string, time.Time) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := db.W.ExecContext(context.Background(), wsInsert, id.New(), "taken", "Taken", now); err != nil {
		t.Fatal(err)
	}
	return wsInsert, now
}

// queueInOrder starts each piece of work once the one before it has
// queued behind a leader that waits until all have, so that they form one
// batch in this order; it returns when all are done.
func queueInOrder(t *testing.T, g *groupCommit, db *store.DB, work ...func()) {
	t.Helper()
	release := make(chan struct{})
	lead := make(chan error, 1)
	go func() {
		lead <- g.do(context.Background(), db, nil, nil, func(context.Context, store.Querier, *batchWrites) error {
			<-release
			return nil
		})
	}()
	for g.Idle() {
		time.Sleep(100 * time.Microsecond)
	}
	var wg sync.WaitGroup
	for i, w := range work {
		wg.Add(1)
		go func() { defer wg.Done(); w() }()
		for deadline := time.Now().Add(10 * time.Second); g.Waiting() < i+1; {
			if time.Now().After(deadline) {
				t.Errorf("piece %d did not queue", i)
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	close(release)
	if err := <-lead; err != nil {
		t.Error(err)
	}
	wg.Wait()
}

// Two pieces of one batch that claim the same key (two sign-ups of one
// new address) cannot both insert their rows: only the second is held
// back, the rest of the batch commits in its shared transaction with each
// piece run once, and the second is told the key is taken.
func TestGroupCommitHoldsBackRepeatedKey(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rows := slugRows(db)
		now := time.Now().UTC()
		var g groupCommit
		slugs := []string{"hb-a", "hb-b", "hb-a", "hb-c", "hb-d"}
		errs := make([]error, len(slugs))
		runs := make([]atomic.Int64, len(slugs))
		var work []func()
		for i, slug := range slugs {
			work = append(work, func() {
				errs[i] = g.doIn(ctx, db, nil, rows, "", slug, func(ctx context.Context, q store.Querier, w *batchWrites) error {
					runs[i].Add(1)
					return slugPiece(ctx, q, w, slug, now)
				})
			})
		}
		queueInOrder(t, &g, db, work...)
		for i, err := range errs {
			switch {
			case i == 2:
				if !errors.Is(err, errRaced) || runs[i].Load() != 0 {
					t.Errorf("the repeated key: %v after %d runs, want errRaced without a run", err, runs[i].Load())
				}
			case err != nil || runs[i].Load() != 1:
				t.Errorf("piece %d (%s): %v after %d runs, want nil after one", i, slugs[i], err, runs[i].Load())
			}
		}
		got := slugNames(t, db, "hb-%")
		want := []string{"hb-a Collected", "hb-b Collected", "hb-c Collected", "hb-d Collected"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("committed %v, want %v: the batch's rows in its own INSERT", got, want)
		}
	})
}

// A held-back piece whose key's first piece failed runs after the batch,
// alone, and commits.
func TestGroupCommitHeldBackRunsWhenFirstFails(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		rows := slugRows(db)
		now := time.Now().UTC()
		var g groupCommit
		boom := errors.New("boom")
		errs := make([]error, 3)
		var work []func()
		for i, slug := range []string{"hf-a", "hf-b", "hf-a"} {
			work = append(work, func() {
				errs[i] = g.doIn(ctx, db, nil, rows, "", slug, func(ctx context.Context, q store.Querier, w *batchWrites) error {
					if i == 0 {
						return boom
					}
					return slugPiece(ctx, q, w, slug, now)
				})
			})
		}
		queueInOrder(t, &g, db, work...)
		if !errors.Is(errs[0], boom) || errs[1] != nil || errs[2] != nil {
			t.Fatalf("outcomes %v, want boom, nil, nil", errs)
		}
		got := slugNames(t, db, "hf-%")
		if want := []string{"hf-a Alone", "hf-b Collected"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("committed %v, want %v", got, want)
		}
	})
}

// slugNames are the committed workspaces whose slug matches like, as
// "slug name", by slug.
// slugRows writes the batch's collected pieces as workspaces, one row of
// (id, slug, name, created_at) each.
func slugRows(db *store.DB) func(context.Context, store.Querier, *newRows) error {
	return func(ctx context.Context, q store.Querier, r *newRows) error {
		return insertMany(ctx, q, db.Dialect, `INSERT INTO workspaces (id, slug, name, created_at) VALUES `, 4, r.values)
	}
}

// slugPiece is the work of a piece keyed by its workspace slug: the row
// collected for the batch's INSERT, or inserted alone ("Alone") when the
// piece runs outside a batch.
func slugPiece(ctx context.Context, q store.Querier, w *batchWrites, slug string, now time.Time) error {
	if w.rows == nil {
		_, err := q.ExecContext(ctx, wsInsert, id.New(), slug, "Alone", now)
		return store.MapError(err)
	}
	w.rows.values = append(w.rows.values, id.New(), slug, "Collected", now)
	return nil
}

func slugNames(t *testing.T, db *store.DB, like string) []string {
	t.Helper()
	rows, err := db.R.QueryContext(context.Background(), `SELECT slug, name FROM workspaces WHERE slug LIKE $1 ORDER BY slug`, like)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var slug, name string
		if err := rows.Scan(&slug, &name); err != nil {
			t.Fatal(err)
		}
		out = append(out, slug+" "+name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Two processes' batches whose pieces append in two workspaces in
// opposite orders: each piece locks its workspace's chain head as it
// runs, as an append does. Unless a batch takes all its heads first, in
// one order, the first batch holds A and waits for B while the second
// holds B and waits for A, and PostgreSQL fails one of them as a
// deadlock. (On SQLite the one write connection serializes the batches.)
func TestGroupCommitLocksHeadsInOrder(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, store.Postgres)
	ctx := context.Background()
	keys, err := keyring.New(db, []byte(strings.Repeat("k", keyring.KeySize)), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := consent.NewLedger(db, contact.NewStore(db, keys, nil), consent.NewPurposes(db, nil), consent.NewNotices(db, nil), nil)
	now := time.Now().UTC()
	wss := []string{id.New(), id.New()}
	slices.Sort(wss)
	for i, ws := range wss {
		if _, err := db.W.ExecContext(ctx, wsInsert, ws, fmt.Sprintf("lh-%d", i), "Heads", now); err != nil {
			t.Fatal(err)
		}
		if _, err := db.W.ExecContext(ctx, `INSERT INTO ledger_heads (workspace_id, seq, hash, updated_at) VALUES ($1, 0, $2, $3)`, ws, []byte{0}, now); err != nil {
			t.Fatal(err)
		}
	}
	a, b := wss[0], wss[1]
	lockHead := func(ctx context.Context, q store.Querier, ws string) error {
		var seq int64
		return q.QueryRowContext(ctx, `SELECT seq FROM ledger_heads WHERE workspace_id = $1 FOR UPDATE`, ws).Scan(&seq)
	}
	aTaken, bTaken := make(chan struct{}), make(chan struct{})
	var runs atomic.Int64
	var mu sync.Mutex
	var errs []error
	piece := func(g *groupCommit, ws string, before, after func()) func() {
		return func() {
			err := g.doIn(ctx, db, l, nil, ws, "", func(ctx context.Context, q store.Querier, _ *batchWrites) error {
				runs.Add(1)
				before()
				if err := lockHead(ctx, q, ws); err != nil {
					return err
				}
				after()
				return nil
			})
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	nothing := func() {}
	var g1, g2 groupCommit
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		queueInOrder(t, &g1, db,
			piece(&g1, a, nothing, func() {
				close(aTaken)
				// Wait for the other batch to take B (unless this batch
				// holds both heads).
				select {
				case <-bTaken:
				case <-time.After(500 * time.Millisecond):
				}
			}),
			piece(&g1, b, nothing, nothing))
	}()
	go func() {
		defer wg.Done()
		queueInOrder(t, &g2, db,
			piece(&g2, b, func() {
				// Wait for the first batch to take A (unless this batch
				// holds both heads already).
				select {
				case <-aTaken:
				case <-time.After(500 * time.Millisecond):
				}
			}, func() { close(bTaken) }),
			piece(&g2, a, nothing, nothing))
	}()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("a piece failed: %v", err)
		}
	}
	if n := runs.Load(); n != 4 {
		t.Errorf("%d runs of 4 pieces: a batch was run again piece by piece", n)
	}
}
