package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/auth"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
	"github.com/fairlead/fairlead/internal/webhook"
)

// nextStage is where the rules move a contact: relationship customer makes
// a customer; otherwise the score moves a contact up the ladder and never
// down (decay lowers the score, not the stage: a sales rep does not lose a
// lead because it went quiet for a week). Customers and disqualified
// contacts move only by hand or by the relationship.
func nextStage(cur string, score float64, relationship string, t Thresholds) string {
	if relationship == "customer" {
		return StageCustomer
	}
	if cur == StageCustomer || cur == StageDisqualified {
		return cur
	}
	target := StageVisitor
	score += 1e-9 // the log domain rounds in the last bits
	switch {
	case score >= t.SalesQualified:
		target = StageSalesQualified
	case score >= t.MarketingQualified:
		target = StageMarketingQualified
	case score >= t.Lead:
		target = StageLead
	}
	if rank(target) > rank(cur) {
		return target
	}
	return cur
}

// handoffDue says whether a contact in stage has reached the hand-off.
func handoffDue(stage, handoff string) bool {
	return rank(stage) >= rank(handoff) && rank(stage) >= 0
}

// Transition is one recorded stage change.
type Transition struct {
	ID        string    `json:"id"`
	ContactID string    `json:"contact_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	At        time.Time `json:"at"`
	// Cause is score (an event arrived), recompute, relationship, or
	// manual.
	Cause  string `json:"cause"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

func (s *Service) recordTransition(ctx context.Context, q store.Querier, ws, cid, from, to, cause, actor, reason string, at time.Time) error {
	if _, err := q.ExecContext(ctx, `UPDATE lead_state SET stage = $3 WHERE workspace_id = $1 AND contact_id = $2`, ws, cid, to); err != nil {
		return fmt.Errorf("lead: move stage: %w", err)
	}
	_, err := q.ExecContext(ctx, `INSERT INTO lead_transitions (id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`, id.NewAt(at), ws, cid, from, to, refAt(s.DB.Dialect, at), cause, actor, reason)
	if err != nil {
		return fmt.Errorf("lead: record transition: %w", store.MapError(err))
	}
	return nil
}

// transitionCause names what moved a contact to next: its relationship
// when that made it a customer, else the scoring cause.
func transitionCause(cause, next string, p profile) string {
	if next == StageCustomer && p.Relationship == "customer" {
		return "relationship"
	}
	return cause
}

// transitionRow is one stage move for insertTransitions.
type transitionRow struct {
	cid, from, to, cause string
}

// insertTransitions records stage moves whose new stage is already in
// lead_state, with multi-row INSERTs.
func (s *Service) insertTransitions(ctx context.Context, q store.Querier, ws string, moves []transitionRow, actor string, at time.Time) error {
	atArg := refAt(s.DB.Dialect, at)
	if s.DB.Dialect == store.SQLite {
		return insertTransitionsSQLite(ctx, q, ws, moves, actor, at, atArg)
	}
	return chunked(len(moves), func(off, n int) error {
		var b strings.Builder
		b.WriteString(`INSERT INTO lead_transitions (id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason) VALUES `)
		args := make([]any, 0, n*9)
		for i, m := range moves[off : off+n] {
			if i > 0 {
				b.WriteByte(',')
			}
			placeholders(&b, s.DB.Dialect, len(args), 9)
			args = append(args, id.NewAt(at), ws, m.cid, m.from, m.to, atArg, m.cause, actor, "")
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("lead: record transitions: %w", store.MapError(err))
		}
		return nil
	})
}

// insertTransitionsSQLite binds what every row of a batch shares
// (workspace, time, actor) once per statement, in a one-row subquery the
// rows' VALUES are joined with: a first recompute writes some 900,000 stage
// moves at 1,000,000 contacts, and each bound parameter costs the driver a
// conversion and SQLite a bind, so five per row instead of nine.
func insertTransitionsSQLite(ctx context.Context, q store.Querier, ws string, moves []transitionRow, actor string, at time.Time, atArg any) error {
	return chunked(len(moves), func(off, n int) error {
		var b strings.Builder
		b.WriteString(`INSERT INTO lead_transitions (id, workspace_id, contact_id, from_stage, to_stage, at, cause, actor, reason)
			SELECT v.column1, c.ws, v.column2, v.column3, v.column4, c.at, v.column5, c.actor, ''
			FROM (SELECT ? AS ws, ? AS at, ? AS actor) c, (VALUES `)
		args := make([]any, 0, 3+n*5)
		args = append(args, ws, atArg, actor)
		for i, m := range moves[off : off+n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`(?,?,?,?,?)`)
			args = append(args, id.NewAt(at), m.cid, m.from, m.to, m.cause)
		}
		b.WriteString(`) v`)
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("lead: record transitions: %w", store.MapError(err))
		}
		return nil
	})
}

