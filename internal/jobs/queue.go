package jobs

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Handler runs one job. Returning nil completes it; any other error counts
// as a failed attempt and the job is retried with backoff until it has used
// up its attempts. Return Cancel(err) when retrying cannot help and
// Snooze(d) to try again later without using an attempt. A panic is
// recovered and counts as a failure.
//
// ctx ends when the kind's timeout passes or when the queue stops for good;
// a handler should return promptly then (the job is released, not failed).
// Errors are stored in last_error and logged, so they must not carry
// personal data: name IDs, not addresses.
type Handler func(ctx context.Context, j *Job) error

// KindOptions tune one kind of job.
type KindOptions struct {
	// MaxAttempts is the default for jobs of this kind enqueued through
	// Queue.Enqueue without their own; zero means DefaultMaxAttempts.
	MaxAttempts int
	// Timeout bounds one run of the handler; zero means DefaultTimeout and a
	// negative value means no timeout (for long imports that watch ctx
	// themselves).
	Timeout time.Duration
}

// DefaultTimeout bounds a handler run unless its kind says otherwise. Outbox
// deliveries (mail, webhooks) finish in seconds; one that hangs for a minute
// is better retried than left holding a worker slot.
const DefaultTimeout = time.Minute

// Options configure a Queue. Zero values mean the documented defaults.
type Options struct {
	// Node identifies this process in locked_by and job_attempts, so an
	// operator can see which node ran what. Default: hostname-pid-random.
	// Every running process needs its own.
	Node string
	// Concurrency is the most handlers this node runs at once (default 4).
	Concurrency int
	// PollInterval is how often an idle node looks for due jobs (default
	// 1s). Jobs enqueued through this Queue start at once without waiting
	// for it.
	PollInterval time.Duration
	// Lease is how long a claimed job stays locked to this node without
	// news (default 5m). The node renews the lease of its running jobs every
	// Lease/3; when a node dies, other nodes put its jobs back once the
	// lease has passed.
	Lease time.Duration
	// Retention is how long completed and cancelled jobs are kept before
	// the clean-up deletes them (default 7 days). Dead jobs are kept until
	// someone retries or handles them.
	Retention time.Duration
	// Now is the clock (default time.Now in UTC).
	Now func() time.Time
	// Backoff is the delay before the next try after failed attempt number
	// attempt (1-based). Default: DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// Logger receives job IDs, kinds, attempts and durations, never
	// arguments (default slog.Default()).
	Logger *slog.Logger
}

const (
	defaultConcurrency  = 4
	defaultPollInterval = time.Second
	defaultLease        = 5 * time.Minute
	defaultRetention    = 7 * 24 * time.Hour
	maxBackoff          = 6 * time.Hour

	// dbTimeout bounds the queue's own statements.
	dbTimeout = 30 * time.Second
	// cleanupEvery spaces the deletion of old jobs: retention is counted
	// in days, so hourly is plenty.
	cleanupEvery = time.Hour
	// cleanupBatch rows are deleted per statement so that no single
	// statement holds the SQLite writer or PostgreSQL locks for long.
	cleanupBatch = 1000
	// stopGrace is how long Stop waits, after cancelling handlers, for them
	// to return before it releases their jobs itself.
	stopGrace = time.Second
	// wakeRetries and wakeRetryDelay cover the gap between Queue.Enqueue
	// and the caller's commit: a claim right after the wake-up may not see
	// the job yet, so the loop looks again after 10, 40, 160 and 640ms
	// before falling back to PollInterval.
	wakeRetries    = 4
	wakeRetryDelay = 10 * time.Millisecond
)

// DefaultBackoff waits attempt^4 seconds plus up to 10% jitter, capped at 6
// hours: 1s, 16s, 81s, 4m16s, 10m25s … so transient failures retry quickly
// and a broken receiver is not hammered. The jitter spreads retries of jobs
// that failed together.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 13 { // 13^4 s is already beyond the cap; avoid overflow
		return maxBackoff
	}
	d := time.Duration(attempt*attempt*attempt*attempt) * time.Second
	d += rand.N(d/10 + 1)
	return min(d, maxBackoff)
}

