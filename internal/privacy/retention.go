package privacy

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/jobs"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Retention rules.
const (
	RuleDOIUnconfirmed   = "doi_unconfirmed"
	RuleInactiveLead     = "inactive_lead"
	RuleContractRestrict = "contract_restrict"
	RuleContractDelete   = "contract_delete"
	// Record rules delete old rows, not contacts.
	RuleTrackingEvents = "tracking_events"
	RuleWebhookLog     = "webhook_log"
)

// Retention actions.
const (
	ActionErase    = "erase"
	ActionRestrict = "restrict"
	// ActionDeleteRecords deletes a rule's rows older than its period.
	ActionDeleteRecords = "delete_records"
)

// contractDays is the longest duty of HGB §257(4) / AO §147(3): ten years, in days.
const contractDays = 3653

// Rule is a retention rule with its default.
type Rule struct {
	Key         string
	Action      string
	DefaultDays int
	MinDays     int
	Why         [2]string // de, en; %d is the period in days
}

// Rules are the retention rules in the order they are evaluated.
var Rules = []Rule{
	{RuleContractDelete, ActionErase, contractDays, contractDays,
		[2]string{"Vertrags- und Lieferantendaten: %d Tage nach Ende der Beziehung abgelaufen (HGB §257, AO §147)", "contract and supplier data: %d days since the relationship ended (HGB §257, AO §147)"}},
	{RuleContractRestrict, ActionRestrict, 0, 0,
		[2]string{"Vertrags- und Lieferantendaten: Zweck seit %d Tagen beendet, nur noch zur Aufbewahrung", "contract and supplier data: purpose ended %d days ago, kept for retention only"}},
	{RuleDOIUnconfirmed, ActionErase, 30, 1,
		[2]string{"Double-Opt-in seit %d Tagen unbestätigt, keine gültige Einwilligung", "double opt-in unconfirmed for %d days, no valid consent"}},
	{RuleInactiveLead, ActionErase, 730, 30,
		[2]string{"Interessent ohne Aktivität seit %d Tagen und ohne gültige Einwilligung", "lead without activity for %d days and without a valid consent"}},
	// Thirteen months keep a year-on-year comparison of behaviour and no
	// more; the scores built on older events have decayed to nothing.
	{RuleTrackingEvents, ActionDeleteRecords, 395, 1,
		[2]string{"Nutzungsereignisse (identifiziert und pseudonym) älter als %d Tage (Speicherbegrenzung, Art. 5 Abs. 1 lit. e DSGVO)", "tracking events (identified and pseudonymous) older than %d days (storage limitation, Art. 5(1)(e) GDPR)"}},
	{RuleWebhookLog, ActionDeleteRecords, 180, 7,
		[2]string{"Übermittlungsprotokoll an verbundene Systeme (zugestellt oder aufgegeben) älter als %d Tage", "delivery log of connected systems (delivered or given up) older than %d days"}},
}

// recordDeletes are the statements of a record rule, in order ($1 the
// workspace, $2 the cutoff); each deletes at most recordBatch rows so a long
// backlog is cleared in short transactions. Counting uses the first
// statement's table.
var recordDeletes = map[string][]struct{ table, where string }{
	RuleTrackingEvents: {
		{"track_events", "workspace_id = $1 AND occurred_at < $2"},
		{"track_pseudonymous", "workspace_id = $1 AND occurred_at < $2"},
	},
	// A delivery's attempts go first (they reference it), then the
	// deliveries, then events no delivery refers to any more.
	RuleWebhookLog: {
		{"webhook_attempts", "workspace_id = $1 AND delivery_id IN (SELECT id FROM webhook_deliveries WHERE workspace_id = $1 AND state <> 'pending' AND updated_at < $2)"},
		{"webhook_deliveries", "workspace_id = $1 AND state <> 'pending' AND updated_at < $2"},
		// Written so that the plan, run before anything is deleted, counts
		// the events the deliveries' deletion will free.
		{"webhook_events", "workspace_id = $1 AND occurred_at < $2 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id AND (d.state = 'pending' OR d.updated_at >= $2))"},
	},
}

const recordBatch = 5000

