package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func TestEnqueueIsTransactional(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		var runs counter
		q := newQueue(t, db, jobs.Options{})
		q.Register("mail", func(ctx context.Context, j *jobs.Job) error {
			runs.add(j.ID)
			return nil
		}, jobs.KindOptions{})
		start(t, q)

		errRollback := errors.New("lead rejected")
		var rolledBack string
		err := db.Tx(ctx, func(tx store.Tx) error {
			var err error
			rolledBack, err = q.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail", Args: map[string]string{"lead": "l-1"}})
			if err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("tx: %v", err)
		}

		var committed string
		err = db.Tx(ctx, func(tx store.Tx) error {
			var err error
			committed, err = jobs.Enqueue(ctx, tx, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail"})
			if err != nil {
				return err
			}
			// Not visible to anyone else before the commit.
			if _, err := q.Get(ctx, ws, committed); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("job visible before commit: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		j := waitState(t, q, ws, committed, jobs.StateCompleted)
		if j.Attempt != 1 || j.FinishedAt == nil || j.LockedBy != "" {
			t.Errorf("completed job = %+v", j)
		}
		if n := runs.get(committed); n != 1 {
			t.Errorf("committed job ran %d times", n)
		}
		if _, err := q.Get(ctx, ws, rolledBack); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rolled-back job: %v, want ErrNotFound", err)
		}
		if n := runs.get(rolledBack); n != 0 {
			t.Errorf("rolled-back job ran %d times", n)
		}
		counts, err := q.CountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts["completed"] != 1 || counts["available"] != 0 || len(counts) != len(jobs.States) {
			t.Errorf("counts = %v", counts)
		}
	})
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		var backoffs []int
		var mu = make(chan struct{}, 1)
		q := newQueue(t, db, jobs.Options{Node: "node-a", Backoff: func(attempt int) time.Duration {
			mu <- struct{}{}
			backoffs = append(backoffs, attempt)
			<-mu
			return 5 * time.Millisecond
		}})
		q.Register("webhook", func(ctx context.Context, j *jobs.Job) error {
			if j.Attempt < 3 {
				return fmt.Errorf("receiver answered 503 on attempt %d", j.Attempt)
			}
			return nil
		}, jobs.KindOptions{MaxAttempts: 5})
		start(t, q)

		jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "webhook"})
		j := waitState(t, q, ws, jobID, jobs.StateCompleted)
		if j.Attempt != 3 || j.MaxAttempts != 5 {
			t.Errorf("attempt %d of %d, want 3 of 5", j.Attempt, j.MaxAttempts)
		}
		if j.LastError != "receiver answered 503 on attempt 2" {
			t.Errorf("last error %q", j.LastError)
		}
		as := attempts(t, q, ws, jobID)
		want := []string{"1:failed@node-a", "2:failed@node-a", "3:completed@node-a"}
		if got := outcomes(as); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("attempts %v, want %v", got, want)
		}
		if as[0].Error != "receiver answered 503 on attempt 1" || as[2].Error != "" {
			t.Errorf("attempt errors %q, %q", as[0].Error, as[2].Error)
		}
		for _, a := range as {
			if a.FinishedAt == nil || a.FinishedAt.Before(a.StartedAt) {
				t.Errorf("attempt %d: started %v finished %v", a.Attempt, a.StartedAt, a.FinishedAt)
			}
		}
		mu <- struct{}{}
		if fmt.Sprint(backoffs) != "[1 2]" {
			t.Errorf("backoff asked for attempts %v, want [1 2]", backoffs)
		}
		<-mu
		st := q.Stats()
		if st.Claimed != 3 || st.Failed != 2 || st.Completed != 1 || st.Dead != 0 || st.Node != "node-a" {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestBackoffFollowsClock shows that the retry time comes from the injected
// clock and Backoff, and that the job waits for it.
func TestBackoffFollowsClock(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		clk := newClock()
		q := newQueue(t, db, jobs.Options{Now: clk.Now, Backoff: func(attempt int) time.Duration {
			return time.Duration(attempt) * time.Hour
		}})
		q.Register("sms", func(ctx context.Context, j *jobs.Job) error {
			if j.Attempt == 1 {
				return errors.New("gateway down")
			}
			return nil
		}, jobs.KindOptions{})
		start(t, q)

		t0 := clk.Now()
		jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "sms"})
		var j jobs.Job
		waitFor(t, "first attempt to fail", func() bool {
			var err error
			j, err = q.Get(context.Background(), ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			return j.State == jobs.StateAvailable && j.Attempt == 1
		})
		if want := t0.Add(time.Hour); !j.RunAt.Equal(want) {
			t.Fatalf("run_at %v, want %v", j.RunAt, want)
		}
		if j.LastError != "gateway down" {
			t.Errorf("last error %q", j.LastError)
		}
		clk.Advance(time.Hour)
		j = waitState(t, q, ws, jobID, jobs.StateCompleted)
		if j.Attempt != 2 || !j.FinishedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("attempt %d finished %v", j.Attempt, j.FinishedAt)
		}
		if as := attempts(t, q, ws, jobID); !as[1].StartedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("second attempt started %v", as[1].StartedAt)
		}
	})
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		q := newQueue(t, db, jobs.Options{})
		var cancelRuns atomic.Int32
		var panics counter
		q.Register("always-fails", func(ctx context.Context, j *jobs.Job) error {
			return errors.New("mailbox full")
		}, jobs.KindOptions{MaxAttempts: 3})
		q.Register("cancels", func(ctx context.Context, j *jobs.Job) error {
			cancelRuns.Add(1)
			return fmt.Errorf("lead %s: %w", "l-7", jobs.Cancel(errors.New("lead erased")))
		}, jobs.KindOptions{})
		q.Register("panics", func(ctx context.Context, j *jobs.Job) error {
			if panics.add(j.ID) == 1 {
				panic("nil map in template")
			}
			return nil
		}, jobs.KindOptions{})
		q.Register("slow", func(ctx context.Context, j *jobs.Job) error {
			<-ctx.Done()
			return ctx.Err()
		}, jobs.KindOptions{Timeout: 30 * time.Millisecond, MaxAttempts: 1})
		q.Register("garbled", func(ctx context.Context, j *jobs.Job) error {
			return errors.New("relay said: \xff\x00" + strings.Repeat("ä", 3000))
		}, jobs.KindOptions{MaxAttempts: 1})
		start(t, q)

		t.Run("max attempts", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "always-fails"})
			j := waitState(t, q, ws, jobID, jobs.StateDead)
			if j.Attempt != 3 || j.MaxAttempts != 3 || j.LastError != "mailbox full" || j.FinishedAt == nil {
				t.Errorf("dead job %+v", j)
			}
			if got := outcomes(attempts(t, q, ws, jobID)); len(got) != 3 || !strings.HasPrefix(got[2], "3:failed") {
				t.Errorf("attempts %v", got)
			}
		})
		t.Run("caller overrides max attempts", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "always-fails", MaxAttempts: 1})
			if j := waitState(t, q, ws, jobID, jobs.StateDead); j.Attempt != 1 {
				t.Errorf("attempt %d, want 1", j.Attempt)
			}
		})
		t.Run("handler cancel", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "cancels"})
			j := waitState(t, q, ws, jobID, jobs.StateDead)
			if j.Attempt != 1 || j.MaxAttempts != jobs.DefaultMaxAttempts || !strings.Contains(j.LastError, "lead erased") {
				t.Errorf("cancelled job %+v", j)
			}
			if n := cancelRuns.Load(); n != 1 {
				t.Errorf("handler ran %d times", n)
			}
		})
		t.Run("panic is a failure", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "panics"})
			j := waitState(t, q, ws, jobID, jobs.StateCompleted)
			as := attempts(t, q, ws, jobID)
			if j.Attempt != 2 || len(as) != 2 || as[0].Outcome != jobs.OutcomeFailed || as[0].Error != "panic: nil map in template" {
				t.Errorf("job %+v attempts %+v", j, as)
			}
		})
		t.Run("timeout", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "slow"})
			j := waitState(t, q, ws, jobID, jobs.StateDead)
			if !strings.Contains(j.LastError, "timed out after 30ms") {
				t.Errorf("last error %q", j.LastError)
			}
		})
		t.Run("error text that PostgreSQL would reject", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "garbled"})
			j := waitState(t, q, ws, jobID, jobs.StateDead)
			if !strings.HasPrefix(j.LastError, "relay said: \uFFFD") || len(j.LastError) > 2100 {
				t.Errorf("last error %q", j.LastError)
			}
		})
		t.Run("stats", func(t *testing.T) {
			st := q.Stats()
			// 3 + 1 + 1 + 1 (panic) + 1 (timeout) + 1 (garbled) failed
			// attempts; 5 dead jobs.
			if st.Failed != 8 || st.Dead != 5 || st.Completed != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	})
}

