// Package jobs is fairlead's background job queue and transactional outbox.
//
// Anything that leaves the process (mail, SMS, webhooks, letter batches) is
// enqueued with Enqueue inside the same transaction as the state change that
// caused it: if the transaction rolls back the job never existed, and until it
// commits no worker can see it. A Queue then claims due jobs from the jobs
// table, runs the registered Handler and records every attempt in
// job_attempts. Delivery is at least once: a handler may run again after a
// crash, so receivers get an idempotency key (the job ID is a good one).
//
// We wrote this small package instead of adopting River: River's SQLite
// driver is early-stage, and fairlead needs only a fraction of River. The
// shape is River's all the same (claim with FOR UPDATE SKIP LOCKED on
// PostgreSQL, attempt^4 backoff, Cancel and Snooze from handlers, leases that
// other nodes rescue, batched clean-up), so moving later stays cheap.
//
// The claim query is the only SQL that differs between SQLite and PostgreSQL.
package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// State is where a job is in its life. The values are those of the CHECK
// constraint on jobs.state.
type State string

// The states of a job. Dead is the dead-letter state: a job lands there when
// it has used up its attempts or its handler cancelled it, and it stays there
// (the clean-up keeps it) until someone retries it.
const (
	StateAvailable State = "available"
	StateRunning   State = "running"
	StateCompleted State = "completed"
	StateDead      State = "dead"
	StateCancelled State = "cancelled"
)

// States lists every state, for gauges and for validating filters.
var States = []State{StateAvailable, StateRunning, StateCompleted, StateDead, StateCancelled}

// Outcome is how one attempt ended. The values are those of the CHECK
// constraint on job_attempts.outcome.
type Outcome string

// The outcomes of an attempt. Released attempts (graceful stop, snooze) did
// not cost the job an attempt; lease_expired ones belonged to a node that
// stopped answering and was rescued by another.
const (
	OutcomeRunning      Outcome = "running"
	OutcomeCompleted    Outcome = "completed"
	OutcomeFailed       Outcome = "failed"
	OutcomeReleased     Outcome = "released"
	OutcomeLeaseExpired Outcome = "lease_expired"
)

// DefaultMaxAttempts is used when neither the caller nor the kind says how
// often a job may be tried. With attempt^4 backoff ten attempts span about
// four hours, long enough to ride out a mail server's bad afternoon.
const DefaultMaxAttempts = 10

// Job is one row of the jobs table.
type Job struct {
	ID string `json:"id"`
	// WorkspaceID is empty for system jobs.
	WorkspaceID string `json:"workspace_id"`
	Kind        string `json:"kind"`
	// Args is the JSON the job was enqueued with. It may hold personal data:
	// never log it.
	Args        json.RawMessage `json:"args"`
	State       State           `json:"state"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	RunAt       time.Time       `json:"run_at"`
	LockedBy    string          `json:"locked_by,omitempty"`
	LockedUntil *time.Time      `json:"locked_until,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	UniqueKey   string          `json:"unique_key,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
}

// DecodeArgs unmarshals the job's arguments into v. A decoding failure comes
// back wrapped in Cancel: retrying cannot repair the stored arguments, so a
// handler that returns it sends the job straight to the dead state.
func (j *Job) DecodeArgs(v any) error {
	if err := json.Unmarshal(j.Args, v); err != nil {
		return Cancel(fmt.Errorf("decode args of %s job: %w", j.Kind, err))
	}
	return nil
}

