// Package audit is the audit trail of technical and organisational
// measures (Art. 32 GDPR; the German Eingabekontrolle and
// Weitergabekontrolle): every change, export and decision override, by
// which user or token, when, through which request. It records IDs and
// field names, never personal values, and its table refuses UPDATE and
// DELETE.
package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Actions recorded.
const (
	ActionCreate   = "create"
	ActionUpdate   = "update"
	ActionDelete   = "delete"
	ActionExport   = "export"
	ActionOverride = "override"
	ActionLogin    = "login"
	// ActionRead is a read that disclosed personal data.
	ActionRead = "read"
)

// Actions lists every action, for filters.
var Actions = []string{ActionCreate, ActionUpdate, ActionDelete, ActionExport, ActionOverride, ActionLogin, ActionRead}

// ActorTypes lists who can act.
var ActorTypes = []string{"user", "token", "system", "cli"}

// Entry is one audit event.
type Entry struct {
	ID          string    `json:"id"`
	WorkspaceID string    `json:"workspace_id"`
	At          time.Time `json:"at"`
	ActorType   string    `json:"actor_type"`
	ActorID     string    `json:"actor_id"`
	RequestID   string    `json:"request_id"`
	Action      string    `json:"action"`
	// Route is the operation, e.g. "PATCH /api/v1/contacts/{id}".
	Route string `json:"route"`
	// ResourceID is the ID (or key) the operation named, "" for none.
	ResourceID string `json:"resource_id"`
	// Fields are the names of the fields sent, never their values.
	Fields []string `json:"fields"`
	Status int      `json:"status"`
}

// Trail writes and reads the audit trail.
type Trail struct {
	db  *store.DB
	now func() time.Time
}

// New works on db.
func New(db *store.DB, now func() time.Time) *Trail {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Trail{db: db, now: now}
}

// Record appends e using q (a transaction or nil for the write pool).
func (t *Trail) Record(ctx context.Context, q store.Querier, e Entry) error {
	if q == nil {
		q = t.db.W
	}
	if !id.Valid(e.WorkspaceID) {
		return store.ErrNotFound
	}
	if !slices.Contains(Actions, e.Action) {
		return validate.OneOf("action", e.Action, Actions)
	}
	if !slices.Contains(ActorTypes, e.ActorType) {
		return validate.OneOf("actor_type", e.ActorType, ActorTypes)
	}
	if e.At.IsZero() {
		e.At = t.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	if e.Fields == nil {
		e.Fields = []string{}
	}
	fields, _ := json.Marshal(e.Fields)
	_, err := q.ExecContext(ctx, `INSERT INTO audit_events (id, workspace_id, at, actor_type, actor_id, request_id, action, route, resource_id, fields, status)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		id.NewAt(e.At), e.WorkspaceID, e.At, e.ActorType, e.ActorID, e.RequestID, e.Action, e.Route, e.ResourceID, string(fields), e.Status)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Filter selects entries; zero fields select everything.
type Filter struct {
	From, To   time.Time // To exclusive
	ActorID    string
	Action     string
	ResourceID string
	Route      string
	After      string // ID of the last entry of the previous page
	Limit      int    // 1..1000, default 100
}

// List returns entries in time order.
func (t *Trail) List(ctx context.Context, ws string, f Filter) ([]Entry, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	if f.Action != "" && !slices.Contains(Actions, f.Action) {
		return nil, validate.OneOf("action", f.Action, Actions)
	}
	if f.After != "" && !id.Valid(f.After) {
		return nil, validate.Invalid("after", "after must be the ID of an audit entry")
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > 1000 {
		return nil, validate.Invalid("limit", "limit must be 1 to 1000")
	}
	where := []string{"workspace_id = $1"}
	args := []any{ws}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.From.IsZero() {
		add("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		add("at < ?", f.To.UTC())
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.ResourceID != "" {
		add("resource_id = ?", f.ResourceID)
	}
	if f.Route != "" {
		add("route = ?", f.Route)
	}
	if f.After != "" {
		add("id > ?", f.After)
	}
	args = append(args, f.Limit)
	rows, err := t.db.R.QueryContext(ctx, `SELECT id, workspace_id, at, actor_type, actor_id, request_id, action, route, resource_id, fields, status
		FROM audit_events WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var fields string
		if err := rows.Scan(&e.ID, &e.WorkspaceID, &e.At, &e.ActorType, &e.ActorID, &e.RequestID, &e.Action, &e.Route, &e.ResourceID, &fields, &e.Status); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		_ = json.Unmarshal([]byte(fields), &e.Fields)
		out = append(out, e)
	}
	return out, rows.Err()
}

// WriteCSV writes entries as CSV with a header line; fields are joined by
// spaces.
func WriteCSV(w io.Writer, es []Entry) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "at", "actor_type", "actor_id", "request_id", "action", "route", "resource_id", "fields", "status"})
	for _, e := range es {
		_ = cw.Write([]string{e.ID, e.At.Format(time.RFC3339Nano), e.ActorType, e.ActorID, e.RequestID, e.Action, e.Route, e.ResourceID, strings.Join(e.Fields, " "), strconv.Itoa(e.Status)})
	}
	cw.Flush()
	return cw.Error()
}
