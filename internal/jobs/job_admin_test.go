package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
	"github.com/fairlead/fairlead/internal/validate"
)

// TestWorkspaceScoping proves that a workspace can neither see nor change
// another workspace's jobs.
func TestWorkspaceScoping(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := newWorkspace(t, db), newWorkspace(t, db)
		q := newQueue(t, db, jobs.Options{}) // not started: nothing runs
		later := time.Now().Add(time.Hour)
		waiting := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: a, Kind: "mail", RunAt: later})
		cancelled := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: a, Kind: "mail", RunAt: later})
		if _, err := q.Cancel(ctx, a, cancelled); err != nil {
			t.Fatal(err)
		}

		if _, err := q.Get(ctx, b, waiting); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get from other workspace: %v", err)
		}
		if _, err := q.Attempts(ctx, b, waiting); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Attempts from other workspace: %v", err)
		}
		if _, err := q.Cancel(ctx, b, waiting); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Cancel from other workspace: %v", err)
		}
		if _, err := q.Retry(ctx, b, cancelled); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Retry from other workspace: %v", err)
		}
		if list, err := q.List(ctx, b, jobs.ListParams{}); err != nil || len(list) != 0 {
			t.Errorf("List of other workspace: %v %v", list, err)
		}
		for _, bad := range []struct{ ws, job string }{{"", waiting}, {"not-a-uuid", waiting}, {a, "42"}, {a, id.New()}} {
			if _, err := q.Get(ctx, bad.ws, bad.job); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get(%q, %q): %v", bad.ws, bad.job, err)
			}
			if _, err := q.Cancel(ctx, bad.ws, bad.job); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Cancel(%q, %q): %v", bad.ws, bad.job, err)
			}
		}

		// Nothing changed, and the owner sees both.
		if j, err := q.Get(ctx, a, waiting); err != nil || j.State != jobs.StateAvailable {
			t.Errorf("owner Get: %+v %v", j, err)
		}
		if j, err := q.Get(ctx, a, cancelled); err != nil || j.State != jobs.StateCancelled {
			t.Errorf("owner Get: %+v %v", j, err)
		}
		if list, err := q.List(ctx, a, jobs.ListParams{}); err != nil || len(list) != 2 {
			t.Errorf("owner List: %d %v", len(list), err)
		}
	})
}

func TestUniqueKey(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, b := newWorkspace(t, db), newWorkspace(t, db)
		q := newQueue(t, db, jobs.Options{})
		p := jobs.EnqueueParams{WorkspaceID: a, Kind: "welcome-mail", UniqueKey: "lead-1", Args: map[string]int{"n": 1}}

		first := enqueue(t, q, db, p)
		p.Args = map[string]int{"n": 2}
		if again := enqueue(t, q, db, p); again != first {
			t.Errorf("same key gave a new job %s, want %s", again, first)
		}
		j, err := q.Get(ctx, a, first)
		if err != nil {
			t.Fatal(err)
		}
		if j.UniqueKey != "lead-1" || string(j.Args) != `{"n":1}` {
			t.Errorf("job key %q args %s", j.UniqueKey, j.Args)
		}
		// The key is scoped to workspace and kind.
		other := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: b, Kind: "welcome-mail", UniqueKey: "lead-1"})
		otherKind := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: a, Kind: "sms", UniqueKey: "lead-1"})
		system := enqueue(t, q, db, jobs.EnqueueParams{Kind: "welcome-mail", UniqueKey: "lead-1"})
		if other == first || otherKind == first || system == first || other == otherKind {
			t.Errorf("scoped keys collided: %s %s %s %s", first, other, otherKind, system)
		}
		// A rolled-back enqueue does not hold the key.
		_ = db.Tx(ctx, func(tx store.Tx) error {
			if _, err := q.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: a, Kind: "reminder", UniqueKey: "lead-1"}); err != nil {
				t.Fatal(err)
			}
			return errors.New("roll back")
		})
		kept := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: a, Kind: "reminder", UniqueKey: "lead-1"})
		if _, err := q.Get(ctx, a, kept); err != nil {
			t.Errorf("enqueue after rollback: %v", err)
		}
		counts, err := q.CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["available"] != 5 {
			t.Errorf("counts %v, want 5 available", counts)
		}
	})
}

