package consent

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/policy"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
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
	purposes, err := l.purposes.catalog(ctx, q, ws)
	if err != nil {
		return err
	}
	return l.refresh(ctx, q, ws, contactID, purposes, nil, nil)
}

// slots are a workspace's permission slots and space, as one transaction
// sees them. A Bulk keeps them for its transaction; they are never kept
// longer, because a slot made in a transaction that rolls back is gone.
type slots struct {
	space int64
	byKey map[[2]string]int64
}

// readSlots reads the workspace's space and slots through q.
func readSlots(ctx context.Context, q store.Querier, ws string) (*slots, error) {
	sl := &slots{byKey: map[[2]string]int64{}}
	if err := q.QueryRowContext(ctx, `SELECT space FROM permission_spaces WHERE workspace_id = $1`, ws).Scan(&sl.space); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read permission slots: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT slot, purpose_key, channel FROM permission_slots WHERE workspace_id = $1`, ws)
	if err != nil {
		return nil, fmt.Errorf("read permission slots: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var k [2]string
		if err := rows.Scan(&n, &k[0], &k[1]); err != nil {
			return nil, fmt.Errorf("read permission slots: %w", err)
		}
		sl.byKey[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read permission slots: %w", err)
	}
	return sl, nil
}

func (sl *slots) cover(purposes []Purpose) bool {
	if sl.space == 0 {
		return false
	}
	for _, p := range purposes {
		for _, ch := range p.Channels {
			if _, ok := sl.byKey[[2]string{p.Key, ch}]; !ok {
				return false
			}
		}
	}
	return true
}

// committedSlots returns the workspace's slots when every one purposes
// needs is committed already. Slots are never changed or deleted, so
// committed ones can be kept across transactions; they are read from the
// read pool, which sees committed rows only, and never from the writing
// transaction, whose own new slots would vanish with a rollback.
func (l *Ledger) committedSlots(ctx context.Context, ws string, purposes []Purpose) *slots {
	if c, ok := l.slotCache.Load(ws); ok && c.(*slots).cover(purposes) {
		return c.(*slots)
	}
	sl, err := readSlots(ctx, l.db.R, ws)
	if err != nil || !sl.cover(purposes) {
		return nil
	}
	l.slotCache.Store(ws, sl)
	return sl
}

// loadSlots reads the workspace's space and the slots of every purpose ×
// channel in purposes, making the missing ones.
func (l *Ledger) loadSlots(ctx context.Context, q store.Querier, ws string, purposes []Purpose) (*slots, error) {
	sl, err := readSlots(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	missing := sl.space == 0
	for _, p := range purposes {
		for _, ch := range p.Channels {
			if _, ok := sl.byKey[[2]string{p.Key, ch}]; !ok {
				missing = true
				if _, err := q.ExecContext(ctx, `INSERT INTO permission_slots (workspace_id, purpose_key, channel) VALUES ($1, $2, $3) ON CONFLICT (workspace_id, purpose_key, channel) DO NOTHING`, ws, p.Key, ch); err != nil {
					return nil, fmt.Errorf("make permission slot: %w", err)
				}
			}
		}
	}
	if !missing {
		return sl, nil
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO permission_spaces (workspace_id) VALUES ($1) ON CONFLICT (workspace_id) DO NOTHING`, ws); err != nil {
		return nil, fmt.Errorf("make permission space: %w", err)
	}
	return readSlots(ctx, q, ws)
}

// refresh is Refresh with the workspace's catalogue (and, in a bulk, its
// slots) already read.
func (l *Ledger) refresh(ctx context.Context, q store.Querier, ws, contactID string, purposes []Purpose, sl *slots, b *Bulk) error {
	pts, err := b.points(ctx, l, q, ws, contactID)
	if err != nil {
		return err
	}
	fresh := b.isFresh(contactID)
	var rs []*row
	if !fresh {
		if rs, err = l.rows(ctx, q, ws, contactID); err != nil {
			return err
		}
	}
	return l.refreshFrom(ctx, q, ws, contactID, pts, rs, fresh, purposes, sl, b)
}