// RuleKeys lists the rule keys.
func RuleKeys() []string {
	out := make([]string, len(Rules))
	for i, r := range Rules {
		out[i] = r.Key
	}
	return out
}

func ruleOf(key string) (Rule, bool) {
	for _, r := range Rules {
		if r.Key == key {
			return r, true
		}
	}
	return Rule{}, false
}

// Policy is a rule as the workspace applies it.
type Policy struct {
	Rule      string     `json:"rule"`
	Action    string     `json:"action"`
	Enabled   bool       `json:"enabled"`
	AfterDays int        `json:"after_days"`
	Default   bool       `json:"default"`
	WhyDE     string     `json:"why_de"`
	WhyEN     string     `json:"why_en"`
	UpdatedBy string     `json:"updated_by"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// Policies returns every rule with the workspace's settings.
func (s *Service) Policies(ctx context.Context, ws string) ([]Policy, error) {
	out := make([]Policy, 0, len(Rules))
	over := map[string]Policy{}
	if id.Valid(ws) {
		rows, err := s.DB.R.QueryContext(ctx, `SELECT rule, enabled, after_days, updated_by, updated_at FROM retention_policies WHERE workspace_id = $1`, strings.ToLower(ws))
		if err != nil {
			return nil, fmt.Errorf("read retention policies: %w", err)
		}
		for rows.Next() {
			var p Policy
			var at time.Time
			if err := rows.Scan(&p.Rule, &p.Enabled, &p.AfterDays, &p.UpdatedBy, &at); err != nil {
				rows.Close()
				return nil, err
			}
			at = at.UTC()
			p.UpdatedAt = &at
			over[p.Rule] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, r := range Rules {
		p, ok := over[r.Key]
		if !ok {
			p = Policy{Rule: r.Key, Enabled: true, AfterDays: r.DefaultDays, Default: true}
		}
		p.Action = r.Action
		p.WhyDE, p.WhyEN = fmt.Sprintf(r.Why[0], p.AfterDays), fmt.Sprintf(r.Why[1], p.AfterDays)
		out = append(out, p)
	}
	return out, nil
}

// PolicyUpdate changes one rule; nil fields stay.
type PolicyUpdate struct {
	Enabled   *bool `json:"enabled"`
	AfterDays *int  `json:"after_days"`
}

// SetPolicy changes a rule for the workspace.
func (s *Service) SetPolicy(ctx context.Context, ws, rule string, up PolicyUpdate, actor consent.Actor) (Policy, error) {
	r, ok := ruleOf(rule)
	if !ok {
		return Policy{}, validate.OneOf("rule", rule, RuleKeys())
	}
	if !id.Valid(ws) {
		return Policy{}, store.ErrNotFound
	}
	ps, err := s.Policies(ctx, ws)
	if err != nil {
		return Policy{}, err
	}
	var cur Policy
	for _, p := range ps {
		if p.Rule == rule {
			cur = p
		}
	}
	if up.Enabled != nil {
		cur.Enabled = *up.Enabled
	}
	if up.AfterDays != nil {
		if *up.AfterDays < r.MinDays || *up.AfterDays > 36525 {
			msg := fmt.Sprintf("after_days must be from %d to 36525 for %s", r.MinDays, rule)
			if rule == RuleContractDelete {
				msg += " (HGB §257 and AO §147 require ten years)"
			}
			return Policy{}, validate.Invalid("after_days", msg)
		}
		cur.AfterDays = *up.AfterDays
	}
	now := s.now()
	if _, err := s.DB.W.ExecContext(ctx, `INSERT INTO retention_policies (workspace_id, rule, enabled, after_days, updated_by, updated_at) VALUES ($1,$2,$3,$4,$5,$6)
		ON CONFLICT (workspace_id, rule) DO UPDATE SET enabled = $3, after_days = $4, updated_by = $5, updated_at = $6`,
		strings.ToLower(ws), rule, cur.Enabled, cur.AfterDays, actorString(actor), now); err != nil {
		return Policy{}, fmt.Errorf("save retention policy: %w", err)
	}
	ps, err = s.Policies(ctx, ws)
	if err != nil {
		return Policy{}, err
	}
	for _, p := range ps {
		if p.Rule == rule {
			return p, nil
		}
	}
	return Policy{}, store.ErrNotFound
}

// RulePlan is what one rule would do.
type RulePlan struct {
	Rule       string   `json:"rule"`
	Action     string   `json:"action"`
	AfterDays  int      `json:"after_days"`
	WhyDE      string   `json:"why_de"`
	WhyEN      string   `json:"why_en"`
	Count      int      `json:"count"`
	ContactIDs []string `json:"contact_ids"`
}

// Plan is the dry run of the clean-up.
type Plan struct {
	AsOf      time.Time  `json:"as_of"`
	Evaluated int        `json:"evaluated"`
	Rules     []RulePlan `json:"rules"`
	// Took is how long the evaluation took.
	Took time.Duration `json:"-"`
}

// Plan evaluates every contact of the workspace against the enabled rules
// as of asOf and says what the clean-up would do, without doing it.
func (s *Service) Plan(ctx context.Context, ws string, asOf time.Time) (Plan, error) {
	start := time.Now()
	pl := Plan{AsOf: asOf.UTC(), Rules: []RulePlan{}}
	ps, err := s.Policies(ctx, ws)
	if err != nil {
		return pl, err
	}
	idx := map[string]int{}
	for _, p := range ps {
		if p.Enabled {
			idx[p.Rule] = len(pl.Rules)
			pl.Rules = append(pl.Rules, RulePlan{Rule: p.Rule, Action: p.Action, AfterDays: p.AfterDays, WhyDE: p.WhyDE, WhyEN: p.WhyEN, ContactIDs: []string{}})
		}
	}
	if !id.Valid(ws) {
		return pl, nil
	}
	days := func(rule string) (time.Duration, bool) {
		i, ok := idx[rule]
		if !ok {
			return 0, false
		}
		return time.Duration(pl.Rules[i].AfterDays) * 24 * time.Hour, true
	}
	add := func(rule, cid string) {
		i := idx[rule]
		pl.Rules[i].Count++
		pl.Rules[i].ContactIDs = append(pl.Rules[i].ContactIDs, cid)
	}
	for i, rp := range pl.Rules {
		if rp.Action != ActionDeleteRecords {
			continue
		}
		cutoff := asOf.Add(-time.Duration(rp.AfterDays) * 24 * time.Hour)
		for _, d := range recordDeletes[rp.Rule] {
			var n int
			if err := s.DB.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+d.table+` WHERE `+d.where, strings.ToLower(ws), cutoff).Scan(&n); err != nil {
				return pl, fmt.Errorf("count %s: %w", d.table, err)
			}
			pl.Rules[i].Count += n
		}
	}
	err = s.evaluate(ctx, strings.ToLower(ws), func(c *contactState) {
		pl.Evaluated++
		if c.shredded || c.erasure == "executed" {
			return
		}
		if c.relEnd != nil && (c.relStart == nil || !c.relEnd.Before(*c.relStart)) {
			since := asOf.Sub(*c.relEnd)
			if d, ok := days(RuleContractDelete); ok && since >= d {
				add(RuleContractDelete, c.id)
				return
			}
			if d, ok := days(RuleContractRestrict); ok && since >= d && !c.restricted && c.erasure == "" {
				add(RuleContractRestrict, c.id)
			}
			return
		}
		if c.relationship != "prospect" || c.relStart != nil || c.hasDuty || c.restricted {
			return
		}
		valid := c.validConsent()
		if d, ok := days(RuleDOIUnconfirmed); ok && c.lastDOI != nil && !c.doiConfirmed && !valid && asOf.Sub(*c.lastDOI) >= d {
			add(RuleDOIUnconfirmed, c.id)
			return
		}
		if d, ok := days(RuleInactiveLead); ok && !valid && asOf.Sub(c.lastActivity()) >= d {
			add(RuleInactiveLead, c.id)
		}
	})
	pl.Took = time.Since(start)
	return pl, err
}

// contactState is what the rules read of one contact: no personal data.
type contactState struct {
	id, relationship, erasure string
	shredded                  bool
	created, updated          time.Time
	lastEvent, lastDOI        *time.Time
	relStart, relEnd          *time.Time
	doiConfirmed, hasDuty     bool
	restricted                bool
	lastObjection             *time.Time
	// per purpose: last confirmation and last withdrawal
	confirmed, withdrawn map[string]time.Time
}

func (c *contactState) validConsent() bool {
	for p, t := range c.confirmed {
		if w, ok := c.withdrawn[p]; ok && !w.Before(t) {
			continue
		}
		if c.lastObjection != nil && !c.lastObjection.Before(t) {
			continue
		}
		return true
	}
	return false
}

func (c *contactState) lastActivity() time.Time {
	t := c.created
	if c.updated.After(t) {
		t = c.updated
	}
	for _, x := range []*time.Time{c.lastEvent, c.lastDOI} {
		if x != nil && x.After(t) {
			t = *x
		}
	}
	return t
}

func later(p **time.Time, t time.Time) {
	if *p == nil || t.After(**p) {
		u := t
		*p = &u
	}
}

// evaluate streams every contact of the workspace with its ledger and
// double opt-in summary. Three cursors ordered by contact ID are merged, so
// memory stays flat however many contacts there are.
func (s *Service) evaluate(ctx context.Context, ws string, fn func(*contactState)) error {
	cs, err := s.DB.R.QueryContext(ctx, `SELECT c.id, c.relationship, c.created_at, c.updated_at, k.wrapped IS NULL, COALESCE(e.status, '')
		FROM contacts c LEFT JOIN contact_keys k ON k.workspace_id = c.workspace_id AND k.contact_id = c.id
		LEFT JOIN erasures e ON e.workspace_id = c.workspace_id AND e.contact_id = c.id
		WHERE c.workspace_id = $1 ORDER BY c.id`, ws)
	if err != nil {
		return fmt.Errorf("read contacts: %w", err)
	}
	defer cs.Close()
	ls, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, kind, purpose, occurred_at FROM ledger_events WHERE workspace_id = $1 ORDER BY contact_id, seq`, ws)
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	defer ls.Close()
	ds, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, created_at, confirmed_at FROM doi_requests WHERE workspace_id = $1 ORDER BY contact_id`, ws)
	if err != nil {
		return fmt.Errorf("read double opt-in requests: %w", err)
	}
	defer ds.Close()

	type ev struct {
		cid, kind, purpose string
		at                 time.Time
	}
	var le ev
	lok := ls.Next()
	if lok {
		if err := ls.Scan(&le.cid, &le.kind, &le.purpose, &le.at); err != nil {
			return err
		}
		le.cid = strings.ToLower(le.cid)
	}
	type doi struct {
		cid  string
		at   time.Time
		conf *time.Time
	}
	var de doi
	dok := ds.Next()
	if dok {
		if err := ds.Scan(&de.cid, &de.at, &de.conf); err != nil {
			return err
		}
		de.cid = strings.ToLower(de.cid)
	}
	n := 0
	for cs.Next() {
		var c contactState
		if err := cs.Scan(&c.id, &c.relationship, &c.created, &c.updated, &c.shredded, &c.erasure); err != nil {
			return err
		}
		c.id = strings.ToLower(c.id)
		for lok && le.cid < c.id {
			if lok = ls.Next(); lok {
				if err := ls.Scan(&le.cid, &le.kind, &le.purpose, &le.at); err != nil {
					return err
				}
				le.cid = strings.ToLower(le.cid)
			}
		}
		restrictedAt, liftedAt := (*time.Time)(nil), (*time.Time)(nil)
		for lok && le.cid == c.id {
			later(&c.lastEvent, le.at)
			switch le.kind {
			case consent.KindConsentConfirmed:
				if c.confirmed == nil {
					c.confirmed = map[string]time.Time{}
				}
				if le.at.After(c.confirmed[le.purpose]) {
					c.confirmed[le.purpose] = le.at
				}
			case consent.KindConsentWithdrawn:
				if c.withdrawn == nil {
					c.withdrawn = map[string]time.Time{}
				}
				if le.at.After(c.withdrawn[le.purpose]) {
					c.withdrawn[le.purpose] = le.at
				}
			case consent.KindObjection:
				later(&c.lastObjection, le.at)
			case consent.KindContractStarted, consent.KindRelationshipStarted:
				later(&c.relStart, le.at)
			case consent.KindContractEnded, consent.KindRelationshipEnded:
				later(&c.relEnd, le.at)
			case consent.KindRetentionDutyStarted:
				c.hasDuty = true
			case consent.KindRestrictionStarted:
				later(&restrictedAt, le.at)
			case consent.KindRestrictionLifted:
				later(&liftedAt, le.at)
			case consent.KindErasureExecuted:
				c.shredded = true
			}
			if lok = ls.Next(); lok {
				if err := ls.Scan(&le.cid, &le.kind, &le.purpose, &le.at); err != nil {
					return err
				}
				le.cid = strings.ToLower(le.cid)
			}
		}
		c.restricted = restrictedAt != nil && (liftedAt == nil || liftedAt.Before(*restrictedAt))
		for dok && de.cid < c.id {
			if dok = ds.Next(); dok {
				if err := ds.Scan(&de.cid, &de.at, &de.conf); err != nil {
					return err
				}
				de.cid = strings.ToLower(de.cid)
			}
		}
		for dok && de.cid == c.id {
			later(&c.lastDOI, de.at.UTC())
			if de.conf != nil {
				c.doiConfirmed = true
			}
			if dok = ds.Next(); dok {
				if err := ds.Scan(&de.cid, &de.at, &de.conf); err != nil {
					return err
				}
				de.cid = strings.ToLower(de.cid)
			}
		}
		fn(&c)
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	for _, r := range []*sql.Rows{cs, ls, ds} {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}

// RunResult is what one clean-up run did.
type RunResult struct {
	RunID     string         `json:"run_id"`
	Evaluated int            `json:"evaluated"`
	Actions   map[string]int `json:"actions"`
	Failed    int            `json:"failed"`
}

// Apply runs the clean-up: the plan's actions, each recorded by rule,
// action, contact ID and outcome (never personal data).
func (s *Service) Apply(ctx context.Context, ws string, asOf time.Time) (RunResult, error) {
	if !id.Valid(ws) {
		return RunResult{}, store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	now := s.now()
	res := RunResult{RunID: id.NewAt(now), Actions: map[string]int{}}
	if _, err := s.DB.W.ExecContext(ctx, `INSERT INTO retention_runs (id, workspace_id, started_at) VALUES ($1, $2, $3)`, res.RunID, ws, now); err != nil {
		return res, fmt.Errorf("record clean-up run: %w", err)
	}
	pl, err := s.Plan(ctx, ws, asOf)
	if err != nil {
		return res, err
	}
	res.Evaluated = pl.Evaluated
	actor := consent.Actor{}
	for _, rp := range pl.Rules {
		if rp.Action == ActionDeleteRecords {
			n, err := s.deleteRecords(ctx, ws, rp.Rule, asOf.Add(-time.Duration(rp.AfterDays)*24*time.Hour))
			if err != nil {
				res.Failed++
				s.log().ErrorContext(ctx, "retention record deletion failed", "workspace_id", ws, "rule", rp.Rule, "err", err)
			}
			res.Actions[rp.Rule+":deleted"] += n
			continue
		}
		for _, cid := range rp.ContactIDs {
			outcome, err := s.applyOne(ctx, ws, rp, cid, actor)
			if err != nil {
				res.Failed++
				outcome = "failed"
				s.log().ErrorContext(ctx, "retention action failed", "workspace_id", ws, "contact_id", cid, "rule", rp.Rule, "err", err)
			}
			res.Actions[rp.Rule+":"+outcome]++
			if _, err := s.DB.W.ExecContext(ctx, `INSERT INTO retention_actions (id, workspace_id, run_id, rule, action, contact_id, outcome, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
				id.New(), ws, res.RunID, rp.Rule, rp.Action, cid, outcome, s.now()); err != nil {
				return res, fmt.Errorf("record clean-up action: %w", err)
			}
		}
	}
	sum, _ := json.Marshal(res.Actions)
	if _, err := s.DB.W.ExecContext(ctx, `UPDATE retention_runs SET finished_at = $3, evaluated = $4, summary = $5 WHERE workspace_id = $1 AND id = $2`,
		ws, res.RunID, s.now(), res.Evaluated, string(sum)); err != nil {
		return res, fmt.Errorf("record clean-up run: %w", err)
	}
	return res, nil
}

