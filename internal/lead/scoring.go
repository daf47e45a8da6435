package lead

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/track"
)

// contribution is one stored score contribution: points as granted (after
// the cap), at the event's time; fit contributions carry the time they
// were evaluated and do not decay.
type contribution struct {
	ruleID, kind, eventID, eventType, eventName string
	points                                      float64
	capped                                      bool
	at                                          time.Time
	version                                     int // of the rule set that gave it
}

type capKey struct {
	rule   string
	bucket int64
}

// scorer applies one rule set to one contact at a time; both the
// incremental hook and the recompute use it, so they cannot disagree.
type scorer struct {
	rules   Rules
	version int
	sens    sensitiveSet
	now     time.Time
}

// contactScore is what the scorer accumulates for one contact.
type contactScore struct {
	fit      float64
	engLog   float64
	contribs []contribution
	capUsed  capsGiven
}

// capsGiven is what capped rules gave a contact per rule and cap period.
// A contact has a few such periods, so a list searched in order is cheaper
// than a map, which a recompute would make for most of a million contacts.
type capsGiven []capUse

type capUse struct {
	key  capKey
	used float64
}

func (c capsGiven) get(k capKey) float64 {
	for _, u := range c {
		if u.key == k {
			return u.used
		}
	}
	return 0
}

func (c *capsGiven) add(k capKey, p float64) {
	for i := range *c {
		if (*c)[i].key == k {
			(*c)[i].used += p
			return
		}
	}
	*c = append(*c, capUse{k, p})
}

// newContactScore starts a contact with nothing; capUsed and contribs
// are allocated at their first entry, so a contact without events costs
// only the fit's.
func newContactScore() *contactScore {
	return &contactScore{engLog: math.Inf(-1)}
}

// bucket numbers the cap periods: fixed windows of period_days counted from
// the epoch, so a period is the same for the hook and the recompute.
func bucket(at time.Time, periodDays int) int64 {
	return int64(math.Floor(days(at) / float64(periodDays)))
}

func bucketStart(b int64, periodDays int) time.Time {
	return epoch.Add(time.Duration(b*int64(periodDays)) * 24 * time.Hour)
}

func (r EngagementRule) matches(e track.Event) bool {
	return r.Type == e.Type && (r.Name == "" || r.Name == e.Name)
}

// touchesSensitive says whether the scorer needs to know about explicit
// consent for this event.
func (sc *scorer) eventSensitive(e track.Event) bool {
	return sc.sens.event(e.Type, e.Name)
}

// applyEvent adds the points of every rule the event matches. explicit
// says whether the person gave explicit consent; a flagged event gives
// nothing without it.
func (sc *scorer) applyEvent(cs *contactScore, e track.Event, explicit func() bool) {
	if sc.eventSensitive(e) && !explicit() {
		return
	}
	for _, r := range sc.rules.Engagement {
		if !r.matches(e) {
			continue
		}
		p := r.Points
		capped := false
		if r.Cap != nil {
			k := capKey{r.ID, bucket(e.At, r.Cap.PeriodDays)}
			left := r.Cap.Points - cs.capUsed.get(k)
			if left <= 1e-9 {
				continue
			}
			if p > left {
				p, capped = left, true
			}
			cs.capUsed.add(k, p)
		}
		cs.engLog = logAdd(cs.engLog, logAt(p, e.At, sc.rules.HalfLifeDays))
		if cs.contribs == nil {
			// Room for a few events and the fit in one allocation, not
			// the three or four of growing from one.
			cs.contribs = make([]contribution, 0, 6)
		}
		cs.contribs = append(cs.contribs, contribution{ruleID: r.ID, kind: "engagement", eventID: e.ID, eventType: e.Type, eventName: e.Name, points: p, capped: capped, at: e.At, version: sc.version})
	}
}

// applyFit evaluates the fit rules on the record; a rule on a flagged
// attribute counts only with explicit consent.
func (sc *scorer) applyFit(cs *contactScore, p profile, explicit func() bool) {
	cs.fit = 0
	for _, r := range sc.rules.Fit {
		if !allHold(r.When, p) {
			continue
		}
		if sc.sens.anyAttribute(r.When) && !explicit() {
			continue
		}
		cs.fit += r.Points
		cs.contribs = append(cs.contribs, contribution{ruleID: r.ID, kind: "fit", points: r.Points, at: sc.now, version: sc.version})
	}
}

