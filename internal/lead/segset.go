package lead

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fairlead/fairlead/internal/contact"
)

// A segment count on SQLite evaluates the filter as sets of contact IDs.
// Each leaf is read from an index range that holds the contact ID (the
// stage, score and attribute indexes, the events by type and time), and
// the tree combines the sorted sets by merging. Counting by joining the
// leaves instead looked each candidate up in another index, one B-tree
// descent per candidate: 150,000 lookups for 54,400 members of "b2b and
// score >= 20" at 1,000,000 contacts, over a second of CPU. SQLite has no
// hash or merge join of its own; PostgreSQL has both and keeps the single
// COUNT.

// idSet is a set of contact IDs, sorted and without repeats; neg means
// every contact of the workspace except those.
type idSet struct {
	ids []string
	neg bool
}

// probeMax: once the members of an AND are known to be this few, the
// remaining conditions are checked for those contacts alone, by key,
// instead of reading the remaining leaves' whole sets.
// About 8 µs a contact at 1,000,000 (the contact, its state, an event
// leaf's EXISTS), against about 0.6 µs per ID of a range read: 10,000
// probes cost about as much as reading the 250,000 IDs of a quarter of
// the contacts.
var probeMax = 10000

type setEval struct {
	s   *Service
	ctx context.Context
	ws  string
	q   *query // now, k and fits of the compiled filter
}

// countSets is Count on SQLite for a filter the database answers alone.
func (s *Service) countSets(ctx context.Context, ws string, c *compiled) (int, error) {
	e := &setEval{s: s, ctx: ctx, ws: ws, q: c.q}
	if l, ok := e.leafParts(c.f); ok && l.distinct {
		// A single leaf is counted in the database, range by range: its
		// parts are disjoint. (Events repeat contacts; COUNT(DISTINCT)
		// builds a temporary B-tree, which took 0.8 s for 150,000
		// contacts, so they are read and counted as a set.)
		parts := l.parts
		if l.whole != nil {
			parts = []part{*l.whole}
		}
		n := 0
		for _, p := range parts {
			k, err := e.countPart(p, l.distinct)
			if err != nil {
				return 0, err
			}
			n += k
		}
		if l.neg {
			total, err := e.total()
			if err != nil {
				return 0, err
			}
			n = total - n
		}
		return n, nil
	}
	set, err := e.eval(c.f)
	if err != nil {
		return 0, err
	}
	if !set.neg {
		return len(set.ids), nil
	}
	total, err := e.total()
	if err != nil {
		return 0, err
	}
	return total - len(set.ids), nil
}

// total counts the workspace's contacts. Every contact ID that a leaf
// reads from lead_state or track_events is one of them: contacts are never
// deleted (erasure destroys their key and keeps the row).
func (e *setEval) total() (int, error) {
	var n int
	err := e.s.DB.R.QueryRowContext(e.ctx, `SELECT COUNT(*) FROM contacts WHERE workspace_id = $1`, e.ws).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lead: count segment: %w", err)
	}
	return n, nil
}

// part is one index range of a leaf: FROM and WHERE after "SELECT col",
// with $1 the workspace.
type part struct {
	col, from string
	args      []any
}

// leafSet is a leaf as parts whose union (or, with neg, its complement) is
// the leaf's set. distinct: no contact appears twice within or across the
// parts (events may repeat a contact).
type leafSet struct {
	parts    []part
	neg      bool
	distinct bool
	// whole, when set, counts all parts in one statement.
	whole *part
}

func (e *setEval) newPart(col, from string, args ...any) part {
	return part{col: col, from: from, args: append([]any{e.ws}, args...)}
}

