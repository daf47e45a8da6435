package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/store/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// waitTimeout is generous on purpose: the suite must pass with -race on a
// slow two-core machine. Conditions are polled, so a fast machine does not
// wait for it.
const waitTimeout = 60 * time.Second

func newWorkspace(t testing.TB, db *store.DB) string {
	t.Helper()
	ws := id.New()
	_, err := db.W.ExecContext(context.Background(),
		`INSERT INTO workspaces (id, slug, name, created_at) VALUES ($1, $2, $3, $4)`,
		ws, "ws-"+ws, "Workspace "+ws[:8], time.Now().UTC())
	if err != nil {
		t.Fatalf("insert workspace: %v", err)
	}
	return ws
}

// newQueue returns a Queue with test-friendly defaults: quick polls, tiny
// backoff, silent logs.
func newQueue(t testing.TB, db *store.DB, o jobs.Options) *jobs.Queue {
	t.Helper()
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return jobs.New(db, o)
}

// start starts q and stops it when the test ends.
func start(t testing.TB, q *jobs.Queue) {
	t.Helper()
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
	})
}

func enqueue(t testing.TB, q *jobs.Queue, db *store.DB, p jobs.EnqueueParams) string {
	t.Helper()
	var jobID string
	err := db.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		jobID, err = q.Enqueue(context.Background(), tx, p)
		return err
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return jobID
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits until the job is in state and returns it.
func waitState(t testing.TB, q *jobs.Queue, ws, jobID string, state jobs.State) jobs.Job {
	t.Helper()
	var j jobs.Job
	waitFor(t, fmt.Sprintf("job %s to be %s", jobID, state), func() bool {
		var err error
		j, err = q.Get(context.Background(), ws, jobID)
		if err != nil {
			t.Fatalf("get job: %v", err)
		}
		return j.State == state
	})
	return j
}

func attempts(t testing.TB, q *jobs.Queue, ws, jobID string) []jobs.Attempt {
	t.Helper()
	as, err := q.Attempts(context.Background(), ws, jobID)
	if err != nil {
		t.Fatalf("attempts: %v", err)
	}
	return as
}

// outcomes summarises attempts as "attempt:outcome@node" for readable failures.
func outcomes(as []jobs.Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%d:%s@%s", a.Attempt, a.Outcome, a.Node)
	}
	return out
}

// counter counts handler runs per job ID.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) add(jobID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[jobID]++
	return c.runs[jobID]
}

func (c *counter) get(jobID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[jobID]
}

// clock is an injectable clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