type kindEntry struct {
	handler Handler
	opts    KindOptions
}

// inflight is a job this node is running.
type inflight struct {
	job       Job
	attemptID string
	// finishing is set when the handler has returned and the worker is
	// saving the result; abandoned when Stop gave up waiting and released
	// the job itself. Both are guarded by Queue.mu and exclude each other.
	finishing bool
	abandoned bool
	done      chan struct{}
}

const (
	phaseNew = iota
	phaseStarted
	phaseStopping
	phaseStopped
)

// Queue claims and runs jobs of the kinds registered on it. Several Queues
// (one per process, each with its own Node) may work on one database: the
// claim query hands every due job to exactly one of them.
//
// A Queue holds no goroutine per idle worker: it has one claim loop, one
// maintenance loop and one goroutine per running job.
type Queue struct {
	db      *store.DB
	opts    Options
	log     *slog.Logger
	backoff func(int) time.Duration

	// kinds is written by Register before Start and only read afterwards.
	kinds    map[string]kindEntry
	claimSQL string // set by prepareClaim; also marks the kinds as fixed
	kindArgs []any

	wake    chan struct{} // a local enqueue, retry or rescue: claim now
	freed   chan struct{} // a worker slot became free
	resched chan struct{} // nextRunAt moved: recompute the timer

	mu         sync.Mutex
	phase      int
	inflight   map[string]*inflight
	nextRunAt  time.Time // earliest run_at this node gave a job it put back
	baseCtx    context.Context
	workCtx    context.Context
	cancelWork context.CancelFunc
	stopCh     chan struct{}
	claimDone  chan struct{}
	maintStop  chan struct{}
	maintDone  chan struct{}
	stopped    chan struct{}
	workers    sync.WaitGroup

	claimed, completed, failed, dead, released, snoozed, rescued atomic.Uint64
}

// New returns a Queue on db. Register kinds, then Start it.
func New(db *store.DB, o Options) *Queue {
	if o.Node == "" {
		o.Node = defaultNode()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.Lease <= 0 {
		o.Lease = defaultLease
	}
	if o.Retention <= 0 {
		o.Retention = defaultRetention
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	backoff := o.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Queue{
		db:        db,
		opts:      o,
		log:       logger.With("component", "jobs", "node", o.Node),
		backoff:   backoff,
		kinds:     map[string]kindEntry{},
		wake:      make(chan struct{}, 1),
		freed:     make(chan struct{}, 1),
		resched:   make(chan struct{}, 1),
		inflight:  map[string]*inflight{},
		stopCh:    make(chan struct{}),
		claimDone: make(chan struct{}),
		maintStop: make(chan struct{}),
		maintDone: make(chan struct{}),
		stopped:   make(chan struct{}),
	}
}

func defaultNode() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "node"
	}
	var b [3]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}

// Node is the name this Queue records in locked_by and job_attempts.
func (q *Queue) Node() string { return q.opts.Node }

// now reads the injected clock in the form the database stores.
func (q *Queue) now() time.Time { return dbTime(q.opts.Now()) }

// Register sets the handler for a kind. It must be called before Start: a
// node claims only kinds it can run, and that list is fixed when it starts.
// Registering a kind twice, after Start, or with a nil handler is a wiring
// mistake and panics.
func (q *Queue) Register(kind string, h Handler, o KindOptions) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case kind == "" || h == nil:
		panic("jobs: Register needs a kind and a handler")
	case q.phase != phaseNew || q.claimSQL != "":
		panic("jobs: Register " + kind + " after Start")
	}
	if _, dup := q.kinds[kind]; dup {
		panic("jobs: kind " + kind + " registered twice")
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	q.kinds[kind] = kindEntry{handler: h, opts: o}
}