// deleteRecords deletes a record rule's rows older than cutoff, in batches,
// and returns how many went.
func (s *Service) deleteRecords(ctx context.Context, ws, rule string, cutoff time.Time) (int, error) {
	total := 0
	for _, d := range recordDeletes[rule] {
		for {
			r, err := s.DB.W.ExecContext(ctx, `DELETE FROM `+d.table+` WHERE id IN (SELECT id FROM `+d.table+` WHERE `+d.where+` LIMIT `+fmt.Sprint(recordBatch)+`)`, ws, cutoff)
			if err != nil {
				return total, fmt.Errorf("delete old %s: %w", d.table, err)
			}
			n, _ := r.RowsAffected()
			total += int(n)
			if n < recordBatch {
				break
			}
		}
	}
	return total, nil
}

func (s *Service) applyOne(ctx context.Context, ws string, rp RulePlan, cid string, actor consent.Actor) (string, error) {
	if rp.Action == ActionRestrict {
		return s.restrict(ctx, ws, cid, actor)
	}
	r, err := s.Erase(ctx, ws, cid, actor)
	return r.Outcome, err
}

// restrict keeps a contact whose contract purpose ended for its retention
// only (Art. 18, BDSG §35(3)); the contract_delete rule erases it later.
func (s *Service) restrict(ctx context.Context, ws, cid string, actor consent.Actor) (string, error) {
	evs, err := s.Ledger.Events(ctx, ws, cid, false)
	if err != nil {
		return "", err
	}
	if restrictedNow(evs) {
		return OutcomeAlreadyRestricted, nil
	}
	now := s.now()
	err = s.DB.Tx(ctx, func(tx store.Tx) error {
		if _, err := s.Ledger.Append(ctx, tx, ws, cid, consent.NewEvent{Kind: consent.KindRestrictionStarted, OccurredAt: &now,
			Details: consent.Details{Ground: retentionGround}, Evidence: consent.EvidenceInput{Source: "privacy:retention"}}, actor); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO erasures (workspace_id, contact_id, status, actor, retained, restricted_at) VALUES ($1,$2,'restricted',$3,$4,$5)
			ON CONFLICT (workspace_id, contact_id) DO NOTHING`, ws, cid, actorString(actor), `["contact_record","ledger_events"]`, now)
		return err
	})
	if err != nil {
		return "", err
	}
	return OutcomeRestricted, nil
}

// retentionDay is the unique key of a workspace's clean-up on a day.
func retentionDay(t time.Time) string { return "retention:" + t.UTC().Format(time.DateOnly) }

// ScheduleRetention enqueues today's clean-up for every workspace; the
// unique key per day makes repeated calls (every process start) harmless.
func (s *Service) ScheduleRetention(ctx context.Context) error {
	wss, err := store.Strings(ctx, s.DB.R, `SELECT id FROM workspaces ORDER BY id`)
	if err != nil {
		return err
	}
	now := s.now()
	for _, ws := range wss {
		if _, err := s.Jobs.Enqueue(ctx, s.DB.W, jobs.EnqueueParams{WorkspaceID: strings.ToLower(ws), Kind: JobRetention, RunAt: now, UniqueKey: retentionDay(now)}); err != nil {
			return fmt.Errorf("schedule clean-up: %w", err)
		}
	}
	return nil
}

// runRetention applies the clean-up and schedules the next day's run.
func (s *Service) runRetention(ctx context.Context, j *jobs.Job) error {
	res, err := s.Apply(ctx, j.WorkspaceID, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Cancel(err)
	}
	if err != nil {
		return err
	}
	s.log().InfoContext(ctx, "retention clean-up", "workspace_id", j.WorkspaceID, "run_id", res.RunID, "evaluated", res.Evaluated, "failed", res.Failed)
	next := time.Date(s.now().Year(), s.now().Month(), s.now().Day()+1, 3, 0, 0, 0, time.UTC)
	_, err = s.Jobs.Enqueue(ctx, s.DB.W, jobs.EnqueueParams{WorkspaceID: j.WorkspaceID, Kind: JobRetention, RunAt: next, UniqueKey: retentionDay(next)})
	return err
}
