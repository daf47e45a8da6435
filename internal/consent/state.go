package consent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
)

// The permission state is an index of the engine's own answers: for each
// contact, the business purpose × channel pairs policy.Decide allows with no
// campaign-specific facts. It is rewritten in the transaction of every
// ledger append and contact change, so it never lags a withdrawal or an
// objection; what time alone can change (a retention duty ending, an event
// dated a few minutes ahead) sets recheck_at, after which the contact is
// decided live again. Audience resolution reads it; anything it cannot
// vouch for is decided live by the same code as a single decision.

// Refresh re-derives one contact's permission state in q (the writing
// transaction).
func (l *Ledger) Refresh(ctx context.Context, q store.Querier, ws, contactID string) error {
	ws, contactID = strings.ToLower(ws), strings.ToLower(contactID)
	if err := l.purposes.ensure(ctx, q, ws); err != nil {
		return err
	}
	purposes, err := l.purposes.list(ctx, q, ws)
	if err != nil {
		return err
	}
	return l.refresh(ctx, q, ws, contactID, purposes)
}

// refresh is Refresh with the workspace's catalogue already read.
func (l *Ledger) refresh(ctx context.Context, q store.Querier, ws, contactID string, purposes []Purpose) error {
	pts, err := l.contacts.PointsIn(ctx, q, ws, contactID)
	if err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM permission_allowed WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID); err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	rs, err := l.rows(ctx, q, ws, contactID)
	if err != nil {
		return err
	}
	now := l.now().UTC()
	evs := chronological(rs, now)
	st := foldParsed(evs)
	for _, p := range purposes {
		for _, ch := range p.Channels {
			f := factsFrom(pts, p, ch, evs, st, now)
			d, err := policy.Decide(f, policy.Request{Purpose: policy.Purpose(p.Kind), Channel: policy.Channel(ch)})
			if err != nil || !d.Allowed {
				continue // an error is "not allowed" (rules §6); live decisions report it
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO permission_allowed (workspace_id, purpose_key, channel, contact_id) VALUES ($1, $2, $3, $4)`,
				ws, p.Key, ch, contactID); err != nil {
				return fmt.Errorf("refresh permissions: %w", err)
			}
		}
	}
	var recheck any
	if t, ok := recheckAt(rs, now); ok {
		recheck = t
	}
	catalog := customCount(purposes)
	if _, err := q.ExecContext(ctx, `INSERT INTO permission_marks (workspace_id, contact_id, computed_at, recheck_at, catalog) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (workspace_id, contact_id) DO UPDATE SET computed_at = excluded.computed_at, recheck_at = excluded.recheck_at, catalog = excluded.catalog`,
		ws, contactID, now, recheck, catalog); err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	return nil
}

func customCount(ps []Purpose) int {
	n := 0
	for _, p := range ps {
		if !p.BuiltIn {
			n++
		}
	}
	return n
}

// recheckAt is the earliest moment after now at which time alone could
// change a decision derived from rs: an event dated ahead of now starts to
// count, or a retention duty ends (its until day is inclusive). With the
// default policy no other rule depends on the date.
func recheckAt(rs []*row, now time.Time) (time.Time, bool) {
	var at time.Time
	consider := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, r := range rs {
		consider(r.OccurredAt)
	}
	st := fold(rs, now)
	if st.retention.Applies && !st.retention.Until.IsZero() {
		consider(st.retention.Until.Time().AddDate(0, 0, 1))
	}
	return at, !at.IsZero()
}

// StaleContacts lists the contacts whose permission state cannot be relied
// on at now: derived under a smaller catalogue of purposes, or due for a
// recheck. Audience resolution decides these live. Every contact gets its
// mark in the transaction that creates it (and migration 0004 marked the
// ones that existed before); a contact written around the contact store
// would have none and so be left out of audiences — failing closed.
func (l *Ledger) StaleContacts(ctx context.Context, ws string, now time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	if !id.Valid(ws) {
		return out, nil
	}
	if err := l.purposes.ensure(ctx, l.db.W, ws); err != nil {
		return nil, err
	}
	var custom int
	if err := l.db.R.QueryRowContext(ctx, `SELECT count(*) FROM purposes WHERE workspace_id = $1 AND built_in = $2`, ws, false).Scan(&custom); err != nil {
		return nil, fmt.Errorf("read purposes: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SELECT contact_id FROM permission_marks WHERE workspace_id = $1 AND catalog < $2`, []any{ws, custom}},
		{`SELECT contact_id FROM permission_marks WHERE workspace_id = $1 AND recheck_at <= $2`, []any{ws, now.UTC()}},
	} {
		ids, err := store.Strings(ctx, l.db.R, q.sql, q.args...)
		if err != nil {
			return nil, fmt.Errorf("read permission marks: %w", err)
		}
		for _, s := range ids {
			out[s] = true
		}
	}
	return out, nil
}

// StateFilter narrows AllowedContacts by the contact record.
type StateFilter struct {
	Audience, Relationship, DataSource string
}

// AllowedContacts streams, in ID order, the contacts whose permission state
// allows purposeKey on channel, matching the filter.
func (l *Ledger) AllowedContacts(ctx context.Context, ws, purposeKey, channel string, f StateFilter, fn func(contactID string) error) error {
	q := `SELECT a.contact_id FROM permission_allowed a`
	args := []any{ws, purposeKey, channel}
	var conds []string
	for _, c := range []struct{ col, v string }{{"audience", f.Audience}, {"relationship", f.Relationship}, {"data_source", f.DataSource}} {
		if c.v != "" {
			args = append(args, c.v)
			conds = append(conds, fmt.Sprintf("c.%s = $%d", c.col, len(args)))
		}
	}
	if len(conds) > 0 {
		q += ` JOIN contacts c ON c.workspace_id = a.workspace_id AND c.id = a.contact_id`
	}
	q += ` WHERE a.workspace_id = $1 AND a.purpose_key = $2 AND a.channel = $3`
	for _, c := range conds {
		q += " AND " + c
	}
	q += ` ORDER BY a.contact_id`
	rows, err := l.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read permission state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}