// Enqueue is the package-level Enqueue with this Queue's clock and the
// kind's default MaxAttempts; it also wakes this node's claim loop so that
// the job starts without waiting for the next poll. Pass the caller's
// transaction as tx.
func (q *Queue) Enqueue(ctx context.Context, tx store.Querier, p EnqueueParams) (string, error) {
	def := DefaultMaxAttempts
	q.mu.Lock()
	if k, ok := q.kinds[p.Kind]; ok && k.opts.MaxAttempts > 0 {
		def = k.opts.MaxAttempts
	}
	q.mu.Unlock()
	jobID, err := enqueue(ctx, tx, p, q.now(), def)
	if err != nil {
		return "", err
	}
	q.notify()
	return jobID, nil
}

// EnqueueNew is Enqueue for jobs that are new by construction (each
// UniqueKey, if any, unseen — e.g. the ID of a row inserted in the same
// transaction), as few multi-row INSERTs: a key that exists fails them
// with store.ErrConflict instead of returning the existing job. Nothing is
// read back, so on PostgreSQL the INSERT can travel in front of another
// statement. It returns the jobs' IDs in the order of ps.
func (q *Queue) EnqueueNew(ctx context.Context, tx store.Querier, ps []EnqueueParams) ([]string, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	q.mu.Lock()
	defaults := make(map[string]int, 1)
	for _, p := range ps {
		def := DefaultMaxAttempts
		if k, ok := q.kinds[p.Kind]; ok && k.opts.MaxAttempts > 0 {
			def = k.opts.MaxAttempts
		}
		defaults[p.Kind] = def
	}
	q.mu.Unlock()
	ids, err := enqueueNew(ctx, tx, q.db.Dialect, ps, q.now(), func(kind string) int { return defaults[kind] })
	if err != nil {
		return nil, err
	}
	q.notify()
	return ids, nil
}

func (q *Queue) notify() { signal(q.wake) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Start begins claiming and running jobs, and the periodic lease rescue and
// clean-up. ctx's values reach the handlers; cancelling ctx stops claiming
// new jobs, but only Stop waits for running ones and releases what is left.
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.phase != phaseNew {
		return errors.New("jobs: queue started twice or after Stop")
	}
	q.phase = phaseStarted
	q.baseCtx = context.WithoutCancel(ctx)
	q.workCtx, q.cancelWork = context.WithCancel(q.baseCtx)
	q.prepareClaim()
	go q.claimLoop(ctx)
	go q.maintainLoop()
	return nil
}

// Stop stops claiming and waits for running handlers until ctx is done. Then
// it cancels their contexts and puts their jobs back as available, due now,
// without charging the attempt, so another node (or the next start) runs
// them: nothing is lost. A handler that ignores its context cannot be
// interrupted; its job is released after a short grace and whatever it does
// later is not recorded. Stop returns an error only if releasing failed, in
// which case the lease rescue recovers the jobs later. Calling Stop again
// waits for the first call to finish.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	switch q.phase {
	case phaseNew:
		q.phase = phaseStopped
		close(q.stopped)
		q.mu.Unlock()
		return nil
	case phaseStopping, phaseStopped:
		q.mu.Unlock()
		select {
		case <-q.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	q.phase = phaseStopping
	close(q.stopCh)
	q.mu.Unlock()

	<-q.claimDone // no claim in flight, so no new workers from here on
	workersDone := make(chan struct{})
	go func() {
		q.workers.Wait()
		close(workersDone)
	}()
	var err error
	select {
	case <-workersDone:
	case <-ctx.Done():
		q.cancelWork()
		grace := time.NewTimer(stopGrace)
		select {
		case <-workersDone:
		case <-grace.C:
			err = q.releaseStuck()
		}
		grace.Stop()
	}
	close(q.maintStop)
	<-q.maintDone
	q.cancelWork()
	q.mu.Lock()
	q.phase = phaseStopped
	q.mu.Unlock()
	close(q.stopped)
	return err
}

