package track

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestConcurrentBatchesFailAlone: batches that arrive while the writer is
// busy are committed together; one whose audit entry fails stores
// nothing, and the batches beside it in the same transaction are kept.
func TestConcurrentBatchesFailAlone(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		s := testService(t, db, &now)
		ws := newWorkspace(t, db)

		// Hold the writer so the batches queue behind it.
		release := testdb.HoldWriter(t, db)
		const batches = 10
		refused := errors.New("audit refused")
		errs := make([]error, batches)
		var wg sync.WaitGroup
		for i := range batches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := []Incoming{{Type: "page_view", Name: fmt.Sprintf("/b%d", i)}, {Type: "download", Name: fmt.Sprintf("/b%d", i)}}
				_, errs[i] = s.IngestWith(ctx, ws, in, func(context.Context, store.Querier) error {
					if i%4 == 1 {
						return refused
					}
					return nil
				})
			}()
		}
		time.Sleep(200 * time.Millisecond) // let them queue; the outcome holds either way
		if err := release(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		var want []string
		for i, err := range errs {
			if i%4 == 1 {
				if !errors.Is(err, refused) {
					t.Errorf("batch %d: %v, want its audit error", i, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
			}
			want = append(want, fmt.Sprintf("/b%d", i), fmt.Sprintf("/b%d", i))
		}
		rows, err := db.R.QueryContext(ctx, `SELECT name, count FROM track_counts WHERE workspace_id = $1 ORDER BY name`, ws)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var name string
			var n int
			if err := rows.Scan(&name, &n); err != nil {
				t.Fatal(err)
			}
			for range n {
				got = append(got, name)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("counted %v, want %v", got, want)
		}
	})
}
