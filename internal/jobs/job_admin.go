package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Every method here takes the workspace and filters on it as well as on the
// job ID, so one workspace can neither see nor change another's jobs: a
// foreign ID answers store.ErrNotFound exactly like an unknown one. System
// jobs (no workspace) are not reachable through them at all.

// ListParams filter and page List.
type ListParams struct {
	// State and Kind filter when not empty.
	State State
	Kind  string
	// Limit caps the page (default 50, at most 500).
	Limit int
	// Before is a cursor: the ID of the last job of the previous page. Jobs
	// come newest first; IDs are UUIDv7, so ID order is creation order.
	Before string
}

const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// List returns a workspace's jobs, newest first.
func (q *Queue) List(ctx context.Context, workspaceID string, p ListParams) ([]Job, error) {
	if p.State != "" && !slices.Contains(States, p.State) {
		allowed := make([]string, len(States))
		for i, s := range States {
			allowed[i] = string(s)
		}
		return nil, validate.OneOf("state", string(p.State), allowed)
	}
	if p.Before != "" && !id.Valid(p.Before) {
		return nil, validate.Invalid("before", "before must be the ID of a job from the previous page")
	}
	if !id.Valid(workspaceID) {
		return []Job{}, nil
	}
	limit := p.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	query := `SELECT ` + jobColumns + ` FROM jobs WHERE workspace_id = $1`
	args := []any{workspaceID}
	if p.State != "" {
		args = append(args, p.State)
		query += fmt.Sprintf(" AND state = $%d", len(args))
	}
	if p.Kind != "" {
		args = append(args, p.Kind)
		query += fmt.Sprintf(" AND kind = $%d", len(args))
	}
	if p.Before != "" {
		args = append(args, p.Before)
		query += fmt.Sprintf(" AND id < $%d", len(args))
	}
	args = append(args, limit)
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := q.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	out := []Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return out, nil
}

// Get returns one job of a workspace.
func (q *Queue) Get(ctx context.Context, workspaceID, jobID string) (Job, error) {
	if !id.Valid(workspaceID) || !id.Valid(jobID) {
		return Job{}, store.ErrNotFound
	}
	j, err := scanJob(q.db.R.QueryRowContext(ctx,
		`SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND workspace_id = $2`, jobID, workspaceID))
	if err != nil {
		return Job{}, store.MapError(err)
	}
	return j, nil
}

// Attempts returns the attempt history of one job, oldest first. It
// survives Retry, so an operator sees every run.
func (q *Queue) Attempts(ctx context.Context, workspaceID, jobID string) ([]Attempt, error) {
	if _, err := q.Get(ctx, workspaceID, jobID); err != nil {
		return nil, err
	}
	rows, err := q.db.R.QueryContext(ctx, `SELECT `+attemptColumns+` FROM job_attempts
		WHERE job_id = $1 AND workspace_id = $2 ORDER BY started_at, id`, jobID, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list job attempts: %w", err)
	}
	defer rows.Close()
	out := []Attempt{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fmt.Errorf("list job attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list job attempts: %w", err)
	}
	return out, nil
}

// Retry makes a dead or cancelled job available now. Its attempt counter
// starts again at zero, so it gets a full set of MaxAttempts and the short
// early backoffs again (someone presumably fixed the cause); the attempt
// history and last error stay. Other states answer a *StateError.
func (q *Queue) Retry(ctx context.Context, workspaceID, jobID string) (Job, error) {
	if !id.Valid(workspaceID) || !id.Valid(jobID) {
		return Job{}, store.ErrNotFound
	}
	now := q.now()
	j, err := scanJob(q.db.W.QueryRowContext(ctx, `UPDATE jobs SET state = 'available', attempt = 0,
		run_at = $1, updated_at = $1, finished_at = NULL, locked_by = NULL, locked_until = NULL
		WHERE id = $2 AND workspace_id = $3 AND state IN ('dead', 'cancelled')
		RETURNING `+jobColumns, now, jobID, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, q.refusal(ctx, workspaceID, jobID, "retry")
	}
	if err != nil {
		return Job{}, fmt.Errorf("retry job: %w", store.MapError(err))
	}
	q.notify()
	return j, nil
}

// Cancel stops an available job (waiting for its first run or a retry)
// from running. A running job cannot be cancelled, because its handler may
// already have had effects; finished jobs have nothing left to cancel. Both
// answer a *StateError.
func (q *Queue) Cancel(ctx context.Context, workspaceID, jobID string) (Job, error) {
	if !id.Valid(workspaceID) || !id.Valid(jobID) {
		return Job{}, store.ErrNotFound
	}
	now := q.now()
	j, err := scanJob(q.db.W.QueryRowContext(ctx, `UPDATE jobs SET state = 'cancelled',
		finished_at = $1, updated_at = $1
		WHERE id = $2 AND workspace_id = $3 AND state = 'available'
		RETURNING `+jobColumns, now, jobID, workspaceID))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, q.refusal(ctx, workspaceID, jobID, "cancel")
	}
	if err != nil {
		return Job{}, fmt.Errorf("cancel job: %w", store.MapError(err))
	}
	return j, nil
}

// refusal explains why a guarded update matched no row: the job is not
// there (for this workspace) or its state forbids the change.
func (q *Queue) refusal(ctx context.Context, workspaceID, jobID, op string) error {
	var state State
	err := q.db.W.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = $1 AND workspace_id = $2`,
		jobID, workspaceID).Scan(&state)
	if err != nil {
		return store.MapError(err)
	}
	return &StateError{JobID: jobID, Op: op, State: state}
}

// CountByState counts jobs of all workspaces per state, every state
// present, for a gauge on /metrics.
func (q *Queue) CountByState(ctx context.Context) (map[string]int, error) {
	out := make(map[string]int, len(States))
	for _, s := range States {
		out[string(s)] = 0
	}
	rows, err := q.db.R.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// Stats are this node's counters since New, for /metrics (label them with
// Node). They only grow, except Running.
type Stats struct {
	Node string
	// Claimed counts attempts started.
	Claimed uint64
	// Completed counts jobs this node completed.
	Completed uint64
	// Failed counts attempts that failed (error, panic, timeout), whether
	// the job was retried or went dead.
	Failed uint64
	// Dead counts jobs this node moved to the dead state, including rescued
	// ones without attempts left.
	Dead uint64
	// Released counts jobs handed back unfinished on Stop.
	Released uint64
	// Snoozed counts handler snoozes.
	Snoozed uint64
	// Rescued counts jobs of other (dead) nodes whose lease this node
	// expired.
	Rescued uint64
	// Running is the number of handlers running now.
	Running int
}

// Stats returns this node's counters.
func (q *Queue) Stats() Stats {
	return Stats{
		Node:      q.opts.Node,
		Claimed:   q.claimed.Load(),
		Completed: q.completed.Load(),
		Failed:    q.failed.Load(),
		Dead:      q.dead.Load(),
		Released:  q.released.Load(),
		Snoozed:   q.snoozed.Load(),
		Rescued:   q.rescued.Load(),
		Running:   q.running(),
	}
}