// releaseStuck releases the jobs of handlers that did not return after
// their context was cancelled, and waits for workers that are already
// saving a result (a bounded database write).
func (q *Queue) releaseStuck() error {
	var stuck, saving []*inflight
	q.mu.Lock()
	for jobID, f := range q.inflight {
		if f.finishing {
			saving = append(saving, f)
			continue
		}
		f.abandoned = true
		delete(q.inflight, jobID)
		stuck = append(stuck, f)
	}
	q.mu.Unlock()
	var errs []error
	for _, f := range stuck {
		q.log.Warn("job handler ignored cancellation; releasing its job",
			"job_id", f.job.ID, "kind", f.job.Kind, "attempt", f.job.Attempt)
		if err := q.settle(f, settlement{state: StateAvailable, runAt: q.now(), refund: true,
			outcome: OutcomeReleased, attemptErr: "released: node stopping"}, []*atomic.Uint64{&q.released}); errors.Is(err, errLeaseLost) {
			continue // another node has it already
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range saving {
		<-f.done
	}
	return errors.Join(errs...)
}

func (q *Queue) running() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.inflight)
}

// claimLoop claims due jobs whenever there is a free slot and a reason to
// look: the poll timer, a local enqueue, a local job due again, or a slot
// freed while the last claim suggested more work is waiting. An empty queue
// therefore costs one small query per PollInterval and nothing else.
func (q *Queue) claimLoop(ctx context.Context) {
	defer close(q.claimDone)
	if len(q.kinds) == 0 { // a node that only enqueues
		select {
		case <-q.stopCh:
		case <-ctx.Done():
		}
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var (
		pollAt  time.Time // when the poll timer wants the next claim
		more    bool      // the last claim filled every slot: more may be due
		retries int       // claims left to cover an enqueue not yet committed
	)
	for {
		claimNow := true
		select {
		case <-q.stopCh:
			return
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-q.wake:
			retries = wakeRetries
		case <-q.freed:
			claimNow = more
		case <-q.resched:
			claimNow = false
		}
		if claimNow {
			q.clearDueRunAt()
			got := 0
			if free := q.opts.Concurrency - q.running(); free <= 0 {
				more = true
			} else {
				n, err := q.claimAndRun(free)
				if err != nil {
					q.log.Error("claim jobs", "error", err)
					retries = 0
				}
				got = n
				more = n == free
			}
			d := q.opts.PollInterval
			if got == 0 && retries > 0 {
				d = min(d, wakeRetryDelay<<(2*(wakeRetries-retries)))
				retries--
			} else if got > 0 {
				retries = 0
			}
			pollAt = time.Now().Add(d)
		}
		d := time.Until(pollAt)
		if next := q.localRunAt(); !next.IsZero() {
			d = min(d, next.Sub(q.now()))
		}
		timer.Reset(max(d, 0))
	}
}

// noteRunAt remembers when a job this node put back becomes due, so that
// short backoffs and snoozes do not wait for the poll interval.
func (q *Queue) noteRunAt(t time.Time) {
	q.mu.Lock()
	if q.nextRunAt.IsZero() || t.Before(q.nextRunAt) {
		q.nextRunAt = t
	}
	q.mu.Unlock()
	signal(q.resched)
}

func (q *Queue) localRunAt() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nextRunAt
}

func (q *Queue) clearDueRunAt() {
	q.mu.Lock()
	if !q.nextRunAt.IsZero() && !q.nextRunAt.After(q.now()) {
		q.nextRunAt = time.Time{}
	}
	q.mu.Unlock()
}

func (q *Queue) claimAndRun(n int) (int, error) {
	ctx, cancel := context.WithTimeout(q.baseCtx, dbTimeout)
	defer cancel()
	claimed, err := q.claim(ctx, n)
	if err != nil {
		return 0, err
	}
	for _, f := range claimed {
		q.workers.Add(1)
		go q.work(f)
	}
	return len(claimed), nil
}