func TestSnooze(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ws := newWorkspace(t, db)
		var runs counter
		q := newQueue(t, db, jobs.Options{Node: "node-a", PollInterval: time.Hour})
		q.Register("batch", func(ctx context.Context, j *jobs.Job) error {
			if runs.add(j.ID) == 1 {
				return jobs.Snooze(20 * time.Millisecond)
			}
			return nil
		}, jobs.KindOptions{MaxAttempts: 1})
		start(t, q)

		// With an hour between polls, the snoozed job can only run again
		// thanks to the local wake-up at its new run_at.
		jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "batch"})
		j := waitState(t, q, ws, jobID, jobs.StateCompleted)
		if j.Attempt != 1 {
			t.Errorf("attempt %d: a snooze must not use an attempt", j.Attempt)
		}
		want := "1:released@node-a 1:completed@node-a"
		if got := strings.Join(outcomes(attempts(t, q, ws, jobID)), " "); got != want {
			t.Errorf("attempts %s, want %s", got, want)
		}
		if st := q.Stats(); st.Snoozed != 1 || st.Completed != 1 || st.Failed != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestRetryAndCancel(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		var runs counter
		block := make(chan struct{})
		running := make(chan string, 1)
		q := newQueue(t, db, jobs.Options{})
		q.Register("flaky", func(ctx context.Context, j *jobs.Job) error {
			if runs.add(j.ID) <= 2 {
				return errors.New("smtp 451")
			}
			return nil
		}, jobs.KindOptions{MaxAttempts: 2})
		q.Register("ok", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.KindOptions{})
		q.Register("blocks", func(ctx context.Context, j *jobs.Job) error {
			running <- j.ID
			<-block
			return nil
		}, jobs.KindOptions{})
		start(t, q)

		t.Run("retry dead job", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "flaky"})
			waitState(t, q, ws, jobID, jobs.StateDead)
			j, err := q.Retry(ctx, ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateAvailable || j.Attempt != 0 || j.FinishedAt != nil {
				t.Errorf("retried job %+v", j)
			}
			j = waitState(t, q, ws, jobID, jobs.StateCompleted)
			if j.Attempt != 1 {
				t.Errorf("attempt %d after retry, want 1", j.Attempt)
			}
			as := attempts(t, q, ws, jobID)
			if len(as) != 3 || as[2].Outcome != jobs.OutcomeCompleted {
				t.Errorf("history %v", outcomes(as))
			}
			_, err = q.Retry(ctx, ws, jobID)
			var se *jobs.StateError
			if !errors.Is(err, jobs.ErrJobState) || !errors.As(err, &se) || se.State != jobs.StateCompleted {
				t.Errorf("retry completed job: %v", err)
			}
		})
		t.Run("cancel available job", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "ok", RunAt: time.Now().Add(time.Hour)})
			if _, err := q.Retry(ctx, ws, jobID); !errors.Is(err, jobs.ErrJobState) {
				t.Errorf("retry available job: %v", err)
			}
			j, err := q.Cancel(ctx, ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateCancelled || j.FinishedAt == nil {
				t.Errorf("cancelled job %+v", j)
			}
			if _, err := q.Cancel(ctx, ws, jobID); !errors.Is(err, jobs.ErrJobState) {
				t.Errorf("cancel twice: %v", err)
			}
			// A cancelled job can be retried, and then runs now.
			if _, err := q.Retry(ctx, ws, jobID); err != nil {
				t.Fatal(err)
			}
			waitState(t, q, ws, jobID, jobs.StateCompleted)
			if _, err := q.Cancel(ctx, ws, jobID); !errors.Is(err, jobs.ErrJobState) {
				t.Errorf("cancel completed job: %v", err)
			}
		})
		t.Run("cancel running job", func(t *testing.T) {
			jobID := enqueue(t, q, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "blocks"})
			<-running
			_, err := q.Cancel(ctx, ws, jobID)
			var se *jobs.StateError
			if !errors.As(err, &se) || se.State != jobs.StateRunning || se.Op != "cancel" {
				t.Errorf("cancel running job: %v", err)
			}
			close(block)
			waitState(t, q, ws, jobID, jobs.StateCompleted)
		})
	})
}