func (sc *scorer) needsRecord() bool { return sc.rules.needsRecord() }

func (s *Service) newScorer(ctx context.Context, q store.Querier, ws string) (*scorer, error) {
	rs, err := s.activeRules(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	sens, err := s.sensitiveSet(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	return &scorer{rules: rs.Rules, version: rs.Version, sens: sens, now: s.now().Truncate(time.Microsecond)}, nil
}

// profile reads what the fit and assignment rules test of one contact, in
// q; ok is false for a contact that is not the workspace's.
func (s *Service) profile(ctx context.Context, q store.Querier, ws, contactID string, sealed bool) (profile, bool, error) {
	var p profile
	err := q.QueryRowContext(ctx, `SELECT audience, relationship, data_source FROM contacts WHERE workspace_id = $1 AND id = $2`, ws, contactID).
		Scan(&p.Audience, &p.Relationship, &p.DataSource)
	if err != nil {
		if store.MapError(err) == store.ErrNotFound {
			return p, false, nil
		}
		return p, false, err
	}
	if sealed {
		if err := s.openProfile(ctx, q, ws, contactID, &p); err != nil {
			return p, false, err
		}
	}
	return p, true, nil
}

func (s *Service) openProfile(ctx context.Context, q store.Querier, ws, contactID string, p *profile) error {
	if s.Contacts != nil {
		c, err := s.Contacts.WithTx(q).Get(ctx, ws, contactID)
		if err != nil && store.MapError(err) != store.ErrNotFound {
			return err
		}
		p.Organization = c.Organization
		if c.Address != nil {
			p.Country = strings.ToUpper(c.Address.Country)
		}
	}
	if s.Values != nil {
		vals, err := s.Values(ctx, ws, contactID)
		if err != nil && store.MapError(err) != store.ErrNotFound {
			return err
		}
		p.Values = vals
	}
	return nil
}

// OnRecord is the track.Store hook: it scores the recorded events in the
// transaction that records them, and moves stages (and hands off) as the
// new scores say. The batch's contacts are read, locked and written
// together, a few statements per batch instead of several per contact.
func (s *Service) OnRecord(ctx context.Context, q store.Querier, ws string, evs []track.Event) error {
	sc, err := s.newScorer(ctx, q, ws)
	if err != nil {
		return err
	}
	byContact := map[string][]track.Event{}
	var order []string
	for _, e := range evs {
		cid := strings.ToLower(e.ContactID)
		if _, ok := byContact[cid]; !ok {
			order = append(order, cid)
		}
		byContact[cid] = append(byContact[cid], e)
	}
	profiles, err := s.profiles(ctx, q, ws, order, sc.needsRecord())
	if err != nil {
		return err
	}
	// Events of a contact not (or no longer) in the workspace score nothing.
	order = slices.DeleteFunc(order, func(cid string) bool { _, ok := profiles[cid]; return !ok })
	if len(order) == 0 {
		return nil
	}
	states, err := s.lockStates(ctx, q, ws, order, sc.version, sc.now)
	if err != nil {
		return err
	}
	w := &batchWriter{s: s, ws: ws, version: sc.version}
	for _, cid := range order {
		evs := byContact[cid]
		slices.SortStableFunc(evs, func(a, b track.Event) int { return a.At.Compare(b.At) })
		old, err := unpackContribs(states[cid].pack, time.Time{})
		if err != nil {
			return err
		}
		// The stored engagement stays and fills the caps; fit is evaluated
		// anew each time, so its old entries go.
		kept := slices.DeleteFunc(old, func(c contribution) bool { return c.kind == "fit" })
		cs := newContactScore()
		cs.engLog = states[cid].engLog
		cs.capUsed = capsUsed(sc, kept)
		explicit := s.explicitOnce(ctx, ws, cid)
		for _, e := range evs {
			sc.applyEvent(cs, e, explicit)
		}
		sc.applyFit(cs, profiles[cid], explicit)
		cs.contribs = append(kept, cs.contribs...)
		sortContribs(cs.contribs)
		w.add(cid, states[cid], cs, sc.now, sc.rules, packContribs(cs.contribs))
	}
	scores := make([]float64, len(w.rows))
	for i, r := range w.rows {
		scores[i] = r.score
	}
	if err := w.flush(ctx, q); err != nil {
		return err
	}
	for i, cid := range order {
		st, p := states[cid], profiles[cid]
		next := nextStage(st.stage, scores[i], p.Relationship, sc.rules.Thresholds)
		if err := s.afterScore(ctx, q, sc, ws, cid, st, next, scores[i], p, "score", "system"); err != nil {
			return err
		}
	}
	return nil
}

// inChunks calls fn for parts of ids of the sizes in chunkSizes, with the
// parenthesized placeholder list of the part after the first k parameters.
func inChunks(d store.Dialect, ids []string, k int, fn func(ph string, part []any) error) error {
	return chunked(len(ids), func(off, n int) error {
		var b strings.Builder
		placeholders(&b, d, k, n)
		part := make([]any, n)
		for i, id := range ids[off : off+n] {
			part[i] = id
		}
		return fn(b.String(), part)
	})
}

// profiles reads what the fit and assignment rules test of the contacts,
// in q; a contact that is not the workspace's is missing from the map.
func (s *Service) profiles(ctx context.Context, q store.Querier, ws string, ids []string, sealed bool) (map[string]profile, error) {
	out := make(map[string]profile, len(ids))
	err := inChunks(s.DB.Dialect, ids, 1, func(ph string, part []any) error {
		rows, err := q.QueryContext(ctx, `SELECT id, audience, relationship, data_source FROM contacts WHERE workspace_id = $1 AND id IN `+ph, append([]any{ws}, part...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cid string
			var p profile
			if err := rows.Scan(&cid, &p.Audience, &p.Relationship, &p.DataSource); err != nil {
				return err
			}
			out[strings.ToLower(cid)] = p
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lead: read contacts: %w", err)
	}
	if sealed {
		for cid, p := range out {
			if err := s.openProfile(ctx, q, ws, cid, &p); err != nil {
				return nil, err
			}
			out[cid] = p
		}
	}
	return out, nil
}

// lockStates reads the contacts' states. On PostgreSQL it first makes sure
// each contact has a state row and locks the rows for the transaction (see
// lockState), in ID order so two batches locking the same contacts wait
// instead of deadlocking. SQLite has one writer at a time, so a missing row
// is just a new visitor that the batch's upsert inserts: one statement per
// batch fewer.
func (s *Service) lockStates(ctx context.Context, q store.Querier, ws string, ids []string, version int, now time.Time) (map[string]stateRow, error) {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	if s.DB.Dialect == store.Postgres {
		err := chunked(len(sorted), func(off, n int) error {
			var b strings.Builder
			b.WriteString(`INSERT INTO lead_state (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version) VALUES `)
			args := make([]any, 0, n*4)
			for i, cid := range sorted[off : off+n] {
				if i > 0 {
					b.WriteByte(',')
				}
				row(&b, s.DB.Dialect, len(args), `(?, ?, 'visitor', 0, ?, 0, NULL, ?)`)
				args = append(args, ws, cid, refAt(s.DB.Dialect, now), version)
			}
			b.WriteString(` ON CONFLICT (workspace_id, contact_id) DO NOTHING`)
			_, err := q.ExecContext(ctx, b.String(), args...)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("lead: state: %w", store.MapError(err))
		}
	}
	lock := ""
	if s.DB.Dialect == store.Postgres {
		lock = " FOR UPDATE"
	}
	out := make(map[string]stateRow, len(ids))
	for _, cid := range sorted {
		out[cid] = stateRow{stage: StageVisitor, engLog: math.Inf(-1)}
	}
	err := inChunks(s.DB.Dialect, sorted, 1, func(ph string, part []any) error {
		rows, err := q.QueryContext(ctx, `SELECT contact_id, contributions, `+stateCols+` FROM lead_state WHERE workspace_id = $1 AND contact_id IN `+ph+` ORDER BY contact_id`+lock, append([]any{ws}, part...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cid string
			var r stateRow
			if err := scanState(prefixScanner{rows, []any{&cid, &r.pack}}, &r); err != nil {
				return err
			}
			out[strings.ToLower(cid)] = r
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lead: state: %w", store.MapError(err))
	}
	return out, nil
}

// prefixScanner puts a row's first columns into dst and hands the rest to
// the caller's Scan, so scanState reads rows that start with the contact.
type prefixScanner struct {
	rows interface{ Scan(...any) error }
	dst  []any
}

func (p prefixScanner) Scan(dst ...any) error { return p.rows.Scan(append(p.dst, dst...)...) }

// row writes pattern with each "?" a placeholder numbered after the first
// k ("?" on SQLite, see placeholders).
func row(b *strings.Builder, d store.Dialect, k int, pattern string) {
	for _, r := range pattern {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		k++
		if d == store.SQLite {
			b.WriteByte('?')
		} else {
			fmt.Fprintf(b, "$%d", k)
		}
	}
}

// capsUsed sums what the capped rules already gave a contact per cap
// period, from its stored engagement.
func capsUsed(sc *scorer, stored []contribution) capsGiven {
	var out capsGiven
	for _, r := range sc.rules.Engagement {
		if r.Cap == nil {
			continue
		}
		for _, c := range stored {
			if c.ruleID == r.ID {
				out.add(capKey{r.ID, bucket(c.at, r.Cap.PeriodDays)}, c.points)
			}
		}
	}
	return out
}

// neverAsked stands in for explicitOnce when nothing is flagged sensitive:
// the scorer asks only about flagged events and attributes, and a
// recompute would otherwise make a closure for each of a million contacts.
func neverAsked() bool { return false }

// explicitOnce asks the engine at most once per contact whether the person
// gave explicit consent for sensitive personalization.
func (s *Service) explicitOnce(ctx context.Context, ws, cid string) func() bool {
	asked, ok := false, false
	return func() bool {
		if !asked {
			asked = true
			ok, _ = s.ExplicitConsent(ctx, ws, cid)
		}
		return ok
	}
}

// stateUpsert is one row of lead_state to write.
type stateUpsert struct {
	cid    string
	stage  string
	score  float64
	fit    float64
	engLog float64
	pack   []byte
}

// batchWriter collects states with their packed contributions and writes
// them with multi-row statements.
type batchWriter struct {
	s        *Service
	ws       string
	version  int
	setStage bool // the rows carry the stage to write (recompute)
	at       time.Time
	rows     []stateUpsert
}

// add queues a contact's state; pack is the packed text of all its
// contributions (cs.contribs in canonical order).
func (w *batchWriter) add(cid string, st stateRow, cs *contactScore, now time.Time, r Rules, pack []byte) {
	w.at = now
	score := cs.fit + valueAt(cs.engLog, now, r.HalfLifeDays)
	stage := st.stage
	if stage == "" {
		stage = StageVisitor
	}
	w.rows = append(w.rows, stateUpsert{cid: cid, stage: stage, score: score, fit: cs.fit, engLog: cs.engLog, pack: pack})
}

const rowsPerInsert = 200

// placeholders writes a row of n placeholders after the first k of the
// statement. SQLite looks every "$n" name up in a list, which makes a
// statement with thousands of them quadratic to parse; anonymous "?" cost
// nothing, so the batch inserts use them there (PostgreSQL needs "$n").
func placeholders(b *strings.Builder, d store.Dialect, k, n int) {
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if d == store.SQLite {
			b.WriteByte('?')
		} else {
			fmt.Fprintf(b, "$%d", k+i+1)
		}
	}
	b.WriteByte(')')
}

// chunkSizes are the row counts of the multi-row statements: a batch is
// cut into the largest of them first, so each table has a few statement
// texts, each prepared once, however the batches are sized.
var chunkSizes = []int{rowsPerInsert, 50, 10, 1}

// chunked calls fn with consecutive (offset, count) parts of n rows, each
// count one of chunkSizes.
func chunked(n int, fn func(off, n int) error) error {
	off := 0
	for _, size := range chunkSizes {
		for n-off >= size {
			if err := fn(off, size); err != nil {
				return err
			}
			off += size
		}
	}
	return nil
}

func (w *batchWriter) flush(ctx context.Context, q store.Querier) error {
	at := refAt(w.s.DB.Dialect, w.at)
	err := chunked(len(w.rows), func(off, n int) error {
		part := w.rows[off : off+n]
		var b strings.Builder
		b.WriteString(`INSERT INTO lead_state (workspace_id, contact_id, stage, score, score_ref_at, fit, eng_log, rule_version, contributions) VALUES `)
		args := make([]any, 0, len(part)*9)
		for i, r := range part {
			if i > 0 {
				b.WriteByte(',')
			}
			placeholders(&b, w.s.DB.Dialect, len(args), 9)
			var engLog any
			if !math.IsInf(r.engLog, -1) {
				engLog = r.engLog
			}
			args = append(args, w.ws, r.cid, r.stage, r.score, at, r.fit, engLog, w.version, r.pack)
		}
		b.WriteString(` ON CONFLICT (workspace_id, contact_id) DO UPDATE SET score = excluded.score, score_ref_at = excluded.score_ref_at,
			fit = excluded.fit, eng_log = excluded.eng_log, rule_version = excluded.rule_version, contributions = excluded.contributions`)
		if w.setStage {
			b.WriteString(`, stage = excluded.stage`)
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("lead: write scores: %w", store.MapError(err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.rows = w.rows[:0]
	return nil
}

// RecomputeStats says what a recompute did.
type RecomputeStats struct {
	RuleVersion int           `json:"rule_version"`
	Contacts    int           `json:"contacts"`
	Written     int           `json:"written"`
	Events      int           `json:"events"`
	Transitions int           `json:"transitions"`
	Handoffs    int           `json:"handoffs"`
	Duration    time.Duration `json:"-"`
	Seconds     float64       `json:"seconds"`
}

// recomputeBatch contacts are read and scored at a time; the writer puts
// batches into one transaction for up to recomputeHold.
var recomputeBatch = 5000

// recomputeHold is how long a recompute transaction takes further batches.
// Other writers wait for the lock meanwhile (in this process for the one
// write connection, in another on SQLite's busy_timeout of 10 s), so it
// stays well under any of their time limits; a transaction holds it for
// this plus the writing of one batch.
var recomputeHold = time.Second

// recomputeCache is the SQLite page cache of the write connection during a
// recompute (KiB): a transaction of a second dirties pages all over the
// score index, some 70 MB at 1,000,000 contacts, and with SQLite's default
// of 2 MB they would be written out and read back within the transaction.
const recomputeCache = 128 << 10

// growWriteCache raises the write connection's page cache to
// recomputeCache for the recompute; restore sets it back. The pool has
// that one connection, so the pragma reaches the connection the
// recompute's transactions use.
func (s *Service) growWriteCache(ctx context.Context) (restore func(), err error) {
	var prev int
	if err := s.DB.W.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&prev); err != nil {
		return nil, fmt.Errorf("lead: page cache: %w", err)
	}
	// Negative sizes are KiB, positive ones pages.
	if prev < 0 && -prev >= recomputeCache {
		return func() {}, nil
	}
	if _, err := s.DB.W.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, recomputeCache)); err != nil {
		return nil, fmt.Errorf("lead: page cache: %w", err)
	}
	return func() {
		_, _ = s.DB.W.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size = %d`, prev))
	}, nil
}

// checkpointAside leaves a recompute's WAL checkpoints to the store's
// checkpointer, which runs them on a read connection after each commit
// (SQLite): the write connection's automatic checkpoint runs in the commit
// that crosses its threshold, and a recompute's transaction of a second
// writes enough pages to cross even the backstop's, which at 1,000,000
// contacts cost some 2 s of the writer's time, the recompute's critical
// path, while the reader's core has room. stop waits for a last
// checkpoint, as the automatic one of the last commit was waited for, and
// gives the write connection its automatic checkpoints back.
func (s *Service) checkpointAside(ctx context.Context) (stop func(), err error) {
	var prev int
	if err := s.DB.W.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&prev); err != nil {
		return nil, fmt.Errorf("lead: checkpoint setting: %w", err)
	}
	if _, err := s.DB.W.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return nil, fmt.Errorf("lead: checkpoint setting: %w", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// A failed passive checkpoint loses nothing: the pages stay in
			// the WAL for the next one.
			_ = s.DB.CheckpointPassive(context.WithoutCancel(ctx))
			_, _ = s.DB.W.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, prev))
		})
	}
	return stop, nil
}

type pending struct {
	cid      string
	p        profile
	st       stateRow
	cs       *contactScore
	explicit func() bool
	score    float64
	next     string
	pack     []byte // the new contributions, packed
	changed  bool   // contributions or state differ from the stored ones
}

// prepared is one batch of contacts, read and scored, ready to write.
type prepared struct {
	pds    []pending
	events int
	err    error
}

// Recompute scores every contact of the workspace anew with the active
// rules from all its events. Batches of contacts in ID order are read and
// scored (their contacts, states, events and stored contributions, one
// query each) while the previous batch is written: computation runs beside
// the one writer, and memory holds two batches. Stages move up as the new
// scores say; a hand-off already made is never made again.
func (s *Service) Recompute(ctx context.Context, ws string) (RecomputeStats, error) {
	start := time.Now()
	st := RecomputeStats{}
	if err := RepairIndexes(ctx, s.DB); err != nil {
		return st, err
	}
	sc, err := s.newScorer(ctx, s.DB.R, ws)
	if err != nil {
		return st, err
	}
	st.RuleVersion = sc.version
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan prepared, 1)
	go func() {
		defer close(batches)
		after := ""
		for {
			b := s.prepareBatch(ctx, sc, ws, after)
			if len(b.pds) == 0 && b.err == nil {
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil || len(b.pds) < recomputeBatch {
				return
			}
			after = b.pds[len(b.pds)-1].cid
		}
	}()
	if s.DB.Dialect == store.SQLite {
		restore, err := s.growWriteCache(ctx)
		if err != nil {
			return st, err
		}
		defer restore()
	}
	stopCheckpoints := func() {}
	if s.DB.Dialect == store.SQLite {
		stop, err := s.checkpointAside(ctx)
		if err != nil {
			return st, err
		}
		stopCheckpoints = stop
		defer stop()
	}
	// The indexes dropped for this recompute (reindex.go) are made again at
	// its end, or, when it fails half-way, on the way out.
	var reindex []string
	first := true
	defer func() {
		if reindex != nil {
			_ = buildIndexes(context.WithoutCancel(ctx), s.DB, reindex)
		}
	}()
	for b := range batches {
		if b.err != nil {
			return st, b.err
		}
		drop := false
		if first {
			first = false
			ok, err := s.shouldReindex(ctx, ws, b.pds)
			if err != nil {
				return st, err
			}
			if ok {
				if reindex, err = s.stateIndexes(ctx, s.DB.R); err != nil {
					return st, err
				}
				if drop = len(reindex) > 0; drop {
					reindexing.Add(1)
					defer reindexing.Add(-1)
				}
			}
		}
		// Batches go into one transaction until it has held the write lock
		// for recomputeHold: each commit writes every page its rows touched,
		// and a batch's score index entries land on pages all over the
		// index, so a transaction of several batches writes most of those
		// pages once instead of once per batch.
		var tx RecomputeStats
		err := s.DB.TxCached(ctx, func(q store.Querier) error {
			t0 := time.Now()
			tx = RecomputeStats{}
			if drop {
				if err := dropIndexes(ctx, q, reindex); err != nil {
					return err
				}
			}
			for {
				tx.Events += b.events
				if err := s.writeBatch(ctx, q, sc, ws, b.pds, &tx); err != nil {
					return err
				}
				// The wait for the reader's next batch counts to the hold,
				// and ends it: the lock is never held for a reader that
				// could itself be waiting for the write connection.
				left := recomputeHold - time.Since(t0)
				if left <= 0 {
					return nil
				}
				timer := time.NewTimer(left)
				select {
				case next, ok := <-batches:
					timer.Stop()
					if !ok {
						return nil
					}
					if next.err != nil {
						return next.err
					}
					b = next
				case <-timer.C:
					return nil
				}
			}
		})
		if err != nil {
			return st, err
		}
		st.Contacts += tx.Contacts
		st.Written += tx.Written
		st.Events += tx.Events
		st.Transitions += tx.Transitions
		st.Handoffs += tx.Handoffs
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	if reindex != nil {
		if err := buildIndexes(ctx, s.DB, reindex); err != nil {
			return st, err
		}
		reindex = nil
	}
	// The last checkpoint is the recompute's, as the automatic one of its
	// last commit was.
	stopCheckpoints()
	st.Duration = time.Since(start)
	st.Seconds = math.Round(st.Duration.Seconds()*1000) / 1000
	return st, nil
}

// prepareBatch reads and scores the next recomputeBatch contacts after
// after; nothing of it writes.
func (s *Service) prepareBatch(ctx context.Context, sc *scorer, ws, after string) prepared {
	var b prepared
	// The contacts and their states are two reads in ID order, merged
	// here: a join looked each contact's state up in lead_state, a
	// million seeks at 1,000,000 contacts, where a range of the table
	// is one walk.
	var rows *sql.Rows
	var err error
	const contactsQuery = `SELECT id, audience, relationship, data_source FROM contacts WHERE workspace_id = $1`
	if after == "" {
		rows, err = s.DB.R.QueryContext(ctx, contactsQuery+` ORDER BY id LIMIT $2`, ws, recomputeBatch)
	} else {
		rows, err = s.DB.R.QueryContext(ctx, contactsQuery+` AND id > $2 ORDER BY id LIMIT $3`, ws, after, recomputeBatch)
	}
	if err != nil {
		b.err = fmt.Errorf("lead: read contacts: %w", err)
		return b
	}
	b.pds = make([]pending, 0, recomputeBatch)
	for rows.Next() {
		var pd pending
		if err := rows.Scan(&pd.cid, &pd.p.Audience, &pd.p.Relationship, &pd.p.DataSource); err != nil {
			rows.Close()
			b.err = err
			return b
		}
		pd.cid = strings.ToLower(pd.cid)
		pd.st = stateRow{stage: StageVisitor, engLog: math.Inf(-1)}
		pd.cs = newContactScore()
		pd.explicit = neverAsked
		if !sc.sens.empty() {
			pd.explicit = s.explicitOnce(ctx, ws, pd.cid)
		}
		b.pds = append(b.pds, pd)
	}
	err = rows.Err()
	rows.Close()
	if err != nil || len(b.pds) == 0 {
		b.err = err
		return b
	}
	if b.err = s.readStates(ctx, ws, b.pds); b.err != nil {
		return b
	}
	// The events are most of the reading: the batch's two halves read and
	// score theirs on two read connections at once, so the reader keeps
	// up with the writer on a second core.
	halves := [][]pending{b.pds}
	if len(b.pds) >= 2*minHalf {
		halves = [][]pending{b.pds[:len(b.pds)/2], b.pds[len(b.pds)/2:]}
	}
	counts := make([]int, len(halves))
	errs := make([]error, len(halves))
	var wg sync.WaitGroup
	for i, part := range halves {
		wg.Go(func() { counts[i], errs[i] = s.scoreEvents(ctx, sc, ws, part) })
	}
	wg.Wait()
	for i := range halves {
		if errs[i] != nil {
			b.err = errs[i]
			return b
		}
		b.events += counts[i]
	}
	for i := range b.pds {
		pd := &b.pds[i]
		if sc.needsRecord() {
			if err := s.openProfile(ctx, s.DB.R, ws, pd.cid, &pd.p); err != nil {
				b.err = err
				return b
			}
		}
		sc.applyFit(pd.cs, pd.p, pd.explicit)
	}
	// A contact whose contributions and state come out as stored is not
	// written again: a recompute with unchanged rules (or rules that touch
	// few contacts) then mostly reads.
	// The batch's packed values are made in one buffer, cut into each
	// contact's: two allocations per batch instead of one per contact.
	ends := make([]int, len(b.pds))
	buf := make([]byte, 0, len(b.pds)*80)
	for i := range b.pds {
		sortContribs(b.pds[i].cs.contribs)
		buf = appendPacked(buf, b.pds[i].cs.contribs)
		ends[i] = len(buf)
	}
	for i := range b.pds {
		pd := &b.pds[i]
		pd.score = pd.cs.fit + valueAt(pd.cs.engLog, sc.now, sc.rules.HalfLifeDays)
		pd.next = nextStage(pd.st.stage, pd.score, pd.p.Relationship, sc.rules.Thresholds)
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		pd.pack = buf[start:ends[i]:ends[i]]
		same := pd.st.exists && pd.st.version == sc.version && pd.st.fit == pd.cs.fit &&
			(pd.st.engLog == pd.cs.engLog || math.Abs(pd.st.engLog-pd.cs.engLog) < 1e-12) && bytes.Equal(pd.st.pack, pd.pack)
		pd.changed = !same || pd.next != pd.st.stage
	}
	return b
}

// readStates fills in the stored states of pds (in ID order) from one
// range of lead_state.
func (s *Service) readStates(ctx context.Context, ws string, pds []pending) error {
	rows, err := s.DB.R.QueryContext(ctx, `SELECT contact_id, contributions, `+stateCols+` FROM lead_state
		WHERE workspace_id = $1 AND contact_id >= $2 AND contact_id <= $3 ORDER BY contact_id`, ws, pds[0].cid, pds[len(pds)-1].cid)
	if err != nil {
		return fmt.Errorf("lead: read states: %w", err)
	}
	defer rows.Close()
	k := 0
	for rows.Next() {
		var cid, stage string
		var pack []byte
		var fit float64
		var engLog *float64
		var version int
		var owner *string
		var handed *time.Time
		if err := rows.Scan(&cid, &pack, &stage, &fit, &engLog, &version, &owner, &handed); err != nil {
			return fmt.Errorf("lead: read states: %w", err)
		}
		cid = strings.ToLower(cid)
		for k < len(pds) && pds[k].cid < cid {
			k++
		}
		if k == len(pds) {
			break
		}
		if pds[k].cid != cid {
			continue // a state whose contact is gone
		}
		st := &pds[k].st
		st.exists, st.stage, st.fit, st.version, st.pack = true, stage, fit, version, pack
		if engLog != nil {
			st.engLog = *engLog
		}
		if owner != nil {
			st.owner = *owner
		}
		if handed != nil {
			t := handed.UTC()
			st.handedOff = &t
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lead: read states: %w", err)
	}
	return nil
}

// minHalf is the fewest contacts worth a read of their own.
var minHalf = 500

// scoreEvents reads the events of the contacts of pds (in ID order) and
// applies them; it returns how many it read.
func (s *Service) scoreEvents(ctx context.Context, sc *scorer, ws string, pds []pending) (int, error) {
	k, n := 0, 0
	err := s.Events.Range(ctx, ws, pds[0].cid, pds[len(pds)-1].cid, func(e track.Event) error {
		cid := strings.ToLower(e.ContactID)
		for k < len(pds) && pds[k].cid < cid {
			k++
		}
		if k == len(pds) || pds[k].cid != cid {
			return nil // not a contact of the workspace (any more)
		}
		n++
		sc.applyEvent(pds[k].cs, e, pds[k].explicit)
		return nil
	})
	return n, err
}

// writeBatch writes one prepared batch in q, a transaction with statements
// prepared once (TxCached): the changed contacts' states with their packed
// contributions, the stage moves as multi-row INSERTs, then the hand-offs, which
// are rare and go one by one.
func (s *Service) writeBatch(ctx context.Context, q store.Querier, sc *scorer, ws string, pds []pending, st *RecomputeStats) error {
	var changed []string
	w := &batchWriter{s: s, ws: ws, version: sc.version, setStage: true}
	var moves []transitionRow
	for _, pd := range pds {
		if !pd.changed {
			continue
		}
		changed = append(changed, pd.cid)
		row := pd.st
		row.stage = pd.next
		w.add(pd.cid, row, pd.cs, sc.now, sc.rules, pd.pack)
		if pd.next != pd.st.stage {
			moves = append(moves, transitionRow{cid: pd.cid, from: pd.st.stage, to: pd.next, cause: transitionCause("recompute", pd.next, pd.p)})
		}
	}
	if err := w.flush(ctx, q); err != nil {
		return err
	}
	if err := s.insertTransitions(ctx, q, ws, moves, "system", sc.now); err != nil {
		return err
	}
	for _, pd := range pds {
		if pd.st.handedOff == nil && handoffDue(pd.next, sc.rules.Handoff) {
			if err := s.handoff(ctx, q, sc, ws, pd.cid, pd.next, pd.score, pd.p, "recompute"); err != nil {
				return err
			}
		}
	}
	st.Contacts += len(pds)
	st.Written += len(changed)
	st.Transitions += len(moves)
	for _, pd := range pds {
		if pd.st.handedOff == nil && handoffDue(pd.next, sc.rules.Handoff) {
			st.Handoffs++
		}
	}
	return nil
}
