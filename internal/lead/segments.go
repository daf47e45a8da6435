package lead

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/audience"
	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
	"github.com/fairlead/fairlead/internal/validate"
)

// Filter is a segment's condition: a JSON tree of and/or/not over typed
// leaves (docs/leads.md). Exactly one of And, Or, Not, Field, Event or
// Consent is set.
type Filter struct {
	And []Filter `json:"and,omitempty"`
	Or  []Filter `json:"or,omitempty"`
	Not *Filter  `json:"not,omitempty"`

	// Field leaf: audience, relationship, data_source, stage, score, owner
	// or values.<name>.
	Field  string   `json:"field,omitempty"`
	Op     string   `json:"op,omitempty"`
	Value  string   `json:"value,omitempty"`
	Values []string `json:"values,omitempty"`
	Number *float64 `json:"number,omitempty"`

	// Event leaf: op happened or not_happened.
	Event *EventLeaf `json:"event,omitempty"`
	// Consent leaf: op allowed or not_allowed, decided by the engine now.
	Consent *ConsentLeaf `json:"consent,omitempty"`
}

// EventLeaf asks for an event of a type (and name) within the last N days.
type EventLeaf struct {
	Type       string `json:"type"`
	Name       string `json:"name,omitempty"`
	WithinDays int    `json:"within_days"`
}

// ConsentLeaf asks the engine whether the contact may be contacted for a
// purpose on a channel now.
type ConsentLeaf struct {
	Purpose string `json:"purpose"`
	Channel string `json:"channel"`
}

// Segment fields and operators, for validation messages and the docs.
var (
	SegmentFields = []string{"audience", "relationship", "data_source", "stage", "score", "owner", "values.<name>"}
	enumOps       = []string{"eq", "ne", "in"}
	scoreOps      = []string{"gt", "gte", "lt", "lte"}
	ownerOps      = []string{"eq", "present", "absent"}
	valueOps      = []string{"eq", "ne", "in", "present", "absent"}
	eventOps      = []string{"happened", "not_happened"}
	consentOps    = []string{"allowed", "not_allowed"}
)

const maxFilterNodes = 100

// Validate checks the tree, naming the first bad field by its path.
func (f Filter) Validate() error {
	n := 0
	return f.check("filter", 0, &n)
}