// refreshFrom is refresh with the contact's points and every one of its
// ledger rows (rs, in seq order) already in hand: an append has just read
// the history and written one more row, and reading both again in the
// same transaction would only return them. fresh: the contact has no
// state yet either.
func (l *Ledger) refreshFrom(ctx context.Context, q store.Querier, ws, contactID string, pts contact.Points, rs []*row, fresh bool, purposes []Purpose, sl *slots, b *Bulk) error {
	w, err := l.deriveState(ctx, q, ws, contactID, pts, rs, fresh, purposes, sl, b)
	if err != nil {
		return err
	}
	if b != nil {
		b.pend(w.chs)
		w.chs = nil
	}
	return l.writeState(ctx, q, w, false)
}

// stateWrite is a contact's re-derived permission state: its grant
// changes, ascending by slot (the order in which writers lock slots), and
// the arguments of its mark (markSQL).
type stateWrite struct {
	chs  []slotChange
	mark []any
}

const markSQL = `INSERT INTO permission_checks (space, contact_id, catalog, recheck_at, granted, profile) VALUES ($%d, $%d, $%d, $%d, $%d, $%d)
		ON CONFLICT (space, contact_id) DO UPDATE SET catalog = excluded.catalog, recheck_at = excluded.recheck_at, granted = excluded.granted, profile = excluded.profile`

// markAt is markSQL with its parameters numbered from n+1.
func markAt(n int) string {
	return fmt.Sprintf(markSQL, n+1, n+2, n+3, n+4, n+5, n+6)
}

// markCols are the arguments of one mark.
const markCols = 6

// marksAt is markSQL for rows marks (of distinct contacts), with its
// parameters numbered from n+1.
func marksAt(d store.Dialect, n, rows int) string {
	if rows == 1 {
		return markAt(n)
	}
	vals := store.Values(d, rows, markCols)
	if d == store.Postgres && n > 0 {
		var b strings.Builder
		for i := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			j := n + i*markCols
			fmt.Fprintf(&b, "($%d,$%d,$%d,$%d,$%d,$%d)", j+1, j+2, j+3, j+4, j+5, j+6)
		}
		vals = b.String()
	}
	return `INSERT INTO permission_checks (space, contact_id, catalog, recheck_at, granted, profile) VALUES ` + vals +
		` ON CONFLICT (space, contact_id) DO UPDATE SET catalog = excluded.catalog, recheck_at = excluded.recheck_at, granted = excluded.granted, profile = excluded.profile`
}

// deriveState works out the contact's permission state and what changed
// against the one stored, writing nothing.
func (l *Ledger) deriveState(ctx context.Context, q store.Querier, ws, contactID string, pts contact.Points, rs []*row, fresh bool, purposes []Purpose, sl *slots, b *Bulk) (*stateWrite, error) {
	var err error
	if sl == nil {
		if l.db.Dialect == store.SQLite {
			// SQLite's read pool is apart from its one writer, and reads
			// never wait for it.
			sl = l.committedSlots(ctx, ws, purposes)
		} else {
			// On PostgreSQL the read pool is the writers' pool: a read on
			// it from inside this transaction can wait for a connection
			// held by transactions that wait for this one (16 first
			// sign-ups at once did). Only what Warm kept is used.
			sl = l.knownSlots(ws, purposes)
		}
	}
	if sl == nil {
		if sl, err = l.loadSlots(ctx, q, ws, purposes); err != nil {
			return nil, err
		}
	}
	key := l.contactKey(contactID)
	now := l.now().UTC()
	want := l.grants(pts, rs, purposes, sl, now, b)
	// Most changes leave most grants as they were: write only the
	// difference, which the mark holds. A contact without a mark has no
	// grants (both are written here, together), which spares a new
	// contact the lookup.
	var have []int64
	var catalog int
	var held sql.NullString
	var prev int64
	err = sql.ErrNoRows
	if !fresh {
		err = q.QueryRowContext(ctx, `SELECT catalog, granted, profile FROM permission_checks WHERE space = $1 AND contact_id = $2`, sl.space, key).Scan(&catalog, &held, &prev)
	}
	if err == nil {
		have, err = parseGranted(held.String)
	} else if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return nil, fmt.Errorf("refresh permissions: %w", err)
	}
	prof := profileOf(pts)
	ck := blockKey(contactID)
	var chs []slotChange
	for _, n := range have {
		switch {
		case want[n] && prev == prof:
		case want[n]:
			chs = append(chs, slotChange{n, grantChange{key: ck, prof: byte(prof)}})
		default:
			chs = append(chs, slotChange{n, grantChange{key: ck, del: true}})
		}
	}
	for n := range want {
		if !slices.Contains(have, n) {
			chs = append(chs, slotChange{n, grantChange{key: ck, prof: byte(prof)}})
		}
	}
	slices.SortFunc(chs, func(x, y slotChange) int { return cmp.Compare(x.slot, y.slot) })
	var recheck any
	if t, ok := recheckAt(rs, now); ok {
		recheck = t.UnixMicro()
	}
	return &stateWrite{chs: chs, mark: []any{sl.space, key, customCount(purposes), recheck, formatGranted(want), grantedProfile(want, prof)}}, nil
}