// leafParts compiles a leaf; ok is false for and/or/not.
func (e *setEval) leafParts(f Filter) (leafSet, bool) {
	switch {
	case f.And != nil || f.Or != nil || f.Not != nil:
		return leafSet{}, false
	case f.Event != nil:
		since := e.q.now.AddDate(0, 0, -f.Event.WithinDays)
		from := ` FROM track_events e WHERE e.workspace_id = $1 AND e.type = $2 AND e.occurred_at >= $3`
		args := []any{f.Event.Type, since}
		if f.Event.Name != "" {
			from += ` AND e.name = $4`
			args = append(args, f.Event.Name)
		}
		return leafSet{parts: []part{e.newPart("e.contact_id", from, args...)}, neg: f.Op == "not_happened"}, true
	}
	switch f.Field {
	case "stage":
		// A contact without a state is a visitor.
		want := map[string]bool{}
		for _, st := range Stages {
			want[st] = Condition{Attribute: "audience", Op: f.Op, Value: f.Value, Values: f.Values}.holds(profile{Audience: st})
		}
		neg := want[StageVisitor]
		l := leafSet{neg: neg, distinct: true}
		for _, st := range Stages {
			if want[st] != neg {
				l.parts = append(l.parts, e.newPart("s.contact_id", ` FROM lead_state s WHERE s.workspace_id = $1 AND s.stage = $2`, st))
			}
		}
		return l, true
	case "owner":
		switch f.Op {
		case "present", "absent":
			return leafSet{parts: []part{e.newPart("s.contact_id", ` FROM lead_state s INDEXED BY lead_state_owner WHERE s.workspace_id = $1 AND s.owner IS NOT NULL`)},
				neg: f.Op == "absent", distinct: true}, true
		}
		return leafSet{parts: []part{e.newPart("s.contact_id", ` FROM lead_state s INDEXED BY lead_state_owner WHERE s.workspace_id = $1 AND s.owner IS NOT NULL AND s.owner = $2`, strings.ToLower(f.Value))}, distinct: true}, true
	case "score":
		return e.scoreParts(f), true
	}
	return e.attrParts(f), true
}

