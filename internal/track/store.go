// Package track records what people do on the workspace's pages and in its
// e-mails, within what they allowed (TDDDG §25, Art. 6 and 21 GDPR). This
// file is the store of identified events: rows linked to a contact, which
// only a caller that has checked the person's tracking consent may write.
package track

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
	"github.com/fairlead/fairlead/internal/validate"
)

// Types are the event types fairlead knows.
var Types = []string{"page_view", "download", "form_submit", "email_open", "email_click", "custom"}

// Limits of an event's free-text parts; they keep a row small and a flood
// of junk out.
const (
	MaxName  = 200
	MaxRef   = 200
	MaxProps = 20
	MaxProp  = 500
)

// Event is one identified event.
type Event struct {
	ID        string `json:"id"`
	ContactID string `json:"contact_id"`
	Type      string `json:"type"`
	// Name says what: the asset of a download, the path of a page, the name
	// of a custom event.
	Name string `json:"name"`
	// Ref says what caused it, e.g. "campaign:<id>:<step>" for e-mail opens
	// and clicks; "" for none.
	Ref   string            `json:"ref"`
	Props map[string]string `json:"props"`
	At    time.Time         `json:"at"`
}

// Hook runs in the transaction that records events, e.g. to update scores.
type Hook func(ctx context.Context, q store.Querier, ws string, evs []Event) error

// Store writes and reads identified events.
type Store struct {
	db    *store.DB
	now   func() time.Time
	hooks []Hook
}

// NewStore works on db; now defaults to the wall clock.
func NewStore(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Store{db: db, now: now}
}

// OnRecord adds a hook called with every batch Record stores, in the same
// transaction. Register hooks while wiring, before the first Record.
func (s *Store) OnRecord(h Hook) { s.hooks = append(s.hooks, h) }

// Check validates one event; i is its index in a batch, for the field name.
func Check(i int, e Event) error {
	f := func(name string) string { return "events[" + strconv.Itoa(i) + "]." + name }
	if !id.Valid(e.ContactID) {
		return validate.Invalid(f("contact_id"), f("contact_id")+" must be a contact ID")
	}
	if !slices.Contains(Types, e.Type) {
		return validate.OneOf(f("type"), e.Type, Types)
	}
	if len(e.Name) > MaxName {
		return validate.Invalid(f("name"), fmt.Sprintf("%s is longer than %d bytes", f("name"), MaxName))
	}
	if e.Type == "custom" && e.Name == "" {
		return validate.Required(f("name"))
	}
	if len(e.Ref) > MaxRef {
		return validate.Invalid(f("ref"), fmt.Sprintf("%s is longer than %d bytes", f("ref"), MaxRef))
	}
	if len(e.Props) > MaxProps {
		return validate.Invalid(f("props"), fmt.Sprintf("%s has more than %d entries", f("props"), MaxProps))
	}
	for k, v := range e.Props {
		if len(k) > 64 || len(v) > MaxProp {
			return validate.Invalid(f("props"), fmt.Sprintf("%s: keys are at most 64 and values at most %d bytes", f("props"), MaxProp))
		}
	}
	return nil
}

// insertChunk rows per INSERT: many rows per statement is what makes a
// batch fast on both engines, and 8 x 200 parameters stays far below
// SQLite's limit.
const insertChunk = 200

// chunkSizes are the row counts of the INSERTs a batch is cut into,
// largest first.
var chunkSizes = []int{insertChunk, 50, 10, 1}

var insertTexts sync.Map // "dialect/rows" -> INSERT text

func insertSQL(d store.Dialect, rows int) string {
	k := fmt.Sprint(d, "/", rows)
	if v, ok := insertTexts.Load(k); ok {
		return v.(string)
	}
	q := `INSERT INTO track_events (id, workspace_id, contact_id, type, name, ref, props, occurred_at) VALUES ` + store.Values(d, rows, 8)
	insertTexts.Store(k, q)
	return q
}

// eachPage rows are read per query by Each; a variable so a test can walk
// several pages without writing thousands of rows.
var eachPage = 5000

