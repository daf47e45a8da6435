package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// followerDelay is when the job of a delivery queued behind others starts.
const followerDelay = 5 * time.Second

// deliverArgs are the arguments of a webhook.deliver job: IDs only.
type deliverArgs struct {
	DeliveryID string `json:"delivery_id"`
}

// Notify records an event and queues one delivery to every enabled endpoint
// of the workspace subscribed to eventType, all in q, which must be the
// caller's transaction: the deliveries exist exactly when the change that
// caused them commits. data must hold IDs, codes and field names, not
// personal values: it goes to every subscribed system as it is.
//
// Endpoints are numbered under a row lock on each endpoint, so deliveries
// to one endpoint are ordered as their transactions commit.
func (s *Service) Notify(ctx context.Context, q store.Querier, ws, eventType, contactID string, data map[string]any) error {
	if !slices.Contains(EventTypes, eventType) {
		return validate.OneOf("type", eventType, EventTypes)
	}
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	if contactID != "" && !id.Valid(contactID) {
		return validate.Invalid("contact_id", "contact_id must be a contact's ID")
	}
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	eps, err := s.subscribed(ctx, q, ws, eventType)
	if err != nil || len(eps) == 0 {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	now := s.now()
	ev := Event{ID: id.New(), Type: eventType, WorkspaceID: ws, ContactID: contactID, OccurredAt: now, Data: data}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", eventType, err)
	}
	var cid any
	if contactID != "" {
		cid = contactID
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO webhook_events (workspace_id, id, type, contact_id, occurred_at, payload)
		VALUES ($1, $2, $3, $4, $5, $6)`, ws, ev.ID, eventType, cid, now, string(payload)); err != nil {
		return fmt.Errorf("store %s event: %w", eventType, store.MapError(err))
	}
	for _, epID := range eps {
		if _, err := s.queue(ctx, q, ws, epID, ev.ID, id.New(), now); err != nil {
			return err
		}
	}
	return nil
}

// subscribed lists the enabled endpoints that receive eventType, in ID
// order so that concurrent notifiers lock them in the same order.
func (s *Service) subscribed(ctx context.Context, q store.Querier, ws, eventType string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, event_types FROM webhook_endpoints
		WHERE workspace_id = $1 AND disabled_at IS NULL ORDER BY id`, ws)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var epID, types string
		if err := rows.Scan(&epID, &types); err != nil {
			return nil, err
		}
		var ts []string
		if err := json.Unmarshal([]byte(types), &ts); err != nil {
			return nil, fmt.Errorf("webhook endpoint %s: event types: %w", epID, err)
		}
		if slices.Contains(ts, eventType) {
			out = append(out, epID)
		}
	}
	return out, rows.Err()
}

// nextSeq takes the endpoint's next delivery number. On PostgreSQL the
// UPDATE locks the row until q commits, so a concurrent notifier waits and
// numbers after it; SQLite has one writer anyway.
func nextSeq(ctx context.Context, q store.Querier, ws, epID string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `UPDATE webhook_endpoints SET next_seq = next_seq + 1
		WHERE workspace_id = $1 AND id = $2 RETURNING next_seq`, ws, epID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("number webhook delivery: %w", store.MapError(err))
	}
	return seq, nil
}

// queue inserts (or, for a redelivery, re-queues) a delivery at the end of
// the endpoint's lane and enqueues its job.
func (s *Service) queue(ctx context.Context, q store.Querier, ws, epID, eventID, deliveryID string, now time.Time) (string, error) {
	seq, err := nextSeq(ctx, q, ws, epID)
	if err != nil {
		return "", err
	}
	// When the lane already holds a pending delivery, that delivery's job
	// will send this one too, right after its own: this job is only the
	// safety net, and starting it at once would just have it find the lane
	// busy, costing database writes the sender needs.
	var runAt time.Time
	var behind int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries
		WHERE workspace_id = $1 AND endpoint_id = $2 AND state = 'pending' AND id <> $3 LIMIT 1) p`, ws, epID, deliveryID).Scan(&behind); err != nil {
		return "", fmt.Errorf("read webhook lane: %w", err)
	}
	if behind > 0 {
		runAt = now.Add(followerDelay)
	}
	if eventID != "" {
		_, err = q.ExecContext(ctx, `INSERT INTO webhook_deliveries
			(workspace_id, id, endpoint_id, event_id, seq, state, attempts, next_attempt_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6, $6)`, ws, deliveryID, epID, eventID, seq, now)
	} else {
		_, err = q.ExecContext(ctx, `UPDATE webhook_deliveries SET seq = $3, state = 'pending', attempts = 0,
			next_attempt_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, ws, deliveryID, seq, now)
	}
	if err != nil {
		return "", fmt.Errorf("queue webhook delivery: %w", store.MapError(err))
	}
	p := jobs.EnqueueParams{WorkspaceID: ws, Kind: JobKind, Args: deliverArgs{DeliveryID: deliveryID}, RunAt: runAt,
		// The delivery counts its own attempts; the job only fails when the
		// database does, and then should keep trying as long as a delivery would.
		MaxAttempts: s.opts.MaxAttempts + jobs.DefaultMaxAttempts}
	if s.opts.Jobs != nil {
		_, err = s.opts.Jobs.Enqueue(ctx, q, p)
	} else {
		_, err = jobs.Enqueue(ctx, q, p)
	}
	if err != nil {
		return "", err
	}
	return deliveryID, nil
}

// ledgerTypes maps ledger event kinds to webhook event types.
var ledgerTypes = map[string]string{
	consent.KindErasureExecuted:    TypeContactErased,
	consent.KindRecordChanged:      TypeContactRectified,
	consent.KindRestrictionStarted: TypeContactRestricted,
	consent.KindConsentWithdrawn:   TypeConsentWithdrawn,
	consent.KindObjection:          TypeContactObjected,
}

// OnLedgerEvent is the consent ledger's append hook: it turns the ledger
// events connected systems must hear about into webhook events, in the
// ledger's transaction. The data are the ledger event's ID and its
// non-personal attributes (purpose, channels, codes, changed field names);
// the old and new values of a rectification are not sent, since the
// receiver should fetch what it is entitled to.
func (s *Service) OnLedgerEvent(ctx context.Context, q store.Querier, ws, contactID string, ev consent.Event) error {
	t, ok := ledgerTypes[ev.Kind]
	if !ok {
		return nil
	}
	data := map[string]any{"ledger_event_id": ev.ID}
	switch ev.Kind {
	case consent.KindConsentWithdrawn:
		data["purpose"], data["channels"] = ev.Purpose, nonNil(ev.Channels)
	case consent.KindObjection:
		data["objection_type"], data["purpose"], data["channels"] = ev.Details.ObjectionType, ev.Purpose, nonNil(ev.Channels)
	case consent.KindRestrictionStarted:
		data["ground"] = ev.Details.Ground
	case consent.KindRecordChanged:
		fields := []string{}
		for _, c := range ev.Details.Changes {
			fields = append(fields, c.Field)
		}
		data["fields"] = fields
	}
	return s.Notify(ctx, q, ws, t, contactID, data)
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