func TestStopReleasesUnfinishedJobs(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)

		t.Run("handler honours cancellation", func(t *testing.T) {
			started := make(chan struct{}, 1)
			a := newQueue(t, db, jobs.Options{Node: "node-a"})
			a.Register("import", func(ctx context.Context, j *jobs.Job) error {
				started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}, jobs.KindOptions{})
			start(t, a)
			jobID := enqueue(t, a, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "import"})
			<-started

			sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if err := a.Stop(sctx); err != nil {
				t.Fatalf("stop: %v", err)
			}
			j, err := a.Get(ctx, ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateAvailable || j.Attempt != 0 || j.LockedBy != "" || j.LastError != "" {
				t.Errorf("after stop: %+v", j)
			}
			if st := a.Stats(); st.Released != 1 || st.Failed != 0 || st.Running != 0 {
				t.Errorf("stats %+v", st)
			}

			b := newQueue(t, db, jobs.Options{Node: "node-b"})
			b.Register("import", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.KindOptions{})
			start(t, b)
			j = waitState(t, b, ws, jobID, jobs.StateCompleted)
			if j.Attempt != 1 {
				t.Errorf("attempt %d, want 1: the release must not cost an attempt", j.Attempt)
			}
			want := "1:released@node-a 1:completed@node-b"
			if got := strings.Join(outcomes(attempts(t, b, ws, jobID)), " "); got != want {
				t.Errorf("attempts %s, want %s", got, want)
			}
		})

		t.Run("stop waits for handlers that finish in time", func(t *testing.T) {
			started := make(chan struct{}, 1)
			finish := make(chan struct{})
			a := newQueue(t, db, jobs.Options{Node: "node-c"})
			a.Register("export", func(ctx context.Context, j *jobs.Job) error {
				started <- struct{}{}
				<-finish
				return nil
			}, jobs.KindOptions{})
			start(t, a)
			jobID := enqueue(t, a, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "export"})
			<-started
			stopped := make(chan error, 1)
			go func() {
				sctx, cancel := context.WithTimeout(ctx, waitTimeout)
				defer cancel()
				stopped <- a.Stop(sctx)
			}()
			close(finish)
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			if j, _ := a.Get(ctx, ws, jobID); j.State != jobs.StateCompleted {
				t.Errorf("state %s, want completed", j.State)
			}
		})

		t.Run("handler ignores cancellation", func(t *testing.T) {
			started := make(chan struct{}, 1)
			unblock := make(chan struct{})
			a := newQueue(t, db, jobs.Options{Node: "node-d"})
			a.Register("stubborn", func(ctx context.Context, j *jobs.Job) error {
				started <- struct{}{}
				<-unblock
				return nil
			}, jobs.KindOptions{Timeout: -1})
			start(t, a)
			jobID := enqueue(t, a, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "stubborn"})
			<-started
			sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			defer cancel()
			if err := a.Stop(sctx); err != nil {
				t.Fatal(err)
			}
			close(unblock) // its late success must not be recorded
			j, err := a.Get(ctx, ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateAvailable || j.Attempt != 0 {
				t.Errorf("after stop: %+v", j)
			}
			if got := outcomes(attempts(t, a, ws, jobID)); len(got) != 1 || got[0] != "1:released@node-d" {
				t.Errorf("attempts %v", got)
			}
			// Cancel it so that no other subtest's queue needs a handler.
			if _, err := a.Cancel(ctx, ws, jobID); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestLeaseRescue(t *testing.T) {
	t.Parallel()
	testdb.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ws := newWorkspace(t, db)
		// The dead node's clock runs an hour behind, so the lease it takes
		// has already passed by everyone else's clock.
		past := func() time.Time { return time.Now().Add(-time.Hour) }
		dead := newQueue(t, db, jobs.Options{Node: "dead-node", Now: past, Lease: time.Minute})
		dead.Register("mail", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.KindOptions{})

		t.Run("another node completes the job", func(t *testing.T) {
			jobID := enqueue(t, dead, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail"})
			claimed, err := dead.ClaimForTest(ctx, 10)
			if err != nil || len(claimed) != 1 || claimed[0].ID != jobID {
				t.Fatalf("claim: %v %v", claimed, err)
			}
			if j, _ := dead.Get(ctx, ws, jobID); j.State != jobs.StateRunning || j.LockedBy != "dead-node" {
				t.Fatalf("claimed job %+v", j)
			}
			b := newQueue(t, db, jobs.Options{Node: "node-b"})
			b.Register("mail", func(ctx context.Context, j *jobs.Job) error { return nil }, jobs.KindOptions{})
			start(t, b)
			j := waitState(t, b, ws, jobID, jobs.StateCompleted)
			if j.Attempt != 2 {
				t.Errorf("attempt %d, want 2 (the lost attempt counts)", j.Attempt)
			}
			want := "1:lease_expired@dead-node 2:completed@node-b"
			if got := strings.Join(outcomes(attempts(t, b, ws, jobID)), " "); got != want {
				t.Errorf("attempts %s, want %s", got, want)
			}
			if st := b.Stats(); st.Rescued != 1 {
				t.Errorf("stats %+v", st)
			}
		})

		t.Run("no attempts left", func(t *testing.T) {
			jobID := enqueue(t, dead, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "mail", MaxAttempts: 1})
			if claimed, err := dead.ClaimForTest(ctx, 10); err != nil || len(claimed) != 1 {
				t.Fatalf("claim: %v %v", claimed, err)
			}
			rescuer := newQueue(t, db, jobs.Options{Node: "node-c"})
			n, err := rescuer.RescueForTest(ctx)
			if err != nil || n != 1 {
				t.Fatalf("rescue: %d %v", n, err)
			}
			j, err := rescuer.Get(ctx, ws, jobID)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != jobs.StateDead || j.LastError != "lease expired on node dead-node" || j.FinishedAt == nil {
				t.Errorf("job %+v", j)
			}
			// Rescuing again is a no-op: several nodes may run it at once.
			if n, err := rescuer.RescueForTest(ctx); err != nil || n != 0 {
				t.Errorf("second rescue: %d %v", n, err)
			}
		})

		t.Run("live leases are renewed, not rescued", func(t *testing.T) {
			started := make(chan struct{}, 1)
			finish := make(chan struct{})
			a := newQueue(t, db, jobs.Options{Node: "node-live", Lease: 3 * time.Second})
			a.Register("long", func(ctx context.Context, j *jobs.Job) error {
				started <- struct{}{}
				<-finish
				return nil
			}, jobs.KindOptions{})
			start(t, a)
			jobID := enqueue(t, a, db, jobs.EnqueueParams{WorkspaceID: ws, Kind: "long"})
			<-started
			first, _ := a.Get(ctx, ws, jobID)
			waitFor(t, "lease renewal", func() bool {
				j, _ := a.Get(ctx, ws, jobID)
				return j.LockedUntil != nil && j.LockedUntil.After(*first.LockedUntil)
			})
			rescuer := newQueue(t, db, jobs.Options{Node: "node-e"})
			if n, err := rescuer.RescueForTest(ctx); err != nil || n != 0 {
				t.Errorf("rescue took a live job: %d %v", n, err)
			}
			close(finish)
			if j := waitState(t, a, ws, jobID, jobs.StateCompleted); j.Attempt != 1 {
				t.Errorf("attempt %d", j.Attempt)
			}
		})
	})
}