func (f Filter) check(path string, depth int, n *int) error {
	*n++
	if *n > maxFilterNodes || depth > 10 {
		return validate.Invalid(path, fmt.Sprintf("a filter has at most %d nodes and 10 levels", maxFilterNodes))
	}
	set := 0
	for _, b := range []bool{f.And != nil, f.Or != nil, f.Not != nil, f.Field != "", f.Event != nil, f.Consent != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return &validate.Error{Field: path, Code: "invalid_value", Allowed: []string{"and", "or", "not", "field", "event", "consent"},
			Message: path + " must have exactly one of and, or, not, field, event, consent"}
	}
	switch {
	case f.And != nil || f.Or != nil:
		list, name := f.And, "and"
		if f.Or != nil {
			list, name = f.Or, "or"
		}
		if len(list) == 0 {
			return validate.Required(path + "." + name)
		}
		for i, c := range list {
			if err := c.check(path+"."+name+"["+strconv.Itoa(i)+"]", depth+1, n); err != nil {
				return err
			}
		}
		return nil
	case f.Not != nil:
		return f.Not.check(path+".not", depth+1, n)
	case f.Event != nil:
		if !slices.Contains(eventOps, f.Op) {
			return validate.OneOf(path+".op", f.Op, eventOps)
		}
		if !slices.Contains(track.Types, f.Event.Type) {
			return validate.OneOf(path+".event.type", f.Event.Type, track.Types)
		}
		if len(f.Event.Name) > track.MaxName {
			return validate.Invalid(path+".event.name", path+".event.name is too long")
		}
		if f.Event.WithinDays < 1 || f.Event.WithinDays > 3650 {
			return validate.Invalid(path+".event.within_days", path+".event.within_days must be between 1 and 3650")
		}
		return nil
	case f.Consent != nil:
		if !slices.Contains(consentOps, f.Op) {
			return validate.OneOf(path+".op", f.Op, consentOps)
		}
		if f.Consent.Purpose == "" {
			return validate.Required(path + ".consent.purpose")
		}
		if f.Consent.Channel == "" {
			return validate.Required(path + ".consent.channel")
		}
		return nil
	}
	// A field leaf.
	var ops, allowed []string
	switch {
	case f.Field == "audience":
		ops, allowed = enumOps, contact.Audiences
	case f.Field == "relationship":
		ops, allowed = enumOps, contact.Relationships
	case f.Field == "data_source":
		ops, allowed = enumOps, contact.DataSources
	case f.Field == "stage":
		ops, allowed = enumOps, Stages
	case f.Field == "score":
		ops = scoreOps
	case f.Field == "owner":
		ops = ownerOps
	case strings.HasPrefix(f.Field, "values."):
		if nm := strings.TrimPrefix(f.Field, "values."); nm == "" || len(nm) > 64 {
			return validate.Invalid(path+".field", path+".field: values.<name> needs a form field name of 1 to 64 characters")
		}
		ops = valueOps
	default:
		return validate.OneOf(path+".field", f.Field, SegmentFields)
	}
	if !slices.Contains(ops, f.Op) {
		return validate.OneOf(path+".op", f.Op, ops)
	}
	if f.Field == "score" {
		if f.Number == nil || math.IsNaN(*f.Number) || math.IsInf(*f.Number, 0) {
			return validate.Required(path + ".number")
		}
		if f.Value != "" || f.Values != nil {
			return validate.Invalid(path+".value", path+": score compares a number; use number")
		}
		return nil
	}
	if f.Number != nil {
		return validate.Invalid(path+".number", path+": only score takes a number")
	}
	vals := f.Values
	switch f.Op {
	case "eq", "ne":
		if f.Value == "" {
			return validate.Required(path + ".value")
		}
		if f.Values != nil {
			return validate.Invalid(path+".values", path+": "+f.Op+" takes value, in takes values")
		}
		vals = []string{f.Value}
	case "in":
		if len(f.Values) == 0 {
			return validate.Required(path + ".values")
		}
		if f.Value != "" {
			return validate.Invalid(path+".value", path+": in takes values")
		}
	case "present", "absent":
		if f.Value != "" || f.Values != nil {
			return validate.Invalid(path+".value", path+": "+f.Op+" takes no value")
		}
	}
	if allowed != nil {
		for _, v := range vals {
			if !slices.Contains(allowed, v) {
				return validate.OneOf(path+".value", v, allowed)
			}
		}
	}
	if f.Field == "owner" && f.Op == "eq" && !id.Valid(f.Value) {
		return validate.Invalid(path+".value", path+".value must be a user ID")
	}
	return nil
}

// touches lists the flag keys (kind:name) the filter may read.
func (f Filter) touches() []string {
	var out []string
	var walk func(Filter)
	walk = func(f Filter) {
		for _, c := range f.And {
			walk(c)
		}
		for _, c := range f.Or {
			walk(c)
		}
		if f.Not != nil {
			walk(*f.Not)
		}
		if f.Field != "" && f.Field != "stage" && f.Field != "score" && f.Field != "owner" {
			out = append(out, "attribute:"+f.Field)
		}
		if f.Event != nil {
			out = append(out, "event_type:"+f.Event.Type)
			if f.Event.Name != "" {
				out = append(out, "event_type:"+f.Event.Type+":"+f.Event.Name)
			}
		}
	}
	walk(f)
	return out
}

// live says whether a node needs Go (sealed values, the engine).
func (f Filter) live() bool {
	if f.Consent != nil || strings.HasPrefix(f.Field, "values.") {
		return true
	}
	for _, c := range append(append([]Filter{}, f.And...), f.Or...) {
		if c.live() {
			return true
		}
	}
	return f.Not != nil && f.Not.live()
}

// onlyState says whether the filter reads lead_state alone.
func (f Filter) onlyState() bool {
	if f.Field != "" {
		return f.Field == "stage" || f.Field == "score" || f.Field == "owner"
	}
	if f.Event != nil || f.Consent != nil {
		return false
	}
	for _, c := range append(append([]Filter{}, f.And...), f.Or...) {
		if !c.onlyState() {
			return false
		}
	}
	return f.Not == nil || f.Not.onlyState()
}