// afterScore moves the stage to next (recording the transition) and hands
// the lead off when it reached the hand-off stage for the first time.
func (s *Service) afterScore(ctx context.Context, q store.Querier, sc *scorer, ws, cid string, st stateRow, next string, score float64, p profile, cause, actor string) error {
	if next != st.stage {
		if err := s.recordTransition(ctx, q, ws, cid, st.stage, next, transitionCause(cause, next, p), actor, "", sc.now); err != nil {
			return err
		}
	}
	if st.handedOff == nil && handoffDue(next, sc.rules.Handoff) {
		return s.handoff(ctx, q, sc, ws, cid, next, score, p, cause)
	}
	return nil
}

// handoff assigns the lead and tells the connected systems, in q. The
// guarded update makes it happen once per contact however many events,
// recomputes or concurrent transactions reach it: only the transaction
// that sets handed_off_at notifies.
func (s *Service) handoff(ctx context.Context, q store.Querier, sc *scorer, ws, cid, stage string, score float64, p profile, cause string) error {
	if sc.needsAssignRecord() && p.Organization == "" && p.Country == "" && p.Values == nil {
		if err := s.openProfile(ctx, q, ws, cid, &p); err != nil {
			return err
		}
	}
	owner, byRule, err := s.assign(ctx, q, sc.rules, ws, p)
	if err != nil {
		return err
	}
	var ownerArg any
	if owner != "" {
		ownerArg = owner
	}
	res, err := q.ExecContext(ctx, `UPDATE lead_state SET handed_off_at = $3, owner = $4 WHERE workspace_id = $1 AND contact_id = $2 AND handed_off_at IS NULL`,
		ws, cid, sc.now, ownerArg)
	if err != nil {
		return fmt.Errorf("lead: hand off: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil
	}
	if owner != "" && !byRule {
		if _, err := q.ExecContext(ctx, `INSERT INTO lead_assign_cursor (workspace_id, last_user_id) VALUES ($1, $2)
			ON CONFLICT (workspace_id) DO UPDATE SET last_user_id = excluded.last_user_id`, ws, owner); err != nil {
			return fmt.Errorf("lead: assign: %w", err)
		}
	}
	if s.Webhooks == nil {
		return nil
	}
	return s.Webhooks.Notify(ctx, q, ws, webhook.TypeLeadHandoff, cid, map[string]any{
		"stage": stage, "score": round(score), "owner": owner, "rule_version": sc.version, "cause": cause,
	})
}

func (sc *scorer) needsAssignRecord() bool {
	for _, a := range sc.rules.Assignment {
		for _, c := range a.When {
			if c.Attribute == "organization" || c.Attribute == "country" || strings.HasPrefix(c.Attribute, "values.") {
				return true
			}
		}
	}
	return false
}

// assign picks the owner: the first assignment rule that matches (if its
// owner is an enabled sales user), else the next sales user after the last
// one assigned round-robin, in ID order. "" when the workspace has none.
func (s *Service) assign(ctx context.Context, q store.Querier, r Rules, ws string, p profile) (string, bool, error) {
	users, err := store.Strings(ctx, q, `SELECT id FROM users WHERE workspace_id = $1 AND role = 'sales' AND disabled_at IS NULL ORDER BY id`, ws)
	if err != nil {
		return "", false, fmt.Errorf("lead: sales users: %w", err)
	}
	for _, a := range r.Assignment {
		if allHold(a.When, p) && slices.Contains(users, a.Owner) {
			return a.Owner, true, nil
		}
	}
	if len(users) == 0 {
		return "", false, nil
	}
	var last string
	err = q.QueryRowContext(ctx, `SELECT last_user_id FROM lead_assign_cursor WHERE workspace_id = $1`, ws).Scan(&last)
	if err != nil && !errors.Is(store.MapError(err), store.ErrNotFound) {
		return "", false, fmt.Errorf("lead: assign: %w", err)
	}
	for _, u := range users {
		if u > last {
			return u, false, nil
		}
	}
	return users[0], false, nil
}

// MoveTargets are the stages each role may move a contact to by hand:
// marketing qualifies and disqualifies up to marketing_qualified, sales
// accepts (sales_qualified, customer), rejects back to marketing or
// disqualifies; admin may do both.
var MoveTargets = map[auth.Role][]string{
	auth.RoleAdmin:     Stages,
	auth.RoleMarketing: {StageVisitor, StageLead, StageMarketingQualified, StageDisqualified},
	auth.RoleSales:     {StageMarketingQualified, StageSalesQualified, StageCustomer, StageDisqualified},
}

// Move sets a contact's stage by hand, with the reason; it hands the lead
// off if that reaches the hand-off stage for the first time.
func (s *Service) Move(ctx context.Context, ws, contactID string, role auth.Role, actor, stage, reason string) (State, error) {
	if err := s.contactExists(ctx, s.DB.R, ws, contactID); err != nil {
		return State{}, err
	}
	cid := strings.ToLower(contactID)
	allowed := MoveTargets[role]
	if !slices.Contains(Stages, stage) {
		return State{}, validate.OneOf("stage", stage, Stages)
	}
	if !slices.Contains(allowed, stage) {
		return State{}, validate.OneOf("stage", stage, allowed)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return State{}, validate.Required("reason")
	}
	if len(reason) > 500 {
		return State{}, validate.Invalid("reason", "reason must have at most 500 characters")
	}
	// The reason is free text that may name the person: sealed like the
	// contact's own fields.
	sealed, err := s.Contacts.Keys().SealText(ctx, ws, cid, reason)
	if err != nil {
		return State{}, fmt.Errorf("seal move reason: %w", err)
	}
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		sc, err := s.newScorer(ctx, tx, ws)
		if err != nil {
			return err
		}
		p, ok, err := s.profile(ctx, tx, ws, cid, false)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		st, err := s.lockState(ctx, tx, ws, cid, sc.version, sc.now)
		if err != nil {
			return err
		}
		if stage == st.stage {
			return nil
		}
		if err := s.recordTransition(ctx, tx, ws, cid, st.stage, stage, "manual", actor, sealed, sc.now); err != nil {
			return err
		}
		if st.handedOff == nil && handoffDue(stage, sc.rules.Handoff) {
			score := st.fit + valueAt(st.engLog, sc.now, sc.rules.HalfLifeDays)
			return s.handoff(ctx, tx, sc, ws, cid, stage, score, p, "manual")
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	return s.LeadState(ctx, ws, cid)
}

// Transitions lists a contact's stage changes, oldest first.
func (s *Service) Transitions(ctx context.Context, ws, contactID string) ([]Transition, error) {
	if err := s.contactExists(ctx, s.DB.R, ws, contactID); err != nil {
		return nil, err
	}
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, contact_id, from_stage, to_stage, at, cause, actor, reason FROM lead_transitions
		WHERE workspace_id = $1 AND contact_id = $2 ORDER BY at, id`, ws, strings.ToLower(contactID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Transition{}
	for rows.Next() {
		var t Transition
		var at refTime
		if err := rows.Scan(&t.ID, &t.ContactID, &t.From, &t.To, &at, &t.Cause, &t.Actor, &t.Reason); err != nil {
			return nil, err
		}
		t.At = at.t
		out = append(out, t)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	ops, err := s.Contacts.Keys().Openers(ctx, ws, []string{strings.ToLower(contactID)})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Reason, err = ops[strings.ToLower(contactID)].OpenText(out[i].Reason); err != nil {
			return nil, fmt.Errorf("open move reason: %w", err)
		}
	}
	return out, nil
}

// FunnelPoint is one bucket of the funnel.
type FunnelPoint struct {
	Start   time.Time      `json:"start"`
	InStage map[string]int `json:"in_stage"` // stage -> contacts in that stage at the end of the bucket
	Entered map[string]int `json:"entered"`  // stage -> transitions into it during the bucket
}

// FunnelBuckets are the bucket sizes of Funnel.
var FunnelBuckets = []string{"day", "week", "month"}

func bucketStarts(from, to time.Time, bucket string) ([]time.Time, error) {
	var step func(time.Time) time.Time
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	switch bucket {
	case "day":
		step = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
	case "week":
		// ISO weeks start on Monday.
		start = start.AddDate(0, 0, -((int(start.Weekday()) + 6) % 7))
		step = func(t time.Time) time.Time { return t.AddDate(0, 0, 7) }
	case "month":
		start = time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
		step = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
	default:
		return nil, validate.OneOf("bucket", bucket, FunnelBuckets)
	}
	var out []time.Time
	for t := start; t.Before(to); t = step(t) {
		out = append(out, t)
		if len(out) > 1000 {
			return nil, validate.Invalid("to", "the range holds more than 1000 buckets: choose a larger bucket")
		}
	}
	return append(out, step(out[len(out)-1])), nil
}

// Funnel counts, per bucket between from and to (UTC, buckets aligned to
// days, ISO weeks or months), how many contacts were in each stage at the
// end of the bucket and how many transitions entered each stage during
// it, from lead_transitions alone. Contacts that never moved (visitors
// nobody scored) are not in the funnel. One pass over the transitions in
// contact order keeps memory at one contact's history.
func (s *Service) Funnel(ctx context.Context, ws string, from, to time.Time, bucket string) ([]FunnelPoint, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, validate.Invalid("to", "to must be after from")
	}
	starts, err := bucketStarts(from, to, bucket)
	if err != nil {
		return nil, err
	}
	nb := len(starts) - 1
	out := make([]FunnelPoint, nb)
	for i := range out {
		out[i] = FunnelPoint{Start: starts[i], InStage: map[string]int{}, Entered: map[string]int{}}
	}
	end := starts[nb]
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, to_stage, at FROM lead_transitions WHERE workspace_id = $1 AND at < $2
		ORDER BY contact_id, at, id`, ws, refAt(s.DB.Dialect, end))
	if err != nil {
		return nil, fmt.Errorf("lead: funnel: %w", err)
	}
	defer rows.Close()
	type tr struct {
		to string
		at time.Time
	}
	var cur string
	var hist []tr
	finish := func() {
		// Stage at the end of each bucket: the last transition before it.
		j := -1
		for b := 0; b < nb; b++ {
			for j+1 < len(hist) && hist[j+1].at.Before(starts[b+1]) {
				j++
			}
			if j >= 0 {
				out[b].InStage[hist[j].to]++
			}
		}
		for _, h := range hist {
			if h.at.Before(starts[0]) {
				continue
			}
			b, _ := slices.BinarySearchFunc(starts[1:], h.at, func(s, t time.Time) int {
				if !s.After(t) {
					return -1
				}
				return 1
			})
			if b < nb {
				out[b].Entered[h.to]++
			}
		}
	}
	for rows.Next() {
		var cid, to string
		var at refTime
		if err := rows.Scan(&cid, &to, &at); err != nil {
			return nil, err
		}
		if cid != cur {
			finish()
			cur, hist = cid, hist[:0]
		}
		hist = append(hist, tr{to, at.t})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	finish()
	return out, nil
}

// SalesFilter narrows the sales view.
type SalesFilter struct {
	Owner string // a user ID; "" for all
	Limit int    // 1..200, default 50
}

// SalesLead is a handed-off lead with the engine's answer for every
// purpose and channel now: which channels sales may use, and why not the
// others.
type SalesLead struct {
	State
	Cells []audience.Cell
}

// SalesLeads lists the handed-off leads, newest hand-off first.
func (s *Service) SalesLeads(ctx context.Context, ws string, f SalesFilter) ([]SalesLead, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 200 {
		return nil, validate.Invalid("limit", "limit must be 1 to 200")
	}
	q := `SELECT contact_id FROM lead_state WHERE workspace_id = $1 AND handed_off_at IS NOT NULL`
	args := []any{ws}
	if f.Owner != "" {
		if !id.Valid(f.Owner) {
			return nil, validate.Invalid("owner", "owner must be a user ID")
		}
		q += ` AND owner = $2`
		args = append(args, strings.ToLower(f.Owner))
	}
	ids, err := store.Strings(ctx, s.DB.R, q+fmt.Sprintf(` ORDER BY handed_off_at DESC, contact_id LIMIT %d`, f.Limit), args...)
	if err != nil {
		return nil, err
	}
	out := []SalesLead{}
	for _, cid := range ids {
		st, err := s.LeadState(ctx, ws, cid)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, err
		}
		cells, err := s.Audience.Matrix(ctx, ws, cid)
		if err != nil {
			return nil, err
		}
		out = append(out, SalesLead{State: st, Cells: cells})
	}
	return out, nil
}
