package jobs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// openNodes opens n independent handles (own pools, as separate processes
// have) on one fresh, migrated database.
func openNodes(t *testing.T, d store.Dialect, n int) []*store.DB {
	t.Helper()
	ctx := context.Background()
	var o store.Options
	switch d {
	case store.SQLite:
		first := testdb.Open(t, store.SQLite)
		o.DataDir = filepath.Dir(first.Path())
		dbs := []*store.DB{first}
		for len(dbs) < n {
			db, err := store.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dbs = append(dbs, db)
		}
		return dbs
	default:
		o.URL = testdb.NewPostgresURL(t)
		o.MaxConns = 4
	}
	var dbs []*store.DB
	for range n {
		db, err := store.Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	return dbs
}

// TestExactlyOnceAcrossNodes runs three nodes on one database and checks
// that every job ran exactly once, with one attempt, and on PostgreSQL that
// the work was shared.
func TestExactlyOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	const nodes, total = 3, 300
	for _, d := range testdb.Backends {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dbs := openNodes(t, d, nodes)
			ws := newWorkspace(t, dbs[0])

			var mu sync.Mutex
			runs := map[string]int{}
			perNode := map[string]int{}
			queues := make([]*jobs.Queue, nodes)
			for i, db := range dbs {
				node := fmt.Sprintf("node-%d", i)
				q := newQueue(t, db, jobs.Options{Node: node, PollInterval: 10 * time.Millisecond})
				q.Register("deliver", func(ctx context.Context, j *jobs.Job) error {
					mu.Lock()
					runs[j.ID]++
					perNode[node]++
					mu.Unlock()
					time.Sleep(time.Millisecond) // a little work, so that nodes overlap
					return nil
				}, jobs.KindOptions{})
				start(t, q)
				queues[i] = q
			}

			var ids []string
			for batch := 0; batch < total/50; batch++ {
				err := dbs[batch%nodes].Tx(ctx, func(tx store.Tx) error {
					for range 50 {
						jobID, err := jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: "deliver"})
						if err != nil {
							return err
						}
						ids = append(ids, jobID)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "all jobs to complete", func() bool {
				counts, err := queues[0].CountByState(ctx)
				if err != nil {
					t.Fatal(err)
				}
				// The in-memory counters move just after the commit, so wait
				// for them too before comparing.
				var done uint64
				for _, q := range queues {
					done += q.Stats().Completed
				}
				return counts["completed"] == total && done >= total
			})

			mu.Lock()
			defer mu.Unlock()
			for _, jobID := range ids {
				if runs[jobID] != 1 {
					t.Errorf("job %s ran %d times", jobID, runs[jobID])
				}
			}
			if len(runs) != total {
				t.Errorf("%d distinct jobs ran, want %d", len(runs), total)
			}
			var attemptRows, completedRows int
			err := dbs[0].R.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE outcome = 'completed')
				FROM job_attempts`).Scan(&attemptRows, &completedRows)
			if err != nil {
				t.Fatal(err)
			}
			if attemptRows != total || completedRows != total {
				t.Errorf("%d attempt rows, %d completed; want %d each", attemptRows, completedRows, total)
			}
			var claimed, completed uint64
			for _, q := range queues {
				st := q.Stats()
				claimed += st.Claimed
				completed += st.Completed
			}
			if claimed != total || completed != total {
				t.Errorf("nodes claimed %d and completed %d, want %d", claimed, completed, total)
			}
			t.Logf("%s: jobs per node %v", d, perNode)
			// The nodes really competed for the jobs (which one wins each
			// claim is up to timing, so demanding work from every node would
			// make the test flaky; contention between at least two suffices).
			if d == store.Postgres && len(perNode) < 2 {
				t.Errorf("only %d node did work: %v", len(perNode), perNode)
			}
		})
	}
}