// query is a filter compiled to SQL; live nodes compile to a column of
// their own position so Go can decide them per row.
type query struct {
	args []any
	k    float64 // ln2 * days(now) / half-life
	now  time.Time
	// liveLeaves are the leaves Go decides, by the index used in the SQL.
	liveLeaves []Filter
	// semi compiles event leaves as one semi-join over the events of the
	// type (a single COUNT); a paged walk keeps the per-contact EXISTS,
	// which a page of IDs answers without reading all matching events.
	semi bool
	// fits are the distinct stored fit values (nil: unknown or too many);
	// with them a score leaf becomes index ranges on lead_state_score.
	fits []float64
	// scored: the rows come from lead_state, every one has a state.
	scored bool
	// byContact names the per-contact events index in the EXISTS form, on
	// SQLite only: there the planner preferred track_events_type, which
	// covers the query but is ordered by type and time, so each contact's
	// EXISTS read the events of the type since the time until one was
	// that contact's — all of them for a contact without one.
	byContact bool
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

const scoreExpr = `(COALESCE(s.fit, 0) + CASE WHEN s.eng_log IS NULL OR s.eng_log - %[1]s < -700 THEN 0 ELSE exp(s.eng_log - %[1]s) END)`

// sql compiles f; a live leaf becomes a placeholder "LIVE#i" that the
// caller either never meets (no live leaves) or evaluates in Go.
func (q *query) sql(f Filter) string {
	switch {
	case f.And != nil || f.Or != nil:
		list, op := f.And, " AND "
		if f.Or != nil {
			list, op = f.Or, " OR "
		}
		parts := make([]string, len(list))
		for i, c := range list {
			parts[i] = q.sql(c)
		}
		return "(" + strings.Join(parts, op) + ")"
	case f.Not != nil:
		return "(NOT " + q.sql(*f.Not) + ")"
	case f.Event != nil:
		since := q.now.AddDate(0, 0, -f.Event.WithinDays)
		var cond string
		if q.semi {
			cond = `c.id IN (SELECT e.contact_id FROM track_events e WHERE e.workspace_id = $1 AND e.type = ` + q.arg(f.Event.Type) +
				` AND e.occurred_at >= ` + q.arg(since)
		} else {
			idx := ""
			if q.byContact {
				idx = " INDEXED BY track_events_contact"
			}
			cond = `EXISTS (SELECT 1 FROM track_events e` + idx + ` WHERE e.workspace_id = c.workspace_id AND e.contact_id = c.id AND e.occurred_at >= ` +
				q.arg(since) + ` AND e.type = ` + q.arg(f.Event.Type)
		}
		if f.Event.Name != "" {
			cond += ` AND e.name = ` + q.arg(f.Event.Name)
		}
		cond += ")"
		if f.Op == "not_happened" {
			return "(NOT " + cond + ")"
		}
		return cond
	case f.live():
		q.liveLeaves = append(q.liveLeaves, f)
		return fmt.Sprintf("LIVE#%d", len(q.liveLeaves)-1)
	}
	var col string
	switch f.Field {
	case "audience", "relationship", "data_source":
		col = "c." + f.Field
	case "stage":
		// Counted from lead_state alone, every row has its stage, and the
		// bare column lets the stage index answer; through COALESCE the
		// count read every row of the workspace (306 ms at 1,000,000).
		col = "COALESCE(s.stage, 'visitor')"
		if q.scored {
			col = "s.stage"
		}
	case "owner":
		switch f.Op {
		case "present":
			return "(s.owner IS NOT NULL)"
		case "absent":
			return "(s.owner IS NULL)"
		}
		return "(s.owner IS NOT NULL AND s.owner = " + q.arg(strings.ToLower(f.Value)) + ")"
	case "score":
		k := q.arg(q.k)
		ops := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
		// The log domain rounds in the last bits: a score of exactly the
		// number must compare as equal to it.
		n := *f.Number
		switch f.Op {
		case "gte", "lt":
			n -= 1e-9
		default:
			n += 1e-9
		}
		exact := "(" + fmt.Sprintf(scoreExpr, k) + " " + ops[f.Op] + " " + q.arg(n) + ")"
		if pre := q.scoreRanges(f.Op, n); pre != "" {
			return "(" + pre + " AND " + exact + ")"
		}
		return exact
	}
	switch f.Op {
	case "eq":
		return "(" + col + " = " + q.arg(f.Value) + ")"
	case "ne":
		return "(" + col + " <> " + q.arg(f.Value) + ")"
	}
	ph := make([]string, len(f.Values))
	for i, v := range f.Values {
		ph[i] = q.arg(v)
	}
	return "(" + col + " IN (" + strings.Join(ph, ",") + "))"
}

// maxFits bounds the ranges a score leaf is split into; a rule set with
// more distinct fit sums is compared row by row.
const maxFits = 32

// scoreRanges is a condition every contact matching "score op n" meets
// and that an index answers: the score is fit + exp(eng_log - k), so for
// each stored fit v the engagement needed is a bound on eng_log. The exact
// comparison still decides; the bounds are widened by a margin so the
// rounding of ln and exp can only let more rows through, never fewer.
func (q *query) scoreRanges(op string, n float64) string {
	if q.fits == nil {
		return ""
	}
	var parts []string
	for _, v := range q.fits {
		if p := q.scoreRange(op, n, v); p != "" {
			parts = append(parts, p)
		}
	}
	// A contact never scored has no row: score 0, which the exact
	// comparison (through COALESCE) decides.
	if !q.scored {
		parts = append(parts, "s.contact_id IS NULL")
	}
	if len(parts) == 0 {
		return "(1 = 0)"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// scoreRange is the condition on the scored contacts with fit v, "" when
// none of them can match.
func (q *query) scoreRange(op string, n, v float64) string {
	const margin = 1e-9
	need := n - v // engagement the contact needs (ge) or must stay below (le)
	switch op {
	case "gte", "gt":
		if need < 0 || (need == 0 && op == "gte") {
			return "s.fit = " + q.arg(v)
		}
		if need == 0 {
			return "(s.fit = " + q.arg(v) + " AND s.eng_log IS NOT NULL)"
		}
		return "(s.fit = " + q.arg(v) + " AND s.eng_log >= " + q.arg(q.k+math.Log(need)-margin) + ")"
	default: // lt, lte
		if need < 0 || (need == 0 && op == "lt") {
			return "" // no engagement brings the score back below n
		}
		if need == 0 {
			return "s.fit = " + q.arg(v) // no engagement, or so little it rounds to 0
		}
		return "(s.fit = " + q.arg(v) + " AND (s.eng_log IS NULL OR s.eng_log < " + q.arg(q.k+math.Log(need)+margin) + "))"
	}
}

// distinctFits reads the stored fit values of the workspace, skipping
// through lead_state_score; nil when there are more than maxFits.
func (s *Service) distinctFits(ctx context.Context, ws string) ([]float64, error) {
	var out []float64
	var v *float64
	if err := s.DB.R.QueryRowContext(ctx, `SELECT MIN(fit) FROM lead_state WHERE workspace_id = $1`, ws).Scan(&v); err != nil {
		return nil, fmt.Errorf("lead: read fits: %w", err)
	}
	for v != nil {
		if len(out) == maxFits {
			return nil, nil
		}
		out = append(out, *v)
		last := *v
		v = nil
		if err := s.DB.R.QueryRowContext(ctx, `SELECT MIN(fit) FROM lead_state WHERE workspace_id = $1 AND fit > $2`, ws, last).Scan(&v); err != nil {
			return nil, fmt.Errorf("lead: read fits: %w", err)
		}
	}
	if out == nil {
		out = []float64{}
	}
	return out, nil
}

// usesState says whether a filter reads lead_state.
func (f Filter) usesState() bool {
	for _, l := range leaves(f) {
		if l.Field == "stage" || l.Field == "score" || l.Field == "owner" {
			return true
		}
	}
	return false
}

// hasScore says whether a filter has a score leaf.
func (f Filter) hasScore() bool {
	for _, l := range leaves(f) {
		if l.Field == "score" {
			return true
		}
	}
	return false
}

// evalLive evaluates f for one contact, with the SQL leaves already
// answered in sqlLeaves (by the position they were compiled at).
type liveEval struct {
	s        *Service
	ctx      context.Context
	ws, cid  string
	leafSQL  map[int]bool
	values   map[string]string
	valuesOK bool
}

func (e *liveEval) value(name string) (string, error) {
	if !e.valuesOK {
		e.valuesOK = true
		if e.s.Values != nil {
			v, err := e.s.Values(e.ctx, e.ws, e.cid)
			if err != nil && store.MapError(err) != store.ErrNotFound {
				return "", err
			}
			e.values = v
		}
	}
	return e.values[name], nil
}

func (e *liveEval) leaf(f Filter) (bool, error) {
	if f.Consent != nil {
		d, err := e.s.Audience.Decide(e.ctx, e.ws, e.cid, f.Consent.Purpose, f.Consent.Channel, audienceNone)
		if err != nil {
			return false, err
		}
		return d.Allowed == (f.Op == "allowed"), nil
	}
	v, err := e.value(strings.TrimPrefix(f.Field, "values."))
	if err != nil {
		return false, err
	}
	return Condition{Attribute: "values.x", Op: f.Op, Value: f.Value, Values: f.Values}.holds(profile{Values: map[string]string{"x": v}}), nil
}

var audienceNone = audience.Campaign{}

// segment stream: one pass in ID order, pages of segPage contacts.
var segPage = 5000

// compiled is a filter ready to run.
type compiled struct {
	f         Filter
	where     string
	q         *query
	explicit  bool // members need explicit consent (the filter touches flagged data)
	liveCount int
	// onlyIn restricts a run to the contacts a subquery selects ("" for
	// all; $1 is the workspace): asking which of a few known contacts are
	// members reads those few, not the segment.
	onlyIn string
}

func (s *Service) compile(ctx context.Context, ws string, f Filter) (*compiled, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	for _, leaf := range leaves(f) {
		if leaf.Consent != nil && s.Audience != nil {
			// The engine names a bad purpose or channel with the allowed ones.
			if _, err := s.Audience.Decide(ctx, ws, id.New(), leaf.Consent.Purpose, leaf.Consent.Channel, audienceNone); err != nil {
				if _, ok := err.(*validate.Error); ok {
					return nil, err
				}
			}
		}
	}
	rs, err := s.ActiveRules(ctx, ws)
	if err != nil {
		return nil, err
	}
	sens, err := s.sensitiveSet(ctx, s.DB.R, ws)
	if err != nil {
		return nil, err
	}
	now := s.now()
	q := &query{now: now, k: math.Ln2 * days(now) / rs.Rules.HalfLifeDays}
	if f.hasScore() {
		if q.fits, err = s.distinctFits(ctx, ws); err != nil {
			return nil, err
		}
	}
	q.arg(ws)
	c := &compiled{f: f, q: q}
	c.where = q.sql(f)
	c.liveCount = len(q.liveLeaves)
	for _, k := range f.touches() {
		kind, name, _ := strings.Cut(k, ":")
		if (kind == "attribute" && sens.attribute(name)) || (kind == "event_type" && sens.events[name]) {
			c.explicit = true
		}
	}
	return c, nil
}

func leaves(f Filter) []Filter {
	if f.And == nil && f.Or == nil && f.Not == nil {
		return []Filter{f}
	}
	var out []Filter
	for _, c := range append(append([]Filter{}, f.And...), f.Or...) {
		out = append(out, leaves(c)...)
	}
	if f.Not != nil {
		out = append(out, leaves(*f.Not)...)
	}
	return out
}

// evalTree evaluates the compiled tree for one row: SQL leaves come from
// the row's columns, live ones from Go.
func (c *compiled) evalTree(f Filter, e *liveEval, next *int, sqlVals []bool) (bool, error) {
	switch {
	case f.And != nil:
		all := true
		for _, x := range f.And {
			v, err := c.evalTree(x, e, next, sqlVals)
			if err != nil {
				return false, err
			}
			all = all && v
		}
		return all, nil
	case f.Or != nil:
		any := false
		for _, x := range f.Or {
			v, err := c.evalTree(x, e, next, sqlVals)
			if err != nil {
				return false, err
			}
			any = any || v
		}
		return any, nil
	case f.Not != nil:
		v, err := c.evalTree(*f.Not, e, next, sqlVals)
		return !v, err
	case f.live():
		return e.leaf(f)
	}
	i := *next
	*next++
	return sqlVals[i], nil
}

// sqlLeaves compiles every non-live leaf to its own boolean column, in the
// order evalTree meets them.
func (c *compiled) sqlLeaves(f Filter, q *query, out *[]string) {
	switch {
	case f.And != nil || f.Or != nil:
		for _, x := range append(append([]Filter{}, f.And...), f.Or...) {
			c.sqlLeaves(x, q, out)
		}
	case f.Not != nil:
		c.sqlLeaves(*f.Not, q, out)
	case f.live():
	default:
		*out = append(*out, "CASE WHEN "+q.sql(f)+" THEN 1 ELSE 0 END")
	}
}

const segFrom = ` FROM contacts c LEFT JOIN lead_state s ON s.workspace_id = c.workspace_id AND s.contact_id = c.id WHERE c.workspace_id = $1`

// run streams the matching contact IDs in ID order after after (""
// from the start), at most limit (0 = all).
func (s *Service) run(ctx context.Context, ws string, c *compiled, after string, limit int, emit func(string) error) error {
	emitted := 0
	for {
		// No score ranges here: a walk pages through contacts in ID order
		// anyway, and fit values that appear during a long walk (a rule
		// change and its recompute) must not drop members from a send.
		q := &query{now: c.q.now, k: c.q.k, byContact: s.DB.Dialect == store.SQLite}
		q.arg(ws)
		var sel string
		var cols []string
		if c.liveCount == 0 {
			sel = `SELECT c.id` + segFrom + ` AND ` + q.sql(c.f)
		} else {
			c.sqlLeaves(c.f, q, &cols)
			sel = `SELECT c.id`
			for _, x := range cols {
				sel += ", " + x
			}
			sel += segFrom
		}
		if after != "" {
			sel += ` AND c.id > ` + q.arg(after)
		}
		if c.onlyIn != "" {
			sel += ` AND c.id IN (` + c.onlyIn + `)`
		}
		// When the database answers the whole filter, every row it returns
		// is a member: a page of 50 then reads 50 rows, not segPage.
		want := segPage
		if limit > 0 && c.liveCount == 0 && !c.explicit {
			want = min(segPage, limit-emitted)
		}
		sel += ` ORDER BY c.id LIMIT ` + strconv.Itoa(want)
		rows, err := s.DB.R.QueryContext(ctx, sel, q.args...)
		if err != nil {
			return fmt.Errorf("lead: segment: %w", err)
		}
		type row struct {
			id   string
			vals []bool
		}
		var page []row
		for rows.Next() {
			r := row{vals: make([]bool, len(cols))}
			dst := []any{&r.id}
			ints := make([]int, len(cols))
			for i := range ints {
				dst = append(dst, &ints[i])
			}
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return err
			}
			for i, v := range ints {
				r.vals[i] = v == 1
			}
			r.id = strings.ToLower(r.id)
			page = append(page, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
		for _, r := range page {
			ok := true
			if c.liveCount > 0 {
				next := 0
				e := &liveEval{s: s, ctx: ctx, ws: ws, cid: r.id}
				ok, err = c.evalTree(c.f, e, &next, r.vals)
				if err != nil {
					return err
				}
			}
			if ok && c.explicit {
				ok, err = s.ExplicitConsent(ctx, ws, r.id)
				if err != nil {
					return err
				}
			}
			if ok {
				if err := emit(r.id); err != nil {
					return err
				}
				emitted++
				if limit > 0 && emitted >= limit {
					return nil
				}
			}
		}
		if len(page) < want {
			return nil
		}
		after = page[len(page)-1].id
	}
}

// Count is the number of contacts that match f now. A filter that the
// database can answer alone is one COUNT; one reading lead_state alone,
// and false for a contact never scored, counts lead_state rows only.
func (s *Service) Count(ctx context.Context, ws string, f Filter) (int, error) {
	if !id.Valid(ws) {
		return 0, store.ErrNotFound
	}
	c, err := s.compile(ctx, ws, f)
	if err != nil {
		return 0, err
	}
	if c.liveCount == 0 && !c.explicit && s.DB.Dialect == store.SQLite {
		return s.countSets(ctx, ws, c)
	}
	if c.liveCount == 0 && !c.explicit {
		// A filter false for every contact without a lead_state row is
		// counted from lead_state, so the score ranges and the stage index
		// lead; one that may hold for them walks the contacts.
		q := &query{now: c.q.now, k: c.q.k, fits: c.q.fits, semi: true}
		q.arg(ws)
		var query string
		switch {
		case f.onlyState() && f.unscored() == no:
			q.scored = true
			query = `SELECT COUNT(*) FROM lead_state s WHERE s.workspace_id = $1 AND ` + q.sql(f)
		case f.unscored() == no:
			// CROSS JOIN keeps lead_state first on SQLite, whose planner
			// would otherwise walk all contacts of the workspace.
			q.scored = true
			query = `SELECT COUNT(*) FROM lead_state s CROSS JOIN contacts c WHERE s.workspace_id = $1 AND c.workspace_id = s.workspace_id AND c.id = s.contact_id AND ` + q.sql(f)
		case !f.usesState():
			query = `SELECT COUNT(*) FROM contacts c WHERE c.workspace_id = $1 AND ` + q.sql(f)
		default:
			query = `SELECT COUNT(*)` + segFrom + ` AND ` + q.sql(f)
		}
		var n int
		if err := s.DB.R.QueryRowContext(ctx, query, q.args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("lead: count segment: %w", err)
		}
		return n, nil
	}
	n := 0
	err = s.run(ctx, ws, c, "", 0, func(string) error { n++; return nil })
	return n, err
}

// Three-valued answers of unscored.
const (
	no = iota
	yes
	unknown
)

// unscored says what f is for a contact without a lead_state row (visitor,
// score 0, no owner): no, yes, or unknown where it depends on the contact's
// attributes or events.
func (f Filter) unscored() int {
	switch {
	case f.And != nil:
		out := yes
		for _, c := range f.And {
			switch c.unscored() {
			case no:
				return no
			case unknown:
				out = unknown
			}
		}
		return out
	case f.Or != nil:
		out := no
		for _, c := range f.Or {
			switch c.unscored() {
			case yes:
				return yes
			case unknown:
				out = unknown
			}
		}
		return out
	case f.Not != nil:
		switch f.Not.unscored() {
		case no:
			return yes
		case yes:
			return no
		}
		return unknown
	}
	if f.Field == "stage" || f.Field == "score" || f.Field == "owner" {
		if f.matchesUnscored(nil) {
			return yes
		}
		return no
	}
	return unknown
}

// matchesUnscored evaluates a state-only filter on a contact without a
// lead_state row (visitor, score 0, no owner).
func (f Filter) matchesUnscored(q *query) bool {
	switch {
	case f.And != nil:
		for _, c := range f.And {
			if !c.matchesUnscored(q) {
				return false
			}
		}
		return true
	case f.Or != nil:
		for _, c := range f.Or {
			if c.matchesUnscored(q) {
				return true
			}
		}
		return false
	case f.Not != nil:
		return !f.Not.matchesUnscored(q)
	}
	switch f.Field {
	case "stage":
		return Condition{Attribute: "audience", Op: f.Op, Value: f.Value, Values: f.Values}.holds(profile{Audience: StageVisitor})
	case "score":
		n := *f.Number
		return map[string]bool{"gt": 0 > n, "gte": 0 >= n, "lt": 0 < n, "lte": 0 <= n}[f.Op]
	case "owner":
		return f.Op == "absent"
	}
	return true
}

// Preview counts the contacts a filter matches, without saving it.
func (s *Service) Preview(ctx context.Context, ws string, f Filter) (int, error) {
	return s.Count(ctx, ws, f)
}

// Segment is a saved filter.
type Segment struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Filter    Filter    `json:"filter"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// SaveSegment creates a segment (id "") or replaces one's name and filter.
func (s *Service) SaveSegment(ctx context.Context, ws, segmentID, actor, name string, f Filter) (Segment, error) {
	if !id.Valid(ws) {
		return Segment{}, store.ErrNotFound
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return Segment{}, validate.Required("name")
	}
	if len(name) > 200 {
		return Segment{}, validate.Invalid("name", "name must have at most 200 characters")
	}
	if _, err := s.compile(ctx, ws, f); err != nil {
		return Segment{}, err
	}
	raw, _ := json.Marshal(f)
	now := s.now().Truncate(time.Microsecond)
	if segmentID == "" {
		sg := Segment{ID: id.NewAt(now), Name: name, Filter: f, CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
		_, err := s.DB.W.ExecContext(ctx, `INSERT INTO lead_segments (id, workspace_id, name, filter, created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
			sg.ID, ws, name, string(raw), actor, now, now)
		return sg, store.MapError(err)
	}
	if !id.Valid(segmentID) {
		return Segment{}, store.ErrNotFound
	}
	res, err := s.DB.W.ExecContext(ctx, `UPDATE lead_segments SET name = $3, filter = $4, updated_at = $5 WHERE workspace_id = $1 AND id = $2`,
		ws, segmentID, name, string(raw), now)
	if err != nil {
		return Segment{}, store.MapError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Segment{}, store.ErrNotFound
	}
	return s.Segment(ctx, ws, segmentID)
}

// Segment returns one saved segment.
func (s *Service) Segment(ctx context.Context, ws, segmentID string) (Segment, error) {
	if !id.Valid(ws) || !id.Valid(segmentID) {
		return Segment{}, store.ErrNotFound
	}
	sgs, err := s.segments(ctx, ` AND id = $2`, ws, strings.ToLower(segmentID))
	if err != nil {
		return Segment{}, err
	}
	if len(sgs) == 0 {
		return Segment{}, store.ErrNotFound
	}
	return sgs[0], nil
}

// Segments lists the saved segments by name.
func (s *Service) Segments(ctx context.Context, ws string) ([]Segment, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	return s.segments(ctx, ``, ws)
}

func (s *Service) segments(ctx context.Context, cond string, args ...any) ([]Segment, error) {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT id, name, filter, created_by, created_at, updated_at FROM lead_segments WHERE workspace_id = $1`+cond+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Segment{}
	for rows.Next() {
		var sg Segment
		var raw string
		if err := rows.Scan(&sg.ID, &sg.Name, &raw, &sg.CreatedBy, &sg.CreatedAt, &sg.UpdatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &sg.Filter); err != nil {
			return nil, fmt.Errorf("lead: stored segment %s: %w", sg.ID, err)
		}
		sg.CreatedAt, sg.UpdatedAt = sg.CreatedAt.UTC(), sg.UpdatedAt.UTC()
		out = append(out, sg)
	}
	return out, rows.Err()
}

// Members emits the contact IDs of a saved segment in ID order. The
// campaign still asks the engine for each: a segment says who is meant,
// never who may be contacted.
func (s *Service) Members(ctx context.Context, ws, segmentID string, emit func(contactID string) error) error {
	sg, err := s.Segment(ctx, ws, segmentID)
	if err != nil {
		return err
	}
	c, err := s.compile(ctx, ws, sg.Filter)
	if err != nil {
		return err
	}
	return s.run(ctx, ws, c, "", 0, emit)
}

// MemberPage lists up to limit members after the given contact ID.
func (s *Service) MemberPage(ctx context.Context, ws, segmentID, after string, limit int) ([]string, error) {
	sg, err := s.Segment(ctx, ws, segmentID)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return nil, validate.Invalid("limit", "limit must be 1 to 1000")
	}
	if after != "" && !id.Valid(after) {
		return nil, validate.Invalid("after", "after must be a contact ID")
	}
	c, err := s.compile(ctx, ws, sg.Filter)
	if err != nil {
		return nil, err
	}
	out := []string{}
	err = s.run(ctx, ws, c, strings.ToLower(after), limit, func(cid string) error { out = append(out, cid); return nil })
	return out, err
}
