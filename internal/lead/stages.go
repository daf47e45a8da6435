package lead

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// StageCounts is the number of contacts in each stage now, every stage
// present. A contact never scored has no state row and counts as a
// visitor. Two aggregate queries, meant for a background refresh (the
// dashboard), not for a page view.
func (s *Service) StageCounts(ctx context.Context, ws string) (map[string]int, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	out := make(map[string]int, len(Stages))
	for _, st := range Stages {
		out[st] = 0
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT stage, COUNT(*) FROM lead_state WHERE workspace_id = $1 GROUP BY stage`, ws)
	if err != nil {
		return nil, fmt.Errorf("lead: stage counts: %w", err)
	}
	defer rows.Close()
	scored := 0
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] += n
		scored += n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var all int
	if err := s.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE workspace_id = $1`, ws).Scan(&all); err != nil {
		return nil, fmt.Errorf("lead: stage counts: %w", err)
	}
	out[StageVisitor] += max(0, all-scored)
	return out, nil
}

// StagePage lists up to limit (1..1000) contact IDs in the stage, in ID
// order after the given contact ID ("" from the start): keyset paging on
// lead_state's stage index. Visitors include the contacts never scored,
// so that page walks the contacts instead.
func (s *Service) StagePage(ctx context.Context, ws, stage, after string, limit int) ([]string, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	if !slices.Contains(Stages, stage) {
		return nil, validate.OneOf("stage", stage, Stages)
	}
	if limit < 1 || limit > 1000 {
		return nil, validate.Invalid("limit", "limit must be 1 to 1000")
	}
	if after != "" && !id.Valid(after) {
		return nil, validate.Invalid("after", "after must be a contact ID")
	}
	args := []any{ws}
	var q string
	if stage == StageVisitor {
		q = `SELECT c.id FROM contacts c LEFT JOIN lead_state s ON s.workspace_id = c.workspace_id AND s.contact_id = c.id
			WHERE c.workspace_id = $1 AND (s.stage IS NULL OR s.stage = 'visitor')`
		if after != "" {
			args = append(args, strings.ToLower(after))
			q += ` AND c.id > $2`
		}
		q += ` ORDER BY c.id`
	} else {
		args = append(args, stage)
		q = `SELECT contact_id FROM lead_state WHERE workspace_id = $1 AND stage = $2`
		if after != "" {
			args = append(args, strings.ToLower(after))
			q += ` AND contact_id > $3`
		}
		q += ` ORDER BY contact_id`
	}
	ids, err := store.Strings(ctx, s.DB.R, q+` LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("lead: stage page: %w", err)
	}
	for i := range ids {
		ids[i] = strings.ToLower(ids[i])
	}
	return ids, nil
}
