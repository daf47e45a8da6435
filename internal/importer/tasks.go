package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Task statuses.
var TaskStatuses = []string{"open", "done"}

// Task is the duty to inform one person of data obtained from a third
// party (Art. 14 GDPR).
type Task struct {
	ID         string     `json:"id"`
	ContactID  string     `json:"contact_id"`
	ImportID   string     `json:"import_id"`
	SourceName string     `json:"source_name"`
	ObtainedAt time.Time  `json:"obtained_at"`
	DueAt      time.Time  `json:"due_at"`
	Status     string     `json:"status"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
	DoneBy     string     `json:"done_by,omitempty"`
	// NoticeEventID is the notice_given event in the ledger.
	NoticeEventID string `json:"notice_event_id,omitempty"`
	// Overdue is true for an open task past its due date.
	Overdue bool `json:"overdue"`
}

// TaskParams select tasks.
type TaskParams struct {
	Status string // open (default), done, or all
	After  string // ID of the last task of the previous page
	Limit  int    // 1..500, default 50
}

const taskCols = `id, contact_id, import_id, source_name, obtained_at, due_at, status, done_at, done_by, notice_event_id`

func (s *Service) scanTask(sc interface{ Scan(...any) error }) (Task, error) {
	var t Task
	var done sql.NullTime
	if err := sc.Scan(&t.ID, &t.ContactID, &t.ImportID, &t.SourceName, &t.ObtainedAt, &t.DueAt, &t.Status, &done, &t.DoneBy, &t.NoticeEventID); err != nil {
		return Task{}, store.MapError(err)
	}
	t.ObtainedAt, t.DueAt = t.ObtainedAt.UTC(), t.DueAt.UTC()
	if done.Valid {
		d := done.Time.UTC()
		t.DoneAt = &d
	}
	t.Overdue = t.Status == "open" && s.now().After(t.DueAt)
	return t, nil
}

// Tasks lists the Art. 14 tasks of the workspace, the earliest due first.
func (s *Service) Tasks(ctx context.Context, ws string, p TaskParams) ([]Task, error) {
	if p.Status == "" {
		p.Status = "open"
	}
	if p.Status != "all" && p.Status != "open" && p.Status != "done" {
		return nil, validate.OneOf("status", p.Status, []string{"open", "done", "all"})
	}
	if p.Limit == 0 {
		p.Limit = 50
	}
	if p.Limit < 1 || p.Limit > 500 {
		return nil, validate.Invalid("limit", "limit must be a whole number from 1 to 500")
	}
	if p.After != "" && !id.Valid(p.After) {
		return nil, validate.Invalid("after", "after must be the id of a task (the last one of the previous page)")
	}
	out := []Task{}
	if !id.Valid(ws) {
		return out, nil
	}
	q := `SELECT ` + taskCols + ` FROM art14_tasks WHERE workspace_id = $1`
	args := []any{strings.ToLower(ws)}
	if p.Status != "all" {
		args = append(args, p.Status)
		q += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	if p.After != "" {
		args = append(args, strings.ToLower(p.After))
		q += fmt.Sprintf(` AND id > $%d`, len(args))
	}
	args = append(args, p.Limit)
	q += fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args))
	rows, err := s.DB.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list art. 14 tasks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := s.scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Task returns one task.
func (s *Service) Task(ctx context.Context, ws, taskID string) (Task, error) {
	if !id.Valid(ws) || !id.Valid(taskID) {
		return Task{}, store.ErrNotFound
	}
	return s.scanTask(s.DB.R.QueryRowContext(ctx, `SELECT `+taskCols+` FROM art14_tasks WHERE workspace_id = $1 AND id = $2`, strings.ToLower(ws), strings.ToLower(taskID)))
}

// Done is the input of MarkDone: the notice the person was given and on
// which channel.
type Done struct {
	// Notice is the version hash of the notice given (a privacy_notice of
	// the workspace that names the source, Art. 14(2)(f)).
	Notice  string     `json:"notice"`
	Channel string     `json:"channel"`
	At      *time.Time `json:"at,omitempty"`
}

// MarkDone records that the person was informed: a notice_given event in
// the ledger, and the task closed with it, in one transaction.
func (s *Service) MarkDone(ctx context.Context, ws, taskID string, d Done, actor consent.Actor) (Task, error) {
	if !id.Valid(ws) || !id.Valid(taskID) {
		return Task{}, store.ErrNotFound
	}
	ws, taskID = strings.ToLower(ws), strings.ToLower(taskID)
	if d.Notice == "" {
		return Task{}, validate.Required("notice")
	}
	if d.Channel == "" {
		return Task{}, &validate.Error{Field: "channel", Code: "required", Allowed: consent.Channels, Message: "channel is required: the channel the notice was given on"}
	}
	err := s.DB.Tx(ctx, func(tx store.Tx) error {
		t, err := s.scanTask(tx.QueryRowContext(ctx, `SELECT `+taskCols+` FROM art14_tasks WHERE workspace_id = $1 AND id = $2`, ws, taskID))
		if err != nil {
			return err
		}
		if t.Status == "done" {
			return &consent.ConflictError{Field: "status", Code: "already_done", Message: "this task is already done"}
		}
		now := s.now()
		ev, err := s.Ledger.Append(ctx, tx, ws, t.ContactID, consent.NewEvent{Kind: consent.KindNoticeGiven, Channels: []string{d.Channel}, OccurredAt: d.At,
			Details: consent.Details{Notice: d.Notice}, Evidence: consent.EvidenceInput{Source: "art14:" + taskID}}, actor)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE art14_tasks SET status = 'done', done_at = $3, done_by = $4, notice_event_id = $5 WHERE workspace_id = $1 AND id = $2`,
			ws, taskID, now, actor.String(), ev.ID)
		return err
	})
	if err != nil {
		return Task{}, err
	}
	return s.Task(ctx, ws, taskID)
}

// ImportInfo is one recorded import.
type ImportInfo struct {
	ID         string     `json:"id"`
	SourceName string     `json:"source_name"`
	DataSource string     `json:"data_source"`
	Format     string     `json:"format"`
	Actor      string     `json:"actor"`
	Lines      int        `json:"lines"`
	Created    int        `json:"created"`
	Enriched   int        `json:"enriched"`
	Unchanged  int        `json:"unchanged"`
	Rejected   int        `json:"rejected"`
	Suppressed int        `json:"suppressed"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// GetImport returns one recorded import.
func (s *Service) GetImport(ctx context.Context, ws, importID string) (ImportInfo, error) {
	if !id.Valid(ws) || !id.Valid(importID) {
		return ImportInfo{}, store.ErrNotFound
	}
	var x ImportInfo
	var fin sql.NullTime
	err := s.DB.R.QueryRowContext(ctx, `SELECT id, source_name, data_source, format, actor, lines, created, enriched, unchanged, rejected, suppressed, started_at, finished_at
		FROM imports WHERE workspace_id = $1 AND id = $2`, strings.ToLower(ws), strings.ToLower(importID)).
		Scan(&x.ID, &x.SourceName, &x.DataSource, &x.Format, &x.Actor, &x.Lines, &x.Created, &x.Enriched, &x.Unchanged, &x.Rejected, &x.Suppressed, &x.StartedAt, &fin)
	if errors.Is(err, sql.ErrNoRows) {
		return ImportInfo{}, store.ErrNotFound
	}
	if err != nil {
		return ImportInfo{}, err
	}
	x.StartedAt = x.StartedAt.UTC()
	if fin.Valid {
		f := fin.Time.UTC()
		x.FinishedAt = &f
	}
	return x, nil
}