// Attempt is one row of job_attempts: one run of a job on one node.
type Attempt struct {
	ID         string     `json:"id"`
	JobID      string     `json:"job_id"`
	Attempt    int        `json:"attempt"`
	Node       string     `json:"node"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Outcome    Outcome    `json:"outcome"`
	Error      string     `json:"error,omitempty"`
}

// ErrJobState means the job is not in a state that allows the requested
// change (cancelling a running job, retrying a completed one). The HTTP layer
// answers 409. Errors returned for it are *StateError values.
var ErrJobState = errors.New("job state does not allow this")

// StateError says which change a job's state refused. errors.Is(err,
// ErrJobState) is true for it.
type StateError struct {
	JobID string
	Op    string // "retry" or "cancel"
	State State  // the state the job is in
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s job %s: it is %s", e.Op, e.JobID, e.State)
}

// Is makes errors.Is(err, ErrJobState) work.
func (e *StateError) Is(target error) bool { return target == ErrJobState }

// cancelError is what Cancel returns; the queue recognises it with errors.As.
type cancelError struct{ err error }

func (e *cancelError) Error() string { return "cancelled: " + e.err.Error() }
func (e *cancelError) Unwrap() error { return e.err }

// Cancel wraps a handler error that retrying cannot fix (a deleted lead, a
// malformed address): the job goes to the dead state at once instead of
// using up its attempts.
func Cancel(err error) error {
	if err == nil {
		err = errors.New("cancelled by handler")
	}
	return &cancelError{err: err}
}

// snoozeError is what Snooze returns.
type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.d) }

// Snooze tells the queue to run the job again after d without counting this
// run as an attempt: for work that waits on something else (a rate limit, a
// batch window) rather than failing.
func Snooze(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return &snoozeError{d: d}
}

// EnqueueParams describe a job to enqueue.
type EnqueueParams struct {
	// WorkspaceID owns the job; empty for system jobs.
	WorkspaceID string
	// Kind selects the Handler.
	Kind string
	// Args is encoded as JSON (nil becomes {}).
	Args any
	// RunAt delays the job; zero means now.
	RunAt time.Time
	// MaxAttempts caps tries; zero means the kind's default (when enqueued
	// through a Queue that registered the kind) or DefaultMaxAttempts.
	MaxAttempts int
	// UniqueKey, when set, makes the enqueue idempotent: if a job of the same
	// workspace and kind with this key still exists (in any state, until the
	// clean-up deletes it), its ID is returned and nothing is inserted. The key
	// is scoped to workspace and kind so that one workspace can never learn
	// another's job IDs through a colliding key.
	UniqueKey string
}

// maxUniqueKey keeps stored keys well below index limits.
const maxUniqueKey = 200

// Enqueue inserts a job using q, which should be the caller's transaction:
// the job then commits or rolls back together with the change that caused
// it. It returns the new job's ID, or the existing one's when UniqueKey
// matched.
//
// Enqueue knows no Queue, so a zero MaxAttempts means DefaultMaxAttempts and
// workers notice the job at their next poll. Queue.Enqueue applies the
// kind's defaults and wakes the local workers at once.
func Enqueue(ctx context.Context, q store.Querier, p EnqueueParams) (string, error) {
	return enqueue(ctx, q, p, time.Now().UTC(), DefaultMaxAttempts)
}

func enqueue(ctx context.Context, q store.Querier, p EnqueueParams, now time.Time, defaultMax int) (string, error) {
	_, args, err := jobRow(p, now, defaultMax)
	if err != nil {
		return "", err
	}
	uniqueKey := args[8]
	var got string
	err = q.QueryRowContext(ctx, `INSERT INTO jobs
		(id, workspace_id, kind, args, state, attempt, max_attempts, run_at, unique_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (unique_key) DO NOTHING
		RETURNING id`, args...).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) && uniqueKey != nil {
		// The key exists: hand back that job, as an idempotent enqueue should.
		err = q.QueryRowContext(ctx, `SELECT id FROM jobs WHERE unique_key = $1`, uniqueKey).Scan(&got)
	}
	if err != nil {
		return "", fmt.Errorf("enqueue %s job: %w", p.Kind, store.MapError(err))
	}
	return got, nil
}

// jobCols is the number of values of a job row (jobRow).
const jobCols = 11

// jobRow checks p and makes the new job's row: its ID and the values of
// the columns id, workspace_id, kind, args, state, attempt, max_attempts,
// run_at, unique_key, created_at, updated_at.
func jobRow(p EnqueueParams, now time.Time, defaultMax int) (string, []any, error) {
	if p.Kind == "" {
		return "", nil, errors.New("enqueue job: kind is required")
	}
	if p.WorkspaceID != "" && !id.Valid(p.WorkspaceID) {
		return "", nil, fmt.Errorf("enqueue %s job: workspace ID %q is not a UUID", p.Kind, p.WorkspaceID)
	}
	if p.MaxAttempts < 0 {
		return "", nil, fmt.Errorf("enqueue %s job: max attempts %d is negative", p.Kind, p.MaxAttempts)
	}
	if len(p.UniqueKey) > maxUniqueKey {
		return "", nil, fmt.Errorf("enqueue %s job: unique key longer than %d bytes", p.Kind, maxUniqueKey)
	}
	args, err := encodeArgs(p.Args)
	if err != nil {
		return "", nil, fmt.Errorf("enqueue %s job: encode args: %w", p.Kind, err)
	}
	maxAttempts := p.MaxAttempts
	if maxAttempts == 0 {
		maxAttempts = defaultMax
	}
	now = dbTime(now)
	runAt := now
	if !p.RunAt.IsZero() {
		runAt = dbTime(p.RunAt)
	}
	var uniqueKey any
	if p.UniqueKey != "" {
		uniqueKey = scopedKey(p.WorkspaceID, p.Kind, p.UniqueKey)
	}
	jobID := id.New()
	return jobID, []any{jobID, nullString(p.WorkspaceID), p.Kind, args, string(StateAvailable), 0, maxAttempts, runAt, uniqueKey, now, now}, nil
}

// enqueueNew inserts jobs that are new by construction, in one statement
// per few hundred. Unlike enqueue, a unique key that exists already is not
// the existing job but an error (store.ErrConflict), and nothing is read
// back: the statement is a plain multi-row INSERT that a caller may send
// together with others.
func enqueueNew(ctx context.Context, q store.Querier, d store.Dialect, ps []EnqueueParams, now time.Time, defaultMax func(kind string) int) ([]string, error) {
	ids := make([]string, 0, len(ps))
	const per = 400 // far below either engine's limit of parameters
	for rest := ps; len(rest) > 0; {
		part := rest[:min(per, len(rest))]
		rest = rest[len(part):]
		args := make([]any, 0, jobCols*len(part))
		for _, p := range part {
			jobID, row, err := jobRow(p, now, defaultMax(p.Kind))
			if err != nil {
				return nil, err
			}
			ids = append(ids, jobID)
			args = append(args, row...)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO jobs (id, workspace_id, kind, args, state, attempt, max_attempts, run_at, unique_key, created_at, updated_at) VALUES `+
			store.Values(d, len(part), jobCols), args...); err != nil {
			return nil, fmt.Errorf("enqueue jobs: %w", store.MapError(err))
		}
	}
	return ids, nil
}

func scopedKey(workspaceID, kind, key string) string {
	return keyPrefix(workspaceID, kind) + key
}

func keyPrefix(workspaceID, kind string) string {
	if workspaceID == "" {
		workspaceID = "system"
	}
	return workspaceID + "/" + kind + "/"
}

func encodeArgs(v any) (string, error) {
	switch a := v.(type) {
	case nil:
		return "{}", nil
	case json.RawMessage:
		if len(a) == 0 {
			return "{}", nil
		}
		if !json.Valid(a) {
			return "", errors.New("args are not valid JSON")
		}
		return string(a), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// dbTime normalises times before they reach the database: UTC, because
// SQLite compares timestamps as text, and microseconds, because that is what
// PostgreSQL keeps, so both engines read back the same value.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
