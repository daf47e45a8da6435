package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

// TestTxGroupedCommitsTogetherAndFailsAlone holds the writer with one
// call while others queue, so the queued ones go out as one transaction;
// among them one fails by its own error after writing and one on a
// unique constraint (on PostgreSQL that aborts the transaction until the
// savepoint is rolled back). Exactly the others' rows must be there.
func TestTxGroupedCommitsTogetherAndFailsAlone(t *testing.T) {
	t.Parallel()
	// Grouping is SQLite's: on PostgreSQL TxGrouped is TxCached.
	db := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	insert := `INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`
	var mu sync.Mutex
	var sizes []int
	store.OnGroupWritten(db, func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() })

	const queued = 12
	release, started := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.TxGrouped(ctx, func(q store.Querier) error {
			close(started)
			<-release
			_, err := q.ExecContext(ctx, insert, id.New(), "grouped-first", "Grouped", now)
			return err
		})
	}()
	<-started // the first call leads alone
	boom := errors.New("boom")
	errs := make([]error, queued)
	var wg sync.WaitGroup
	for i := range queued {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.TxGrouped(ctx, func(q store.Querier) error {
				slug := fmt.Sprintf("grouped-%d", i)
				if i == 7 {
					slug = "grouped-first" // taken by the first call's row
				}
				if _, err := q.ExecContext(ctx, insert, id.New(), slug, "Grouped", now); err != nil {
					return store.MapError(err)
				}
				if i == 3 {
					return boom
				}
				return nil
			})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.GroupQueued(db) < queued {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", store.GroupQueued(db), queued)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	for i, err := range errs {
		switch i {
		case 3:
			if !errors.Is(err, boom) {
				t.Errorf("call 3: %v, want its own error", err)
			}
		case 7:
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("call 7: %v, want ErrConflict", err)
			}
		default:
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
	}
	mu.Lock()
	got := slices.Clone(sizes)
	mu.Unlock()
	if !slices.Equal(got, []int{1, queued}) {
		t.Errorf("batches written %v, want [1 %d]: the queued calls in one transaction", got, queued)
	}
	rows, err := db.R.QueryContext(ctx, `SELECT slug FROM workspaces WHERE slug LIKE 'grouped-%' ORDER BY slug`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var slugs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, s)
	}
	want := []string{"grouped-0", "grouped-1", "grouped-10", "grouped-11", "grouped-2", "grouped-4", "grouped-5", "grouped-6", "grouped-8", "grouped-9", "grouped-first"}
	if !slices.Equal(slugs, want) {
		t.Errorf("stored %v, want %v", slugs, want)
	}
	// Alone, a call is a plain transaction.
	if err := db.TxGrouped(ctx, func(q store.Querier) error {
		_, err := q.ExecContext(ctx, insert, id.New(), "grouped-alone", "Grouped", now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sizes[len(sizes)-1] != 1 {
		t.Errorf("a call on an idle writer went out in a batch of %d", sizes[len(sizes)-1])
	}
}

// TestTxGroupedCommitFailsAlone: a call whose write breaks a deferred
// constraint fails only at the commit, taking the shared transaction with
// it; each call is then run alone, so only that one fails.
func TestTxGroupedCommitFailsAlone(t *testing.T) {
	t.Parallel()
	// Grouping is SQLite's: on PostgreSQL TxGrouped is TxCached.
	db := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE grouped_parent (id INTEGER PRIMARY KEY)`,
		`CREATE TABLE grouped_child (parent INTEGER REFERENCES grouped_parent (id) DEFERRABLE INITIALLY DEFERRED)`,
	} {
		if _, err := db.W.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	release := testdb.HoldWriter(t, db)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.TxGrouped(ctx, func(q store.Querier) error {
				if i == 2 {
					_, err := q.ExecContext(ctx, `INSERT INTO grouped_child (parent) VALUES (99)`)
					return err
				}
				_, err := q.ExecContext(ctx, `INSERT INTO grouped_parent (id) VALUES ($1)`, i+1)
				return err
			})
		}()
	}
	for store.GroupQueued(db) < 4 {
		time.Sleep(time.Millisecond)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	var n int
	if err := db.R.QueryRowContext(ctx, `SELECT count(*) FROM grouped_parent`).Scan(&n); err != nil || n != 3 {
		t.Errorf("%d parents stored (%v), want the 3 good calls'", n, err)
	}
}