// Record validates and stores evs with q (a transaction, or nil for the
// write pool, in which case one transaction is opened). It does not check
// consent: that is the caller's duty. A bad event stores nothing.
func (s *Store) Record(ctx context.Context, q store.Querier, ws string, evs []Event) error {
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	if len(evs) == 0 {
		return nil
	}
	for i := range evs {
		if err := Check(i, evs[i]); err != nil {
			return err
		}
	}
	if q == nil {
		return s.db.Tx(ctx, func(tx store.Tx) error { return s.Record(ctx, tx, ws, evs) })
	}
	now := s.now()
	for i := range evs {
		e := &evs[i]
		if e.At.IsZero() || e.At.After(now) {
			e.At = now
		}
		e.At = e.At.UTC().Truncate(time.Microsecond)
		if e.ID == "" {
			e.ID = id.NewAt(e.At)
		}
	}
	// A batch is cut into chunks of a few fixed sizes, so the statement
	// texts are few and each is prepared once (TxCached); SQLite gets
	// anonymous "?" parameters, since it looks every "$n" name up in a
	// list and a 1,600-parameter statement would parse in quadratic time.
	off := 0
	for _, size := range chunkSizes {
		for len(evs)-off >= size {
			part := evs[off : off+size]
			off += size
			args := make([]any, 0, len(part)*8)
			for _, e := range part {
				props := "{}"
				if len(e.Props) > 0 {
					p, _ := json.Marshal(e.Props)
					props = string(p)
				}
				args = append(args, e.ID, ws, e.ContactID, e.Type, e.Name, e.Ref, props, e.At)
			}
			if _, err := q.ExecContext(ctx, insertSQL(s.db.Dialect, size), args...); err != nil {
				return fmt.Errorf("track: record events: %w", store.MapError(err))
			}
		}
	}
	for _, h := range s.hooks {
		if err := h(ctx, q, ws, evs); err != nil {
			return fmt.Errorf("track: after recording events: %w", err)
		}
	}
	return nil
}

const cols = `id, contact_id, type, name, ref, props, occurred_at`

func scan(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var props string
	if err := sc.Scan(&e.ID, &e.ContactID, &e.Type, &e.Name, &e.Ref, &props, &e.At); err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	if props != "{}" && props != "" {
		_ = json.Unmarshal([]byte(props), &e.Props)
	}
	return e, nil
}

