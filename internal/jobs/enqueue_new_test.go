package jobs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// EnqueueNew writes the jobs as Enqueue would, with the kind's attempts,
// and refuses a unique key that exists instead of answering with its job:
// nothing of the refused statement is written.
func TestEnqueueNew(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		q := newQueue(t, db, jobs.Options{})
		q.Register("many", func(context.Context, *jobs.Job) error { return nil }, jobs.KindOptions{MaxAttempts: 3})
		var ids []string
		err := db.Tx(ctx, func(tx store.Tx) error {
			var err error
			ids, err = q.EnqueueNew(ctx, tx, []jobs.EnqueueParams{
				{WorkspaceID: ws, Kind: "many", Args: map[string]int{"n": 1}, UniqueKey: "a"},
				{WorkspaceID: ws, Kind: "many", Args: map[string]int{"n": 2}, UniqueKey: "b"},
				{WorkspaceID: ws, Kind: "other"},
			})
			return err
		})
		if err != nil || len(ids) != 3 {
			t.Fatalf("enqueue new: %v, %d IDs", err, len(ids))
		}
		for i, want := range []int{3, 3, jobs.DefaultMaxAttempts} {
			j, err := q.Get(ctx, ws, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateAvailable || j.MaxAttempts != want {
				t.Errorf("job %d: state %s, max attempts %d, want available and %d", i, j.State, j.MaxAttempts, want)
			}
		}
		// The same key again: Enqueue hands back the job, EnqueueNew fails.
		err = db.Tx(ctx, func(tx store.Tx) error {
			got, err := q.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: "many", UniqueKey: "a"})
			if err != nil || got != ids[0] {
				t.Errorf("enqueue of a known key: %q, %v, want %q", got, err, ids[0])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(tx store.Tx) error {
			_, err := q.EnqueueNew(ctx, tx, []jobs.EnqueueParams{{WorkspaceID: ws, Kind: "many", UniqueKey: "c"}, {WorkspaceID: ws, Kind: "many", UniqueKey: "b"}})
			return err
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("enqueue new of a known key: %v, want ErrConflict", err)
		}
		var n int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("%d jobs, want 3", n)
		}
	})
}
