package webhook

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Delivery is one event for one endpoint, with its attempt log.
type Delivery struct {
	ID          string `json:"id"`
	WorkspaceID string `json:"workspace_id"`
	EndpointID  string `json:"endpoint_id"`
	EventID     string `json:"event_id"`
	EventType   string `json:"event_type"`
	ContactID   string `json:"contact_id,omitempty"`
	State       string `json:"state"`
	// Attempts counts tries since the delivery was last queued.
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// Log holds every attempt, oldest first, redeliveries included.
	Log []Attempt `json:"log"`
}

// Attempt is one request to the receiver. Error names the failure (a
// timeout, a refused address, the status) and never quotes the answer.
type Attempt struct {
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// DeliveryFilter filters and pages Deliveries.
type DeliveryFilter struct {
	// State filters when not empty (pending, delivered, dead).
	State string
	// Limit caps the page (default 50, at most 500).
	Limit int
	// Before is the ID of the last delivery of the previous page.
	Before string
}

const deliveryColumns = `d.id, d.workspace_id, d.endpoint_id, d.event_id, e.type, e.contact_id, d.state, d.attempts,
	d.next_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, d.updated_at`

const deliveryFrom = ` FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id AND e.workspace_id = d.workspace_id`

func scanDelivery(sc interface{ Scan(...any) error }) (Delivery, error) {
	var (
		d                  Delivery
		contactID, lastErr sql.NullString
		status             sql.NullInt64
		delivered          sql.NullTime
		next               time.Time
	)
	if err := sc.Scan(&d.ID, &d.WorkspaceID, &d.EndpointID, &d.EventID, &d.EventType, &contactID, &d.State, &d.Attempts,
		&next, &status, &lastErr, &delivered, &d.CreatedAt, &d.UpdatedAt); err != nil {
		return Delivery{}, err
	}
	d.ContactID, d.LastError, d.LastStatus = contactID.String, lastErr.String, int(status.Int64)
	if d.State == StatePending {
		n := next.UTC()
		d.NextAttemptAt = &n
	}
	if delivered.Valid {
		t := delivered.Time.UTC()
		d.DeliveredAt = &t
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	d.Log = []Attempt{}
	return d, nil
}

// Deliveries lists an endpoint's deliveries, newest first, with their logs.
func (s *Service) Deliveries(ctx context.Context, ws, endpointID string, f DeliveryFilter) ([]Delivery, error) {
	if f.State != "" && !slices.Contains(DeliveryStates, f.State) {
		return nil, validate.OneOf("state", f.State, DeliveryStates)
	}
	if f.Before != "" && !id.Valid(f.Before) {
		return nil, validate.Invalid("before", "before must be the ID of a delivery from the previous page")
	}
	ep, err := s.Endpoint(ctx, ws, endpointID)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	query := `SELECT ` + deliveryColumns + deliveryFrom + ` WHERE d.workspace_id = $1 AND d.endpoint_id = $2`
	args := []any{ep.WorkspaceID, ep.ID}
	if f.State != "" {
		args = append(args, f.State)
		query += fmt.Sprintf(" AND d.state = $%d", len(args))
	}
	if f.Before != "" {
		args = append(args, strings.ToLower(f.Before))
		query += fmt.Sprintf(" AND d.id < $%d", len(args))
	}
	args = append(args, limit)
	query += fmt.Sprintf(" ORDER BY d.id DESC LIMIT $%d", len(args))
	rows, err := s.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.attachLogs(ctx, ep.WorkspaceID, out)
}

func (s *Service) attachLogs(ctx context.Context, ws string, ds []Delivery) error {
	return s.attachLogsIn(ctx, s.db.R, ws, ds)
}

func (s *Service) attachLogsIn(ctx context.Context, q store.Querier, ws string, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	at := map[string]int{}
	args := []any{ws}
	var ph []string
	for i, d := range ds {
		at[d.ID] = i
		args = append(args, d.ID)
		ph = append(ph, fmt.Sprintf("$%d", len(args)))
	}
	rows, err := q.QueryContext(ctx, `SELECT delivery_id, started_at, duration_ms, status_code, error FROM webhook_attempts
		WHERE workspace_id = $1 AND delivery_id IN (`+strings.Join(ph, ", ")+`) ORDER BY started_at, id`, args...)
	if err != nil {
		return fmt.Errorf("read webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dID    string
			a      Attempt
			status sql.NullInt64
			e      sql.NullString
		)
		if err := rows.Scan(&dID, &a.StartedAt, &a.DurationMS, &status, &e); err != nil {
			return err
		}
		a.StartedAt, a.StatusCode, a.Error = a.StartedAt.UTC(), int(status.Int64), e.String
		i := at[dID]
		ds[i].Log = append(ds[i].Log, a)
	}
	return rows.Err()
}

// Delivery returns one delivery of the workspace with its log.
func (s *Service) Delivery(ctx context.Context, ws, deliveryID string) (Delivery, error) {
	return s.deliveryIn(ctx, s.db.R, ws, deliveryID)
}

func (s *Service) deliveryIn(ctx context.Context, q store.Querier, ws, deliveryID string) (Delivery, error) {
	if !id.Valid(ws) || !id.Valid(deliveryID) {
		return Delivery{}, store.ErrNotFound
	}
	d, err := scanDelivery(q.QueryRowContext(ctx, `SELECT `+deliveryColumns+deliveryFrom+` WHERE d.workspace_id = $1 AND d.id = $2`,
		strings.ToLower(ws), strings.ToLower(deliveryID)))
	if err != nil {
		return Delivery{}, store.MapError(err)
	}
	ds := []Delivery{d}
	if err := s.attachLogsIn(ctx, q, d.WorkspaceID, ds); err != nil {
		return Delivery{}, err
	}
	return ds[0], nil
}

// Redeliver queues a delivered or dead delivery again, with the same event
// ID (receivers deduplicate on it) and a fresh count of attempts. It joins
// the end of the endpoint's lane, behind what is queued already.
func (s *Service) Redeliver(ctx context.Context, ws, deliveryID string) (Delivery, error) {
	d, err := s.Delivery(ctx, ws, deliveryID)
	if err != nil {
		return Delivery{}, err
	}
	if d.State == StatePending {
		return Delivery{}, ErrDeliveryPending
	}
	var queued Delivery
	err = s.db.Tx(ctx, func(tx store.Tx) error {
		var disabled sql.NullTime
		if err := tx.QueryRowContext(ctx, `SELECT disabled_at FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2`,
			d.WorkspaceID, d.EndpointID).Scan(&disabled); err != nil {
			return store.MapError(err)
		}
		if disabled.Valid {
			return ErrEndpointDisabled
		}
		var state string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM webhook_deliveries WHERE workspace_id = $1 AND id = $2`,
			d.WorkspaceID, d.ID).Scan(&state); err != nil {
			return store.MapError(err)
		}
		if state == StatePending { // queued again by someone else meanwhile
			return ErrDeliveryPending
		}
		if _, err := s.queue(ctx, tx, d.WorkspaceID, d.EndpointID, "", d.ID, s.now()); err != nil {
			return err
		}
		// The answer is the delivery as queued: read after the commit, a
		// worker may already have sent it again.
		queued, err = s.deliveryIn(ctx, tx, d.WorkspaceID, d.ID)
		return err
	})
	if err != nil {
		return Delivery{}, err
	}
	s.log.Info("webhook delivery queued again", "delivery_id", d.ID, "endpoint_id", d.EndpointID)
	return queued, nil
}

// Recipient is a connected system that received events about a contact,
// for access exports (Art. 15(1)(c)) and erasure follow-up (Art. 19).
type Recipient struct {
	EndpointID     string    `json:"endpoint_id"`
	Name           string    `json:"name"`
	DataCategories []string  `json:"data_categories"`
	EventTypes     []string  `json:"event_types"`
	LastSentAt     time.Time `json:"last_sent_at"`
	// Deliveries counts the events about the contact the endpoint received.
	Deliveries int `json:"deliveries"`
}

// Recipients lists the endpoints that were sent events about the contact.
func (s *Service) Recipients(ctx context.Context, ws, contactID string) ([]Recipient, error) {
	out := []Recipient{}
	if !id.Valid(ws) || !id.Valid(contactID) {
		return out, nil
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	rows, err := s.db.R.QueryContext(ctx, `SELECT d.endpoint_id, e.type, MAX(d.delivered_at), COUNT(*)`+deliveryFrom+`
		WHERE d.workspace_id = $1 AND e.contact_id = $2 AND d.state = 'delivered'
		GROUP BY d.endpoint_id, e.type ORDER BY d.endpoint_id, e.type`, ws, contactID)
	if err != nil {
		return nil, fmt.Errorf("list webhook recipients: %w", err)
	}
	type sent struct {
		ep, typ string
		at      time.Time
		n       int
	}
	var ss []sent
	for rows.Next() {
		var x sent
		var at any
		if err := rows.Scan(&x.ep, &x.typ, &at, &x.n); err != nil {
			rows.Close()
			return nil, err
		}
		x.at = anyTime(at)
		ss = append(ss, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, x := range ss {
		if n := len(out); n > 0 && out[n-1].EndpointID == x.ep {
			out[n-1].EventTypes = append(out[n-1].EventTypes, x.typ)
			out[n-1].LastSentAt = later(out[n-1].LastSentAt, x.at)
			out[n-1].Deliveries += x.n
			continue
		}
		ep, err := s.Endpoint(ctx, ws, x.ep)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Recipient{EndpointID: ep.ID, Name: ep.Name, DataCategories: ep.DataCategories, EventTypes: []string{x.typ}, LastSentAt: x.at, Deliveries: x.n})
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// anyTime reads an aggregate timestamp: PostgreSQL returns time.Time,
// SQLite the stored text (an aggregate has no declared type).
func anyTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x.UTC()
	case string:
		return parseSQLiteTime(x)
	case []byte:
		return parseSQLiteTime(string(x))
	}
	return time.Time{}
}

func parseSQLiteTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