// complement maps a score comparison to the one that holds exactly when it
// does not, with the same rounding margin (see query.sql).
var complement = map[string]string{"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}

// scoreParts: the scored contacts that match, or, when a contact without a
// state (score 0) matches, the complement of the scored ones that do not.
// Each stored fit value is its own query: given as one OR of ranges,
// SQLite's planner walked the whole of lead_state_score instead.
func (e *setEval) scoreParts(f Filter) leafSet {
	op, n := f.Op, *f.Number
	adj := n - 1e-9
	if op == "gt" || op == "lte" {
		adj = n + 1e-9
	}
	zero := map[string]bool{"gt": 0 > adj, "gte": 0 >= adj, "lt": 0 < adj, "lte": 0 <= adj}[op]
	l := leafSet{neg: zero, distinct: true}
	if zero {
		op = complement[op]
	}
	cmp := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
	mk := func(v *float64) {
		q := &query{now: e.q.now, k: e.q.k}
		q.arg(e.ws)
		exact := fmt.Sprintf(scoreExpr, q.arg(e.q.k)) + " " + cmp + " " + q.arg(adj)
		from := ` FROM lead_state s WHERE s.workspace_id = $1 AND ` + exact
		if v != nil {
			cond := q.scoreRange(op, adj, *v)
			if cond == "" {
				return
			}
			from += ` AND ` + cond
		}
		l.parts = append(l.parts, part{col: "s.contact_id", from: from, args: q.args})
	}
	if e.q.fits == nil {
		mk(nil)
	}
	for _, v := range e.q.fits {
		mk(&v)
	}
	return l
}

// attrParts: one range of contacts_lead_sets per combination of the plain
// attributes that matches, each in ID order.
func (e *setEval) attrParts(f Filter) leafSet {
	cols := []struct {
		name    string
		allowed []string
	}{{"audience", contact.Audiences}, {"relationship", contact.Relationships}, {"data_source", contact.DataSources}}
	vals := f.Values
	if f.Op != "in" {
		vals = []string{f.Value}
	}
	l := leafSet{neg: f.Op == "ne", distinct: true}
	combos := [][]string{nil}
	whole := ` FROM contacts c INDEXED BY contacts_lead_sets WHERE c.workspace_id = $1`
	var wholeArgs []any
	for _, c := range cols {
		choice := c.allowed
		if c.name == f.Field {
			choice = nil
			for _, v := range c.allowed {
				if slices.Contains(vals, v) {
					choice = append(choice, v)
				}
			}
		}
		var ph []string
		for _, v := range choice {
			wholeArgs = append(wholeArgs, v)
			ph = append(ph, "$"+strconv.Itoa(len(wholeArgs)+1))
		}
		whole += ` AND c.` + c.name + ` IN (` + strings.Join(ph, ",") + `)`
		var next [][]string
		for _, prefix := range combos {
			for _, v := range choice {
				next = append(next, append(slices.Clone(prefix), v))
			}
		}
		combos = next
	}
	for _, c := range combos {
		l.parts = append(l.parts, e.newPart("c.id", ` FROM contacts c INDEXED BY contacts_lead_sets WHERE c.workspace_id = $1 AND c.audience = $2 AND c.relationship = $3 AND c.data_source = $4`, c[0], c[1], c[2]))
	}
	w := e.newPart("c.id", whole, wholeArgs...)
	l.whole = &w
	return l
}

func (e *setEval) countPart(p part, distinct bool) (int, error) {
	sel := `SELECT COUNT(*)`
	if !distinct {
		sel = `SELECT COUNT(DISTINCT ` + p.col + `)`
	}
	var n int
	if err := e.s.DB.R.QueryRowContext(e.ctx, sel+p.from, p.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("lead: count segment: %w", err)
	}
	return n, nil
}

// readPart reads a part's contact IDs, sorted and without repeats. The
// IDs come as one text: a row per ID through database/sql cost about
// twice as much CPU as SQLite stepping the index.
func (e *setEval) readPart(p part) ([]string, error) {
	var all sql.NullString
	if err := e.s.DB.R.QueryRowContext(e.ctx, `SELECT group_concat(`+p.col+`, ',')`+p.from, p.args...).Scan(&all); err != nil {
		return nil, fmt.Errorf("lead: segment: %w", err)
	}
	if !all.Valid || all.String == "" {
		return nil, nil
	}
	ids := strings.Split(all.String, ",")
	if !slices.IsSorted(ids) {
		slices.Sort(ids)
	}
	return slices.Compact(ids), nil
}

func (e *setEval) readLeaf(l leafSet) (idSet, error) {
	// Read one after the other: two ranges read at once on two reader
	// connections took more CPU and no less time (each connection fetches
	// its pages on its own).
	lists := make([][]string, len(l.parts))
	for i, p := range l.parts {
		var err error
		if lists[i], err = e.readPart(p); err != nil {
			return idSet{}, err
		}
	}
	// Merged in pairs, so each ID is copied once per level, not once per
	// part after its own (an attribute leaf has up to 12 parts).
	for len(lists) > 1 {
		var next [][]string
		for i := 0; i < len(lists); i += 2 {
			if i+1 == len(lists) {
				next = append(next, lists[i])
			} else {
				next = append(next, union(lists[i], lists[i+1]))
			}
		}
		lists = next
	}
	var out []string
	if len(lists) == 1 {
		out = lists[0]
	}
	return idSet{ids: out, neg: l.neg}, nil
}

// cost orders the children of an AND: the ones whose set is small for
// most filters come first, so the probe can answer the rest.
func cost(f Filter) int {
	switch {
	case f.Field == "stage":
		if (Condition{Attribute: "audience", Op: f.Op, Value: f.Value, Values: f.Values}).holds(profile{Audience: StageVisitor}) {
			return 4
		}
		return 0
	case f.Field == "score", f.Field == "owner" && f.Op == "eq":
		return 1
	case f.Event != nil && f.Op == "happened":
		return 2
	case f.Field == "owner":
		return 5
	case f.Not != nil, f.Event != nil:
		return 6
	case f.And != nil, f.Or != nil:
		return 4
	}
	return 3 // plain attributes: large ranges
}

func (e *setEval) eval(f Filter) (idSet, error) {
	if l, ok := e.leafParts(f); ok {
		return e.readLeaf(l)
	}
	switch {
	case f.Not != nil:
		x, err := e.eval(*f.Not)
		x.neg = !x.neg
		return x, err
	case f.Or != nil:
		var acc idSet
		for i, c := range f.Or {
			x, err := e.eval(c)
			if err != nil {
				return idSet{}, err
			}
			if i == 0 {
				acc = x
			} else {
				acc = orSets(acc, x)
			}
		}
		return acc, nil
	}
	kids := slices.Clone(f.And)
	slices.SortStableFunc(kids, func(a, b Filter) int { return cost(a) - cost(b) })
	var acc idSet
	for i, c := range kids {
		if i > 0 && !acc.neg && len(acc.ids) <= probeMax {
			return e.probe(Filter{And: kids[i:]}, acc.ids)
		}
		x, err := e.eval(c)
		if err != nil {
			return idSet{}, err
		}
		if i == 0 {
			acc = x
		} else {
			acc = andSets(acc, x)
		}
	}
	return acc, nil
}

// probe keeps those of the few contacts ids (sorted) that match f, each
// looked up by key with the per-contact form of the filter.
func (e *setEval) probe(f Filter, ids []string) (idSet, error) {
	if len(ids) == 0 {
		return idSet{}, nil
	}
	q := &query{now: e.q.now, k: e.q.k, byContact: true}
	q.arg(e.ws)
	raw, err := json.Marshal(ids)
	if err != nil {
		return idSet{}, err
	}
	list := q.arg(string(raw))
	where := q.sql(f)
	// CROSS JOIN: the list drives, each of its contacts found by key; the
	// state only when the conditions read it.
	sel := `SELECT group_concat(c.id, ',') FROM json_each(` + list + `) j CROSS JOIN contacts c`
	if f.usesState() {
		sel += ` LEFT JOIN lead_state s ON s.workspace_id = c.workspace_id AND s.contact_id = c.id`
	}
	sel += ` WHERE c.workspace_id = $1 AND c.id = j.value AND ` + where
	var all sql.NullString
	if err := e.s.DB.R.QueryRowContext(e.ctx, sel, q.args...).Scan(&all); err != nil {
		return idSet{}, fmt.Errorf("lead: segment: %w", err)
	}
	if !all.Valid || all.String == "" {
		return idSet{}, nil
	}
	out := strings.Split(all.String, ",")
	if !slices.IsSorted(out) {
		slices.Sort(out)
	}
	return idSet{ids: slices.Compact(out)}, nil
}

func andSets(a, b idSet) idSet {
	switch {
	case !a.neg && !b.neg:
		return idSet{ids: intersect(a.ids, b.ids)}
	case !a.neg:
		return idSet{ids: minus(a.ids, b.ids)}
	case !b.neg:
		return idSet{ids: minus(b.ids, a.ids)}
	}
	return idSet{ids: union(a.ids, b.ids), neg: true}
}

func orSets(a, b idSet) idSet {
	switch {
	case !a.neg && !b.neg:
		return idSet{ids: union(a.ids, b.ids)}
	case !a.neg:
		return idSet{ids: minus(b.ids, a.ids), neg: true}
	case !b.neg:
		return idSet{ids: minus(a.ids, b.ids), neg: true}
	}
	return idSet{ids: intersect(a.ids, b.ids), neg: true}
}

func intersect(a, b []string) []string {
	var out []string
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func minus(a, b []string) []string {
	out := make([]string, 0, len(a))
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