// prepareClaim builds the claim statement for the registered kinds. It is
// the only SQL that differs between the engines: PostgreSQL locks the
// chosen rows with FOR UPDATE SKIP LOCKED so that concurrent nodes pass over
// each other's picks instead of waiting or taking the same job; SQLite has
// one writer, which serialises claims by itself.
//
// The CTE makes PostgreSQL choose and lock the rows exactly once; an
// IN (subquery) may be re-evaluated by some plans.
//
// q.mu must be held.
func (q *Queue) prepareClaim() {
	if q.claimSQL != "" {
		return
	}
	kinds := make([]string, 0, len(q.kinds))
	for k := range q.kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		q.kindArgs = append(q.kindArgs, k)
	}
	lock := ""
	if q.db.Dialect == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	in := "NULL" // no kinds: matches nothing
	if len(kinds) > 0 {
		in = placeholders(5, len(kinds))
	}
	q.claimSQL = `WITH due AS (
			SELECT id AS due_id FROM jobs
			WHERE state = 'available' AND run_at <= $1 AND kind IN (` + in + `)
			ORDER BY run_at, id
			LIMIT $4` + lock + `
		)
		UPDATE jobs SET state = 'running', attempt = attempt + 1,
			locked_by = $2, locked_until = $3, updated_at = $1
		FROM due WHERE jobs.id = due.due_id
		RETURNING ` + jobColumns
}