// writeState writes w in q. locked: on PostgreSQL the transaction holds
// the locks of w's slots already (slotLocks).
func (l *Ledger) writeState(ctx context.Context, q store.Querier, w *stateWrite, locked bool) error {
	if len(w.chs) == 0 {
		if _, err := q.ExecContext(ctx, markAt(0), w.mark...); err != nil {
			return fmt.Errorf("refresh permissions: %w", err)
		}
		return nil
	}
	if err := l.applyContactGrants(ctx, q, w.chs, w.mark, locked); err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	return nil
}

// slotChange is a grant change in a slot.
type slotChange struct {
	slot   int64
	change grantChange
}

// blockKey is a contact ID's 16 bytes, as the blocks hold it.
func blockKey(contactID string) [keyLen]byte {
	b, _ := id.Bytes(contactID)
	return b
}

// formatGranted is the mark's list of granted slots: ascending, comma
// separated, nil for none.
func formatGranted(want map[int64]bool) any {
	if len(want) == 0 {
		return nil
	}
	ns := make([]int64, 0, len(want))
	for n := range want {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	var b []byte
	for i, n := range ns {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(b)
}

// grantedProfile is the profile a mark records: the one its grants carry,
// 0 when it has none.
func grantedProfile(want map[int64]bool, prof int64) int64 {
	if len(want) == 0 {
		return 0
	}
	return prof
}

func parseGranted(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("permission mark: granted %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// grants are the slots the engine allows for the contact now.
func (l *Ledger) grants(pts contact.Points, rs []*row, purposes []Purpose, sl *slots, now time.Time, b *Bulk) map[int64]bool {
	if want := b.grantsWithoutEvents(pts, rs, now); want != nil {
		return want
	}
	evs := chronological(rs, now)
	st := foldParsed(evs)
	// A sign-up's events are consent records of one or two purposes: every
	// other purpose and channel then decides exactly as for a contact
	// without events, which is decided once per profile and day.
	var base map[int64]bool
	if len(rs) > 0 && st.empty() {
		base = l.baseGrants(pts, purposes, sl, now, b)
	}
	want := grantsOf(pts, evs, st, purposes, sl, now, base)
	b.rememberWithoutEvents(pts, rs, now, want)
	return want
}

// grantsOf decides every purpose × channel for the events and their state;
// with base (the grants of a contact without events and with this profile),
// only those that see a consent record are decided and the others taken
// from base, which st must then be empty for.
func grantsOf(pts contact.Points, evs []parsed, st state, purposes []Purpose, sl *slots, now time.Time, base map[int64]bool) map[int64]bool {
	allowed := func(p Purpose, ch string) bool {
		f := factsFrom(pts, p, ch, evs, st, now)
		d, err := policy.Decide(f, policy.Request{Purpose: policy.Purpose(p.Kind), Channel: policy.Channel(ch)})
		return err == nil && d.Allowed // an error is "not allowed" (rules §6); live decisions report it
	}
	if base == nil {
		want := map[int64]bool{}
		for _, p := range purposes {
			for _, ch := range p.Channels {
				if allowed(p, ch) {
					want[sl.byKey[[2]string{p.Key, ch}]] = true
				}
			}
		}
		return want
	}
	want := maps.Clone(base)
	for _, p := range purposes {
		if p.Kind != string(policy.PurposeConsentConfirmation) && !slices.ContainsFunc(evs, func(e parsed) bool { return e.Purpose == p.Key }) {
			continue // no event of the purpose: base decides all its channels
		}
		for _, ch := range p.Channels {
			if !anyConsentFor(pts, p, ch, evs) {
				continue
			}
			n := sl.byKey[[2]string{p.Key, ch}]
			delete(want, n)
			if allowed(p, ch) {
				want[n] = true
			}
		}
	}
	return want
}

// baseGrants are the grants of a contact without events with pts's
// audience, relationship and data source, now; the map is shared and must
// not be changed. Outside a bulk they are kept per permission space and
// profile for the day, and used only with the same slots and a catalogue
// of the same purposes, kinds and channels: a sign-up outside any bulk
// would otherwise decide some forty purposes and channels it cannot
// touch.
func (l *Ledger) baseGrants(pts contact.Points, purposes []Purpose, sl *slots, now time.Time, b *Bulk) map[int64]bool {
	if b != nil {
		if g := b.noEvents[noEventsKeyOf(pts, now)]; g != nil {
			return g
		}
		return l.grants(pts, nil, purposes, sl, now, b)
	}
	k := baseKey{sl.space, pts.Audience, pts.Relationship, pts.DataSource}
	day := date(now)
	if v, ok := l.baseCache.Load(k); ok {
		if e := v.(*baseEntry); e.day == day && e.sl == sl && e.sameCatalog(purposes) {
			return e.grants
		}
	}
	g := grantsOf(pts, nil, foldParsed(nil), purposes, sl, now, nil)
	e := &baseEntry{day: day, sl: sl, grants: g, purposes: make([]Purpose, len(purposes))}
	for i, p := range purposes {
		e.purposes[i] = Purpose{Key: p.Key, Kind: p.Kind, Channels: slices.Clone(p.Channels)}
	}
	l.baseCache.Store(k, e)
	return g
}

type baseKey struct {
	space                              int64
	audience, relationship, dataSource string
}

// baseEntry is immutable once stored: a changed day, slots or catalogue
// replaces it.
type baseEntry struct {
	day      policy.Date
	sl       *slots // never changed once read (readSlots)
	purposes []Purpose
	grants   map[int64]bool
}

// sameCatalog: what the decisions read of a purpose is its key, its kind
// and its channels.
func (e *baseEntry) sameCatalog(purposes []Purpose) bool {
	if len(purposes) != len(e.purposes) {
		return false
	}
	for i, p := range purposes {
		q := e.purposes[i]
		if p.Key != q.Key || p.Kind != q.Kind || !slices.Equal(p.Channels, q.Channels) {
			return false
		}
	}
	return true
}

// refreshFresh writes the state of contacts created in the bulk that have
// neither events nor state: nothing to read or compare, so their marks go
// in as multi-row INSERTs and their grants to the bulk's pending changes.
func (l *Ledger) refreshFresh(ctx context.Context, q store.Querier, ids []string, purposes []Purpose, sl *slots, b *Bulk) error {
	now := l.now().UTC()
	var checks []any
	var chs []slotChange
	for _, cid := range ids {
		pts := b.pointsOf[cid]
		want := l.grants(pts, nil, purposes, sl, now, b)
		prof := profileOf(pts)
		ck := blockKey(cid)
		for n := range want {
			chs = append(chs, slotChange{n, grantChange{key: ck, prof: byte(prof)}})
		}
		checks = append(checks, sl.space, l.contactKey(cid), customCount(purposes), nil, formatGranted(want), grantedProfile(want, prof))
	}
	b.pend(chs)
	const per, cols = 500, 6
	for args := checks; len(args) > 0; {
		rows := min(per, len(args)/cols)
		if _, err := q.ExecContext(ctx, `INSERT INTO permission_checks (space, contact_id, catalog, recheck_at, granted, profile) VALUES `+store.Values(l.db.Dialect, rows, cols)+
			` ON CONFLICT (space, contact_id) DO UPDATE SET catalog = excluded.catalog, recheck_at = excluded.recheck_at, granted = excluded.granted, profile = excluded.profile`, args[:rows*cols]...); err != nil {
			return fmt.Errorf("refresh permissions: %w", err)
		}
		args = args[rows*cols:]
	}
	return nil
}

// A grant carries the contact record's audience, relationship and data
// source as bits (its profile), so an audience narrowed by them is read
// from the grants alone; the profile is rewritten whenever one changes
// (every contact change refreshes the contact's state).
// The bits are stored (and migration 0006 writes them): values may be
// appended to a group only if the later groups move nowhere, never reordered.
var profileBits = []struct {
	field  string
	values []string
}{
	{"filter.audience", []string{"b2c", "b2b"}},
	{"filter.relationship", []string{"prospect", "customer", "supplier"}},
	{"filter.data_source", []string{"self_provided", "third_party"}},
}

func profileBit(group int, v string) int64 {
	shift := 0
	for g := 0; g < group; g++ {
		shift += len(profileBits[g].values)
	}
	i := slices.Index(profileBits[group].values, v)
	if i < 0 {
		return 0
	}
	return 1 << (shift + i)
}

func profileOf(p contact.Points) int64 {
	return profileBit(0, p.Audience) | profileBit(1, p.Relationship) | profileBit(2, p.DataSource)
}

// mask is the filter as (profile & mask) = want.
func (f StateFilter) mask() (mask, want int64, err error) {
	for g, v := range []string{f.Audience, f.Relationship, f.DataSource} {
		if v == "" {
			continue
		}
		b := profileBit(g, v)
		if b == 0 {
			return 0, 0, validate.OneOf(profileBits[g].field, v, profileBits[g].values)
		}
		for _, x := range profileBits[g].values {
			mask |= profileBit(g, x)
		}
		want |= b
	}
	return mask, want, nil
}

// contactKey is how the permission tables hold a contact ID: its 16 bytes
// on SQLite (they sort as the text does), the UUID itself on PostgreSQL.
func (l *Ledger) contactKey(contactID string) any {
	if l.db.Dialect == store.Postgres {
		return contactID
	}
	b, _ := id.Bytes(contactID)
	return b[:]
}

// scanContactKey reads a contact_id column of the permission tables as
// canonical ID text.
func (l *Ledger) scanContactKey(sc interface{ Scan(...any) error }) (string, error) {
	if l.db.Dialect == store.Postgres {
		var s string
		err := sc.Scan(&s)
		return strings.ToLower(s), err
	}
	var b []byte
	if err := sc.Scan(&b); err != nil {
		return "", err
	}
	if len(b) != 16 {
		return "", fmt.Errorf("permission state: contact key of %d bytes", len(b))
	}
	return string(id.AppendText(nil, b)), nil
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
// mark in the transaction that creates it (and migrations 0004 and 0005
// carried the marks of the ones that existed before); a contact written
// around the contact store would have none and so be left out of
// audiences — failing closed.
func (l *Ledger) StaleContacts(ctx context.Context, ws string, now time.Time) (map[string]bool, error) {
	out := map[string]bool{}
	if !id.Valid(ws) {
		return out, nil
	}
	ws = strings.ToLower(ws)
	if err := l.purposes.ensure(ctx, l.db.W, ws); err != nil {
		return nil, err
	}
	var custom int
	if err := l.db.R.QueryRowContext(ctx, `SELECT count(*) FROM purposes WHERE workspace_id = $1 AND built_in = $2`, ws, false).Scan(&custom); err != nil {
		return nil, fmt.Errorf("read purposes: %w", err)
	}
	var space int64
	err := l.db.R.QueryRowContext(ctx, `SELECT space FROM permission_spaces WHERE workspace_id = $1`, ws).Scan(&space)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil // no contact has a mark yet
	}
	if err != nil {
		return nil, fmt.Errorf("read permission marks: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`SELECT contact_id FROM permission_checks WHERE space = $1 AND catalog < $2`, []any{space, custom}},
		{`SELECT contact_id FROM permission_checks WHERE space = $1 AND recheck_at <= $2`, []any{space, now.UTC().UnixMicro()}},
	} {
		if err := l.eachKey(ctx, q.sql, q.args, func(cid string) error { out[cid] = true; return nil }); err != nil {
			return nil, fmt.Errorf("read permission marks: %w", err)
		}
	}
	return out, nil
}

func (l *Ledger) eachKey(ctx context.Context, query string, args []any, fn func(string) error) error {
	rows, err := l.db.R.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		s, err := l.scanContactKey(rows)
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// StateFilter narrows AllowedContacts by the contact record.
type StateFilter struct {
	Audience, Relationship, DataSource string
}

// slot is the permission slot of a purpose × channel of the workspace (0:
// none, so nobody's state allows it).
func (l *Ledger) slot(ctx context.Context, ws, purposeKey, channel string) (int64, error) {
	var n int64
	err := l.db.R.QueryRowContext(ctx, `SELECT slot FROM permission_slots WHERE workspace_id = $1 AND purpose_key = $2 AND channel = $3`,
		strings.ToLower(ws), purposeKey, channel).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read permission state: %w", err)
	}
	return n, nil
}

// AllowedContacts streams, in ID order, the contacts whose permission state
// allows purposeKey on channel, matching the filter.
//
// The grants are read as packed blocks (blocks.go), a page of blocks per
// round trip, and turned into text here; a filter is applied to the
// profile bytes, without reading contacts. Each page is one snapshot: a
// contact whose grant is committed after the listing started is in it or
// not, depending on the page that covers it, as with any read of a
// changing table.
func (l *Ledger) AllowedContacts(ctx context.Context, ws, purposeKey, channel string, f StateFilter, fn func(contactID string) error) error {
	slot, err := l.slot(ctx, ws, purposeKey, channel)
	if err != nil || slot == 0 {
		return err
	}
	mask, want, err := f.mask()
	if err != nil {
		return err
	}
	// A page's IDs are one string, which fn gets slices of: one allocation
	// per page instead of one per contact.
	var page strings.Builder
	var text [36]byte
	var prev [keyLen]byte
	started := false
	err = l.scanBlocks(ctx, slot, func(b block, after []byte) error {
		n := b.n()
		i := 0
		if after != nil {
			i, _ = search(b.keys, after)
			if i < n && bytes.Equal(b.key(i), after) {
				i++
			}
		}
		for ; i < n; i++ {
			k := b.key(i)
			if started && bytes.Compare(prev[:], k) >= 0 {
				return fmt.Errorf("permission state: slot %d out of order", slot)
			}
			copy(prev[:], k)
			started = true
			if int64(b.profs[i])&mask != want {
				continue
			}
			if page.Len() == 0 {
				page.Grow(blockPage * blockCap * 36)
			}
			page.Write(id.AppendText(text[:0], k))
		}
		return nil
	}, func() error {
		ids := page.String()
		page = strings.Builder{}
		for i := 0; i+36 <= len(ids); i += 36 {
			if err := fn(ids[i : i+36]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read permission state: %w", err)
	}
	return nil
}

// CountAllowed counts the contacts whose permission state allows purposeKey
// on channel and that match the filter, leaving out those in except.
func (l *Ledger) CountAllowed(ctx context.Context, ws, purposeKey, channel string, f StateFilter, except map[string]bool) (int, error) {
	slot, err := l.slot(ctx, ws, purposeKey, channel)
	if err != nil || slot == 0 {
		return 0, err
	}
	mask, want, err := f.mask()
	if err != nil {
		return 0, err
	}
	if len(except) > 10*blockPage*blockCap {
		n := 0
		err := l.AllowedContacts(ctx, ws, purposeKey, channel, f, func(cid string) error {
			if !except[cid] {
				n++
			}
			return nil
		})
		return n, err
	}
	var n int
	if mask == 0 {
		// The database adds up the blocks' sizes: the keys are not read.
		var size int64
		if err := l.db.R.QueryRowContext(ctx, `SELECT coalesce(sum(length(entries)), 0) FROM permission_blocks WHERE slot = $1`, slot).Scan(&size); err != nil {
			return 0, fmt.Errorf("count permission state: %w", err)
		}
		n = int(size / (keyLen + 1))
	} else {
		err := l.scanBlocks(ctx, slot, func(b block, after []byte) error {
			i := 0
			if after != nil {
				i, _ = search(b.keys, after)
				if i < b.n() && bytes.Equal(b.key(i), after) {
					i++
				}
			}
			for _, p := range b.profs[i:] {
				if int64(p)&mask == want {
					n++
				}
			}
			return nil
		}, func() error { return nil })
		if err != nil {
			return 0, fmt.Errorf("count permission state: %w", err)
		}
	}
	// The excepted contacts are few (the stale ones): look each up.
	for cid := range except {
		if !id.Valid(cid) {
			continue
		}
		k := blockKey(cid)
		b, ok, err := l.blockOf(ctx, l.db.R, slot, k[:])
		if err != nil {
			return 0, fmt.Errorf("count permission state: %w", err)
		}
		if !ok {
			continue
		}
		if i, found := search(b.keys, k[:]); found && int64(b.profs[i])&mask == want {
			n--
		}
	}
	return n, nil
}