func TestEnqueueRejectsBadParams(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, store.SQLite)
	ctx := context.Background()
	for name, p := range map[string]jobs.EnqueueParams{
		"no kind":      {},
		"bad ws":       {Kind: "mail", WorkspaceID: "acme"},
		"negative max": {Kind: "mail", MaxAttempts: -1},
		"bad args":     {Kind: "mail", Args: json.RawMessage(`{`)},
		"args no json": {Kind: "mail", Args: func() {}},
	} {
		if _, err := jobs.Enqueue(ctx, db.W, p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestListPages(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		q := newQueue(t, db, jobs.Options{})
		var ids []string
		for i := range 5 {
			kind := "mail"
			if i%2 == 1 {
				kind = "sms"
			}
			ids = append(ids, enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: kind}))
		}
		if _, err := q.Cancel(ctx, ws, ids[0]); err != nil {
			t.Fatal(err)
		}

		var seen []string
		before := ""
		for range 3 {
			page, err := q.List(ctx, ws, jobs.ListParams{Limit: 2, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page {
				seen = append(seen, j.ID)
			}
			if len(page) > 0 {
				before = page[len(page)-1].ID
			}
		}
		want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
		if len(seen) != 5 || seen[0] != want[0] || seen[4] != want[4] {
			t.Errorf("pages %v, want newest first %v", seen, want)
		}

		sms, err := q.List(ctx, ws, jobs.ListParams{Kind: "sms"})
		if err != nil || len(sms) != 2 {
			t.Errorf("kind filter: %d %v", len(sms), err)
		}
		cancelled, err := q.List(ctx, ws, jobs.ListParams{State: jobs.StateCancelled})
		if err != nil || len(cancelled) != 1 || cancelled[0].ID != ids[0] {
			t.Errorf("state filter: %v %v", cancelled, err)
		}
		var ve *validate.Error
		if _, err := q.List(ctx, ws, jobs.ListParams{State: "stuck"}); !errors.As(err, &ve) || ve.Field != "state" {
			t.Errorf("bad state: %v", err)
		}
		if _, err := q.List(ctx, ws, jobs.ListParams{Before: "x"}); !errors.As(err, &ve) || ve.Field != "before" {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		clk := newClock()
		q := newQueue(t, db, jobs.Options{Now: clk.Now, Retention: 7 * 24 * time.Hour})
		q.Register("mail", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.KindOptions{})

		finish := func(state jobs.State, age time.Duration) string {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail"})
			_, err := db.W.ExecContext(ctx, `UPDATE jobs SET state = $1, finished_at = $2 WHERE id = $3`,
				state, clk.Now().Add(-age), jobID)
			if err != nil {
				t.Fatal(err)
			}
			return jobID
		}
		// One old completed job with an attempt row, to check the cascade.
		withAttempt := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail"})
		if c, err := q.ClaimForTest(ctx, 1); err != nil || len(c) != 1 {
			t.Fatalf("claim: %v %v", c, err)
		}
		if _, err := db.W.ExecContext(ctx, `UPDATE jobs SET state = 'completed', finished_at = $1 WHERE id = $2`,
			clk.Now().Add(-8*24*time.Hour), withAttempt); err != nil {
			t.Fatal(err)
		}
		oldCancelled := finish(jobs.StateCancelled, 8*24*time.Hour)
		recent := finish(jobs.StateCompleted, 24*time.Hour)
		oldDead := finish(jobs.StateDead, 30*24*time.Hour)

		n, err := q.CleanupForTest(ctx)
		if err != nil || n != 2 {
			t.Fatalf("cleanup deleted %d, %v; want 2", n, err)
		}
		for _, gone := range []string{withAttempt, oldCancelled} {
			if _, err := q.Get(ctx, ws, gone); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("job %s survived: %v", gone, err)
			}
		}
		for _, kept := range []string{recent, oldDead} {
			if _, err := q.Get(ctx, ws, kept); err != nil {
				t.Errorf("job %s deleted: %v", kept, err)
			}
		}
		var orphans int
		if err := db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM job_attempts WHERE job_id = $1`, withAttempt).Scan(&orphans); err != nil || orphans != 0 {
			t.Errorf("attempt rows left: %d %v", orphans, err)
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		attempt int
		base    time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 16 * time.Second}, {5, 625 * time.Second}, {12, 20736 * time.Second}} {
		got := jobs.DefaultBackoff(c.attempt)
		if got < c.base || got > c.base+c.base/10 {
			t.Errorf("DefaultBackoff(%d) = %s, want %s plus at most 10%%", c.attempt, got, c.base)
		}
	}
	for _, attempt := range []int{13, 25, 1000} {
		if got := jobs.DefaultBackoff(attempt); got != 6*time.Hour {
			t.Errorf("DefaultBackoff(%d) = %s, want the 6h cap", attempt, got)
		}
	}
}

func TestRegisterMistakesPanic(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, store.SQLite)
	h := func(ctx context.Context, j *jobs.Job) error { return nil }
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	q := newQueue(t, db, jobs.Options{})
	q.Register("mail", h, jobs.KindOptions{})
	mustPanic("duplicate", func() { q.Register("mail", h, jobs.KindOptions{}) })
	mustPanic("nil handler", func() { q.Register("sms", nil, jobs.KindOptions{}) })
	start(t, q)
	mustPanic("after start", func() { q.Register("sms", h, jobs.KindOptions{}) })
	if err := q.Start(context.Background()); err == nil {
		t.Error("second Start: no error")
	}
}
