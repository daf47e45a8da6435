package consent

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
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
			return err
		}
	}
	key := l.contactKey(contactID)
	now := l.now().UTC()
	want := l.grants(pts, rs, purposes, sl, now, b)
	// Most changes leave most grants as they were: write only the
	// difference. A contact without a mark has no grants (both are written
	// here, together), which spares a new contact the lookup in every slot.
	var have [][2]int64
	var catalog int
	err = sql.ErrNoRows
	if !fresh {
		err = q.QueryRowContext(ctx, `SELECT catalog FROM permission_checks WHERE space = $1 AND contact_id = $2`, sl.space, key).Scan(&catalog)
	}
	if err == nil {
		have, err = slotProfiles(ctx, q, `SELECT g.slot, g.profile FROM permission_grants g JOIN permission_slots s ON s.slot = g.slot WHERE s.workspace_id = $1 AND g.contact_id = $2`, ws, key)
	} else if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	prof := profileOf(pts)
	for _, h := range have {
		n, p := h[0], h[1]
		switch {
		case want[n] && p == prof:
			delete(want, n)
		case want[n]:
			delete(want, n)
			if _, err := q.ExecContext(ctx, `UPDATE permission_grants SET profile = $3 WHERE slot = $1 AND contact_id = $2`, n, key, prof); err != nil {
				return fmt.Errorf("refresh permissions: %w", err)
			}
		default:
			if _, err := q.ExecContext(ctx, `DELETE FROM permission_grants WHERE slot = $1 AND contact_id = $2`, n, key); err != nil {
				return fmt.Errorf("refresh permissions: %w", err)
			}
		}
	}
	add := make([]int64, 0, len(want))
	for n := range want {
		add = append(add, n)
	}
	slices.Sort(add)
	for _, n := range add {
		if _, err := q.ExecContext(ctx, `INSERT INTO permission_grants (slot, contact_id, profile) VALUES ($1, $2, $3)`, n, key, prof); err != nil {
			return fmt.Errorf("refresh permissions: %w", err)
		}
	}
	var recheck any
	if t, ok := recheckAt(rs, now); ok {
		recheck = t.UnixMicro()
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO permission_checks (space, contact_id, catalog, recheck_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (space, contact_id) DO UPDATE SET catalog = excluded.catalog, recheck_at = excluded.recheck_at`,
		sl.space, key, customCount(purposes), recheck); err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	return nil
}

// grants are the slots the engine allows for the contact now.
func (l *Ledger) grants(pts contact.Points, rs []*row, purposes []Purpose, sl *slots, now time.Time, b *Bulk) map[int64]bool {
	if want := b.grantsWithoutEvents(pts, rs, now); want != nil {
		return want
	}
	evs := chronological(rs, now)
	st := foldParsed(evs)
	want := map[int64]bool{}
	for _, p := range purposes {
		for _, ch := range p.Channels {
			f := factsFrom(pts, p, ch, evs, st, now)
			d, err := policy.Decide(f, policy.Request{Purpose: policy.Purpose(p.Kind), Channel: policy.Channel(ch)})
			if err != nil || !d.Allowed {
				continue // an error is "not allowed" (rules §6); live decisions report it
			}
			want[sl.byKey[[2]string{p.Key, ch}]] = true
		}
	}
	b.rememberWithoutEvents(pts, rs, now, want)
	return want
}

// refreshFresh writes the state of contacts created in the bulk that have
// neither events nor state: nothing to read or compare, so their grants and
// marks go in as multi-row INSERTs.
func (l *Ledger) refreshFresh(ctx context.Context, q store.Querier, ids []string, purposes []Purpose, sl *slots, b *Bulk) error {
	now := l.now().UTC()
	var grants, checks []any
	for _, cid := range ids {
		pts := b.pointsOf[cid]
		key := l.contactKey(cid)
		want := l.grants(pts, nil, purposes, sl, now, b)
		add := make([]int64, 0, len(want))
		for n := range want {
			add = append(add, n)
		}
		slices.Sort(add)
		prof := profileOf(pts)
		for _, n := range add {
			grants = append(grants, n, key, prof)
		}
		checks = append(checks, sl.space, key, customCount(purposes), nil)
	}
	for _, part := range []struct {
		head string
		cols int
		args []any
		tail string
	}{
		{`INSERT INTO permission_grants (slot, contact_id, profile) VALUES `, 3, grants, ``},
		{`INSERT INTO permission_checks (space, contact_id, catalog, recheck_at) VALUES `, 4, checks,
			` ON CONFLICT (space, contact_id) DO UPDATE SET catalog = excluded.catalog, recheck_at = excluded.recheck_at`},
	} {
		const per = 500
		for args := part.args; len(args) > 0; {
			rows := min(per, len(args)/part.cols)
			if _, err := q.ExecContext(ctx, part.head+store.Values(l.db.Dialect, rows, part.cols)+part.tail, args[:rows*part.cols]...); err != nil {
				return fmt.Errorf("refresh permissions: %w", err)
			}
			args = args[rows*part.cols:]
		}
	}
	return nil
}

func slotProfiles(ctx context.Context, q store.Querier, query string, args ...any) ([][2]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]int64
	for rows.Next() {
		var x [2]int64
		if err := rows.Scan(&x[0], &x[1]); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
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

// grantPage is how many grants one round trip carries when streaming.
const grantPage = 16384

// AllowedContacts streams, in ID order, the contacts whose permission state
// allows purposeKey on channel, matching the filter.
//
// The grants come in pages, each aggregated into one value by the
// database: one row per page instead of one per contact, because per-row
// overhead in the driver, not the index walk, dominated. A filter is
// applied to the grants' profiles, without reading contacts.
func (l *Ledger) AllowedContacts(ctx context.Context, ws, purposeKey, channel string, f StateFilter, fn func(contactID string) error) error {
	slot, err := l.slot(ctx, ws, purposeKey, channel)
	if err != nil || slot == 0 {
		return err
	}
	mask, want, err := f.mask()
	if err != nil {
		return err
	}
	var after any
	for {
		page, last, err := l.grantsPage(ctx, slot, mask, want, after)
		if err != nil {
			return fmt.Errorf("read permission state: %w", err)
		}
		if page == "" {
			return nil
		}
		for i := 0; i+36 <= len(page); i += 37 {
			if err := fn(page[i : i+36]); err != nil {
				return err
			}
		}
		after = last
	}
}

// grantsPage returns up to grantPage contact IDs of the slot after the key
// after (nil: from the start) as one string of canonical IDs, each followed
// by a newline, and the key to continue after.
func (l *Ledger) grantsPage(ctx context.Context, slot, mask, want int64, after any) (string, any, error) {
	cond, args := "", []any{slot}
	if mask != 0 {
		args = append(args, mask, want)
		cond += " AND (profile & $2) = $3"
	}
	if after != nil {
		args = append(args, after)
		cond += fmt.Sprintf(" AND contact_id > $%d", len(args))
	}
	inner := `SELECT contact_id FROM permission_grants WHERE slot = $1` + cond + fmt.Sprintf(` ORDER BY contact_id LIMIT %d`, grantPage)
	// Both engines concatenate the 16-byte keys (PostgreSQL's uuid_send is
	// its binary form; an ordered aggregate or text would sort or format
	// every key in the server). The aggregate keeps the order of its
	// subquery, which is checked rather than trusted. The value is read in
	// place (RawBytes): it is turned into text right here.
	agg := `SELECT group_concat(contact_id, '') FROM (` + inner + `)`
	if l.db.Dialect == store.Postgres {
		agg = `SELECT string_agg(uuid_send(contact_id), ''::bytea) FROM (` + inner + `) g`
	}
	rows, err := l.db.R.QueryContext(ctx, agg, args...)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var b sql.RawBytes
	if rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return "", nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return "", nil, err
	}
	if len(b) == 0 {
		return "", nil, nil
	}
	if len(b)%16 != 0 {
		return "", nil, fmt.Errorf("permission state: page of %d bytes", len(b))
	}
	n := len(b) / 16
	for i := 1; i < n; i++ {
		if bytes.Compare(b[(i-1)*16:i*16], b[i*16:(i+1)*16]) >= 0 {
			keys := make([][]byte, n)
			for k := range keys {
				keys[k] = b[k*16 : (k+1)*16]
			}
			slices.SortFunc(keys, bytes.Compare)
			b = bytes.Join(keys, nil)
			break
		}
	}
	var out strings.Builder // its String does not copy the page again
	out.Grow(n * 37)
	var line [37]byte
	line[36] = '\n'
	for i := 0; i < n; i++ {
		id.AppendText(line[:0], b[i*16:(i+1)*16])
		out.Write(line[:])
	}
	page := out.String()
	if l.db.Dialect == store.Postgres {
		return page, page[len(page)-37 : len(page)-1], nil
	}
	return page, append([]byte(nil), b[(n-1)*16:]...), nil
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
	if len(except) > 10*grantPage {
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
	if err := l.db.R.QueryRowContext(ctx, `SELECT count(*) FROM permission_grants WHERE slot = $1 AND (profile & $2) = $3`, slot, mask, want).Scan(&n); err != nil {
		return 0, fmt.Errorf("count permission state: %w", err)
	}
	// The excepted contacts are few (the stale ones): look each up.
	for cid := range except {
		if !id.Valid(cid) {
			continue
		}
		var one int
		err := l.db.R.QueryRowContext(ctx, `SELECT 1 FROM permission_grants WHERE slot = $1 AND contact_id = $2 AND (profile & $3) = $4`, slot, l.contactKey(cid), mask, want).Scan(&one)
		if err == nil {
			n--
		} else if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("count permission state: %w", err)
		}
	}
	return n, nil
}