// claim moves up to n due jobs to running, locked to this node, and records
// an attempt row for each, in one transaction.
func (q *Queue) claim(ctx context.Context, n int) ([]*inflight, error) {
	now := q.now()
	var claimed []*inflight
	err := q.db.Tx(ctx, func(tx store.Tx) error {
		claimed = claimed[:0]
		args := append([]any{now, q.opts.Node, now.Add(q.opts.Lease), n}, q.kindArgs...)
		rows, err := tx.QueryContext(ctx, q.claimSQL, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			claimed = append(claimed, &inflight{job: j, attemptID: id.New(), done: make(chan struct{})})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(claimed) == 0 {
			return nil
		}
		var values []string
		var vals []any
		for _, f := range claimed {
			values = append(values, "("+placeholders(len(vals)+1, 6)+", 'running')")
			vals = append(vals, f.attemptID, f.job.ID, nullString(f.job.WorkspaceID), f.job.Attempt, q.opts.Node, now)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO job_attempts
			(id, job_id, workspace_id, attempt, node, started_at, outcome) VALUES `+strings.Join(values, ", "), vals...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	q.mu.Lock()
	for _, f := range claimed {
		q.inflight[f.job.ID] = f
	}
	q.mu.Unlock()
	q.claimed.Add(uint64(len(claimed)))
	return claimed, nil
}

// work runs one claimed job and saves its outcome.
func (q *Queue) work(f *inflight) {
	defer q.workers.Done()
	defer close(f.done)
	k := q.kinds[f.job.Kind]
	start := time.Now()
	err := q.runHandler(k, f.job)
	took := time.Since(start)

	q.mu.Lock()
	if f.abandoned { // Stop released the job already
		q.mu.Unlock()
		return
	}
	f.finishing = true
	q.mu.Unlock()

	q.finish(f, err, took)

	q.mu.Lock()
	delete(q.inflight, f.job.ID)
	q.mu.Unlock()
	signal(q.freed)
}

func (q *Queue) runHandler(k kindEntry, j Job) (err error) {
	ctx := q.workCtx
	if k.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.opts.Timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			q.log.Error("job handler panicked", "job_id", j.ID, "kind", j.Kind, "attempt", j.Attempt,
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	err = k.handler(ctx, &j) // a copy: the handler cannot disturb the queue's record
	if err != nil && ctx.Err() == context.DeadlineExceeded && q.workCtx.Err() == nil {
		err = fmt.Errorf("timed out after %s: %w", k.opts.Timeout, err)
	}
	return err
}

// settlement is the new state of a job whose attempt ended.
type settlement struct {
	state      State
	runAt      time.Time // for available jobs
	refund     bool      // the attempt did not count (release, snooze)
	lastError  string    // replaces last_error when not empty
	outcome    Outcome
	attemptErr string
}

// finish decides and saves what happens to a job after its handler returned.
func (q *Queue) finish(f *inflight, err error, took time.Duration) {
	j := f.job
	now := q.now()
	attrs := []any{"job_id", j.ID, "kind", j.Kind, "attempt", j.Attempt, "duration", took}
	var (
		snooze    *snoozeError
		cancelled *cancelError
		s         settlement
	)
	switch {
	case err == nil:
		s = settlement{state: StateCompleted, outcome: OutcomeCompleted}
	case errors.As(err, &snooze):
		s = settlement{state: StateAvailable, runAt: now.Add(snooze.d), refund: true,
			outcome: OutcomeReleased, attemptErr: err.Error()}
	case q.workCtx.Err() != nil:
		// Stop cancelled the handler: the failure is ours, not the job's.
		s = settlement{state: StateAvailable, runAt: now, refund: true,
			outcome: OutcomeReleased, attemptErr: "released: node stopping"}
	case errors.As(err, &cancelled) || j.Attempt >= j.MaxAttempts:
		s = settlement{state: StateDead, lastError: errText(err), outcome: OutcomeFailed, attemptErr: errText(err)}
	default:
		s = settlement{state: StateAvailable, runAt: now.Add(q.backoff(j.Attempt)),
			lastError: errText(err), outcome: OutcomeFailed, attemptErr: errText(err)}
	}
	// The counters move inside the settling transaction, before its commit,
	// so anyone who sees the new state in the database also sees them.
	counter := q.counterFor(s, snooze != nil)
	if serr := q.settle(f, s, counter); errors.Is(serr, errLeaseLost) {
		q.log.Warn("job result not saved: its lease expired and it was put back for another run", attrs...)
		return
	} else if serr != nil {
		// The job stays running until its lease passes; then the rescue
		// puts it back. At least once, not lost.
		q.log.Error("save job result", append(attrs, "error", serr)...)
		return
	}
	switch {
	case s.state == StateCompleted:
		q.log.Debug("job completed", attrs...)
	case s.outcome == OutcomeReleased && snooze != nil:
		q.noteRunAt(s.runAt)
		q.log.Debug("job snoozed", append(attrs, "until", s.runAt)...)
	case s.outcome == OutcomeReleased:
		q.log.Info("job released on stop", attrs...)
	case s.state == StateDead:
		q.log.Error("job failed for good", append(attrs, "error", err)...)
	default:
		q.noteRunAt(s.runAt)
		q.log.Warn("job failed; will retry", append(attrs, "error", err, "retry_at", s.runAt)...)
	}
}

// counterFor returns the stats counters a settlement moves.
func (q *Queue) counterFor(s settlement, snoozed bool) []*atomic.Uint64 {
	switch {
	case s.state == StateCompleted:
		return []*atomic.Uint64{&q.completed}
	case s.outcome == OutcomeReleased && snoozed:
		return []*atomic.Uint64{&q.snoozed}
	case s.outcome == OutcomeReleased:
		return []*atomic.Uint64{&q.released}
	case s.state == StateDead:
		return []*atomic.Uint64{&q.failed, &q.dead}
	}
	return []*atomic.Uint64{&q.failed}
}

// maxErrorText keeps stored errors readable and rows small.
const maxErrorText = 2000

// errText is the stored form of an error. PostgreSQL rejects text with
// invalid UTF-8 or NUL bytes, and an error quoting a remote server's answer
// may contain either; the result must not fail to save over that.
func errText(err error) string {
	s := strings.ToValidUTF8(strings.ReplaceAll(err.Error(), "\x00", ""), "\uFFFD")
	if len(s) > maxErrorText {
		n := maxErrorText
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}

// errLeaseLost means the job was no longer ours when its result arrived:
// the lease passed and another node rescued it.
var errLeaseLost = errors.New("lease lost before the result was saved")

// settle writes a settlement. The job row changes only while it is still
// running under this node's lock for this attempt, so a node whose lease was
// rescued cannot overwrite the result of whoever runs the job now.
func (q *Queue) settle(f *inflight, s settlement, counters []*atomic.Uint64) error {
	ctx, cancel := context.WithTimeout(q.baseCtx, dbTimeout)
	defer cancel()
	now := q.now()
	j := f.job
	runAt := j.RunAt
	if s.state == StateAvailable {
		runAt = s.runAt
	}
	refund := 0
	if s.refund {
		refund = 1
	}
	var lastErr, finished, attemptErr any
	if s.lastError != "" {
		lastErr = s.lastError
	}
	if s.state == StateCompleted || s.state == StateDead {
		finished = now
	}
	if s.attemptErr != "" {
		attemptErr = s.attemptErr
	}
	bumped := false
	err := q.db.Tx(ctx, func(tx store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = $1, run_at = $2, attempt = attempt - $3,
			last_error = COALESCE($4, last_error), finished_at = $5, updated_at = $6,
			locked_by = NULL, locked_until = NULL
			WHERE id = $7 AND state = 'running' AND locked_by = $8 AND attempt = $9`,
			s.state, runAt, refund, lastErr, finished, now, j.ID, q.opts.Node, j.Attempt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errLeaseLost
		}
		_, err = tx.ExecContext(ctx, `UPDATE job_attempts SET outcome = $1, finished_at = $2, error = $3
			WHERE id = $4 AND outcome = 'running'`, s.outcome, now, attemptErr, f.attemptID)
		if err == nil {
			for _, c := range counters {
				c.Add(1)
			}
			bumped = true
		}
		return err
	})
	if err != nil && bumped {
		for _, c := range counters {
			c.Add(^uint64(0)) // the commit failed: take the count back
		}
	}
	return err
}

// maintainLoop renews the leases of this node's running jobs, rescues jobs
// whose node stopped renewing, and deletes old finished jobs. Every node
// runs it; each statement is idempotent, so concurrent runs on several
// nodes only repeat work that is already done.
func (q *Queue) maintainLoop() {
	defer close(q.maintDone)
	// Stop must not wait for a long clean-up: closing maintStop cancels it
	// between (or within) batches. Leases keep being renewed until then,
	// because Stop closes maintStop only after the handlers have finished.
	mctx, stop := context.WithCancel(q.baseCtx)
	defer stop()
	go func() {
		<-q.maintStop
		stop()
	}()
	interval := min(max(q.opts.Lease/3, 20*time.Millisecond), time.Minute)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastCleanup time.Time
	for first := true; ; first = false {
		if !first {
			select {
			case <-q.maintStop:
				return
			case <-tick.C:
			}
		}
		ctx, cancel := context.WithTimeout(mctx, dbTimeout)
		if err := q.heartbeat(ctx); err != nil && mctx.Err() == nil {
			q.log.Error("renew job leases", "error", err)
		}
		if _, err := q.rescue(ctx); err != nil && mctx.Err() == nil {
			q.log.Error("rescue jobs with expired leases", "error", err)
		}
		cancel()
		if time.Since(lastCleanup) >= cleanupEvery {
			lastCleanup = time.Now()
			if _, err := q.cleanup(mctx); err != nil && mctx.Err() == nil {
				q.log.Error("delete old jobs", "error", err)
			}
		}
	}
}

// heartbeat extends the lease of every job this node is running.
func (q *Queue) heartbeat(ctx context.Context) error {
	q.mu.Lock()
	ids := make([]any, 0, len(q.inflight))
	for jobID := range q.inflight {
		ids = append(ids, jobID)
	}
	q.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	now := q.now()
	args := append([]any{now.Add(q.opts.Lease), now, q.opts.Node}, ids...)
	_, err := q.db.W.ExecContext(ctx, `UPDATE jobs SET locked_until = $1, updated_at = $2
		WHERE state = 'running' AND locked_by = $3 AND id IN (`+placeholders(4, len(ids))+`)`, args...)
	return err
}

// rescue puts back jobs whose lease has passed: their node died (kill -9,
// power loss) or lost the database for longer than the lease. Jobs with
// attempts left become available now; the others are dead. The attempt row
// says lease_expired, and the attempt counts, so a job that kills every node
// that runs it ends up dead instead of looping.
func (q *Queue) rescue(ctx context.Context) (int, error) {
	now := q.now()
	var back, dead []string
	err := q.db.Tx(ctx, func(tx store.Tx) error {
		back, dead = nil, nil
		if _, err := tx.ExecContext(ctx, `UPDATE job_attempts SET outcome = 'lease_expired', finished_at = $1,
			error = 'lease expired: node stopped renewing it'
			WHERE outcome = 'running' AND EXISTS (SELECT 1 FROM jobs j
				WHERE j.id = job_attempts.job_id AND j.attempt = job_attempts.attempt
				AND j.state = 'running' AND j.locked_until < $1)`, now); err != nil {
			return err
		}
		var err error
		dead, err = queryIDs(ctx, tx, `UPDATE jobs SET state = 'dead', finished_at = $1, updated_at = $1,
			last_error = 'lease expired on node ' || locked_by, locked_by = NULL, locked_until = NULL
			WHERE state = 'running' AND locked_until < $1 AND attempt >= max_attempts
			RETURNING id`, now)
		if err != nil {
			return err
		}
		back, err = queryIDs(ctx, tx, `UPDATE jobs SET state = 'available', run_at = $1, updated_at = $1,
			last_error = 'lease expired on node ' || locked_by, locked_by = NULL, locked_until = NULL
			WHERE state = 'running' AND locked_until < $1
			RETURNING id`, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, jobID := range back {
		q.log.Warn("rescued job whose lease expired", "job_id", jobID)
	}
	for _, jobID := range dead {
		q.log.Error("job whose lease expired has no attempts left; dead", "job_id", jobID)
	}
	q.rescued.Add(uint64(len(back) + len(dead)))
	q.dead.Add(uint64(len(dead)))
	if len(back) > 0 {
		signal(q.wake)
	}
	return len(back) + len(dead), nil
}

func queryIDs(ctx context.Context, tx store.Querier, query string, args ...any) ([]string, error) {
	return store.Strings(ctx, tx, query, args...)
}

// cleanup deletes completed and cancelled jobs (and, by cascade, their
// attempts) that finished longer than Retention ago, a batch per statement.
// A batch that times out halves the batch size, so a struggling database
// gets smaller statements rather than the same failing one again.
func (q *Queue) cleanup(ctx context.Context) (int, error) {
	cutoff := q.now().Add(-q.opts.Retention)
	batch, total := cleanupBatch, 0
	for {
		bctx, cancel := context.WithTimeout(ctx, dbTimeout)
		res, err := q.db.W.ExecContext(bctx, `DELETE FROM jobs WHERE id IN (
			SELECT id FROM jobs WHERE state IN ('completed', 'cancelled') AND finished_at < $1
			ORDER BY finished_at LIMIT $2)`, cutoff, batch)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil && batch > 50 {
			batch /= 2
			continue
		}
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < int64(batch) {
			if total > 0 {
				q.log.Info("deleted old jobs", "count", total)
			}
			return total, nil
		}
	}
}