// Each calls fn for every identified event of the workspace, ordered by
// contact and time, reading in pages so memory stays bounded (a score
// recompute walks millions of rows).
func (s *Store) Each(ctx context.Context, ws string, fn func(Event) error) error {
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	page := eachPage
	var afterContact, afterAt, afterID any = "", time.Time{}, ""
	first := true
	for {
		var rows interface {
			Next() bool
			Scan(...any) error
			Close() error
			Err() error
		}
		var err error
		if first {
			rows, err = s.db.R.QueryContext(ctx, `SELECT `+cols+` FROM track_events WHERE workspace_id = $1
				ORDER BY contact_id, occurred_at, id LIMIT $2`, ws, page)
		} else {
			rows, err = s.db.R.QueryContext(ctx, `SELECT `+cols+` FROM track_events WHERE workspace_id = $1
				AND (contact_id > $2 OR (contact_id = $2 AND (occurred_at > $3 OR (occurred_at = $3 AND id > $4))))
				ORDER BY contact_id, occurred_at, id LIMIT $5`, ws, afterContact, afterAt, afterID, page)
		}
		if err != nil {
			return fmt.Errorf("track: read events: %w", err)
		}
		n := 0
		var batch []Event
		for rows.Next() {
			e, err := scan(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("track: read events: %w", err)
			}
			batch = append(batch, e)
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("track: read events: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if n < page {
			return nil
		}
		last := batch[len(batch)-1]
		afterContact, afterAt, afterID, first = last.ContactID, last.At, last.ID, false
	}
}

// Range calls fn for every identified event of the contacts from first to
// last (IDs, both included), ordered by contact and time, from one query:
// a recompute reads a batch of contacts' events at once, walking the
// contact index in order instead of a page per keyset condition. The
// events carry what scoring reads (contact, type, name, time): ID, Ref and
// Props stay empty, which spares a recompute reading and decoding them.
// Events of a contact at the same time come in an order that is the same
// on every call (by type, name and the order recorded on SQLite, by ID on
// PostgreSQL), not necessarily the order recorded.
//
// On SQLite the read is covered by track_events_contact (migration 0029:
// contact, time, type, name), so no event's row is looked up after its
// index entry; the type comes as its number in Types, not as a string the
// driver would allocate for each event; the time is read as its stored
// text and parsed here: the driver's parser tries layouts through the
// generic time.Parse, a fifth of the read's CPU.
func (s *Store) Range(ctx context.Context, ws, first, last string, fn func(Event) error) error {
	if !id.Valid(ws) {
		return store.ErrNotFound
	}
	rows, err := s.db.R.QueryContext(ctx, rangeQuery(s.db.Dialect), ws, first, last)
	if err != nil {
		return fmt.Errorf("track: read events: %w", err)
	}
	defer rows.Close()
	var text string
	var typ int
	for rows.Next() {
		var e Event
		var err error
		if s.db.Dialect == store.SQLite {
			if err = rows.Scan(&e.ContactID, &typ, &e.Name, &text); err == nil {
				if typ < 0 || typ >= len(Types) {
					err = fmt.Errorf("event type number %d", typ)
				} else {
					e.Type = Types[typ]
					e.At, err = parseStored(text)
				}
			}
		} else if err = rows.Scan(&e.ContactID, &e.Type, &e.Name, &e.At); err == nil {
			e.At = e.At.UTC()
		}
		if err != nil {
			return fmt.Errorf("track: read events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("track: read events: %w", err)
	}
	return nil
}

func rangeQuery(d store.Dialect) string {
	if d == store.SQLite {
		return `SELECT contact_id, ` + typeNumber + `, name, CAST(occurred_at AS TEXT) FROM track_events
			WHERE workspace_id = $1 AND contact_id >= $2 AND contact_id <= $3 ORDER BY contact_id, occurred_at`
	}
	return `SELECT contact_id, type, name, occurred_at FROM track_events
			WHERE workspace_id = $1 AND contact_id >= $2 AND contact_id <= $3 ORDER BY contact_id, occurred_at, id`
}

// typeNumber is the SQL of an event's type as its index in Types.
var typeNumber = func() string {
	var b strings.Builder
	b.WriteString("CASE type")
	for i, t := range Types {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", t, i)
	}
	b.WriteString(" ELSE -1 END")
	return b.String()
}()

// storedLayout is how the SQLite driver writes a time.Time.
const storedLayout = "2006-01-02 15:04:05.999999999-07:00"

// parseStored reads a timestamp as the SQLite driver stores it, in UTC
// ("2026-11-02 09:30:15.123456+00:00"), digit by digit; any other form
// goes through time.Parse.
func parseStored(s string) (time.Time, error) {
	num := func(a, b int) (int, bool) {
		n := 0
		for i := a; i < b; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if len(s) >= 25 && s[4] == '-' && s[7] == '-' && s[10] == ' ' && s[13] == ':' && s[16] == ':' && s[len(s)-6:] == "+00:00" {
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 7)
		d, ok3 := num(8, 10)
		h, ok4 := num(11, 13)
		mi, ok5 := num(14, 16)
		sec, ok6 := num(17, 19)
		frac, end, ok7 := 0, len(s)-6, true
		if end > 19 {
			if s[19] != '.' || end-20 > 9 || end == 20 {
				ok7 = false
			} else if frac, ok7 = num(20, end); ok7 {
				for i := end - 20; i < 9; i++ {
					frac *= 10
				}
			}
		}
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && sec < 60 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, frac, time.UTC), nil
		}
	}
	t, err := time.Parse(storedLayout, s)
	return t.UTC(), err
}

// ForContact returns a contact's newest events first, at most limit
// (1..1000, default 100).
func (s *Store) ForContact(ctx context.Context, ws, contactID string, limit int) ([]Event, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return nil, store.ErrNotFound
	}
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 1000 {
		return nil, validate.Invalid("limit", "limit must be 1 to 1000")
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+cols+` FROM track_events WHERE workspace_id = $1 AND contact_id = $2
		ORDER BY occurred_at DESC, id DESC LIMIT $3`, ws, contactID, limit)
	if err != nil {
		return nil, fmt.Errorf("track: read events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		e, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("track: read events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Happened says whether the contact has an event of type typ (and name,
// unless "") at or after since.
func (s *Store) Happened(ctx context.Context, ws, contactID, typ, name string, since time.Time) (bool, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return false, store.ErrNotFound
	}
	if !slices.Contains(Types, typ) {
		return false, validate.OneOf("type", typ, Types)
	}
	var one int
	err := s.db.R.QueryRowContext(ctx, `SELECT 1 FROM track_events WHERE workspace_id = $1 AND contact_id = $2
		AND occurred_at >= $3 AND type = $4 AND ($5 = '' OR name = $5) LIMIT 1`,
		ws, contactID, since.UTC(), typ, name).Scan(&one)
	if err != nil {
		if err := store.MapError(err); err == store.ErrNotFound {
			return false, nil
		}
		return false, fmt.Errorf("track: %w", err)
	}
	return true, nil
}

// CountByRef counts events per type whose ref starts with refPrefix (e.g.
// "campaign:<id>:" for all steps of a campaign). Distinct contacts are
// what reports want: a person who opened twice counts once.
func (s *Store) CountByRef(ctx context.Context, ws, refPrefix string) (map[string]int, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	if refPrefix == "" {
		return nil, validate.Required("ref")
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT type, COUNT(DISTINCT contact_id) FROM track_events
		WHERE workspace_id = $1 AND ref <> '' AND substr(ref, 1, $3) = $2 GROUP BY type`, ws, refPrefix, utf8.RuneCountInString(refPrefix))
	if err != nil {
		return nil, fmt.Errorf("track: count events: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// DeleteContact deletes every identified event of a contact (erasure, or
// an objection to tracking) and says how many went.
func (s *Store) DeleteContact(ctx context.Context, q store.Querier, ws, contactID string) (int, error) {
	if !id.Valid(ws) || !id.Valid(contactID) {
		return 0, store.ErrNotFound
	}
	if q == nil {
		q = s.db.W
	}
	res, err := q.ExecContext(ctx, `DELETE FROM track_events WHERE workspace_id = $1 AND contact_id = $2`, ws, contactID)
	if err != nil {
		return 0, fmt.Errorf("track: delete events: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
