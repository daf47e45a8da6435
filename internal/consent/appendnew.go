package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/keyring"
	"github.com/fairlead/fairlead/internal/store"
)

// NewContact is a contact created in the caller's transaction, as
// AppendNew needs it.
type NewContact struct {
	// Points are the contact's points as stored (contact.Prepared.Points).
	Points contact.Points
	// Sealer seals personal evidence with the contact's new data key
	// (contact.Prepared.Key); nil reads the key through the transaction.
	Sealer *keyring.Sealer
}

// AppendNew appends the first events of a contact created in the
// transaction q — with the same checks, chain and evidence as Append — and
// writes the contact's first permission state. With no events it writes
// the state alone (what the contact store's change hook would have done).
//
// A contact created in this transaction has no events and no permission
// state yet, and nobody else can write any for it before the commit. So
// nothing is read back: the history is the new events, the state is
// derived from them in memory, the events go in as one INSERT and the
// grants and the mark after them. Calling it for a contact that already has
// events or state is a mistake the unique keys refuse. Call Warm before
// the transaction.
func (l *Ledger) AppendNew(ctx context.Context, q store.Querier, ws string, c NewContact, in []NewEvent, actor Actor) ([]Event, error) {
	if !id.Valid(ws) || !id.Valid(c.Points.ID) {
		return nil, store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	pts := c.Points
	pts.ID = strings.ToLower(pts.ID)
	contactID := pts.ID
	purposes, err := l.purposes.catalog(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	lk := l.lookups(ws, purposes, in)
	now := l.now().UTC().Truncate(time.Microsecond)

	rs := make([]*row, 0, len(in))
	texts := make([]string, len(in))
	personals := make([]*PersonalEvidence, len(in))
	for i, ev := range in {
		if ev.Kind == KindRecordChanged {
			return nil, errRecordChanged()
		}
		r, personal, textShown, err := l.check(ctx, q, ws, pts, ev, actor, now, lk)
		if err != nil {
			return nil, err
		}
		if personal != nil {
			b, _ := json.Marshal(personal)
			if c.Sealer != nil {
				r.Sealed, err = c.Sealer.Seal(b)
			} else {
				r.Sealed, err = l.keys.WithTx(q).Seal(ctx, ws, contactID, b)
			}
			if errors.Is(err, keyring.ErrShredded) {
				return nil, &ConflictError{Field: "evidence", Code: "contact_erased", Message: "this contact was erased: personal evidence can no longer be recorded for it"}
			}
			if err != nil {
				return nil, err
			}
		}
		if err := checkTransition(rs, pts, r); err != nil {
			return nil, err
		}
		r.ID, r.WorkspaceID, r.ContactID = id.New(), ws, contactID
		// The order among the new events is all the derivation needs of
		// seq; the chain's numbers are given under the head below.
		r.Seq = int64(i + 1)
		r.RecordedAt = now
		rs = append(rs, r)
		texts[i], personals[i] = textShown, personal
	}

	sl := l.knownSlots(ws, purposes)
	if sl == nil {
		if sl, err = l.loadSlots(ctx, q, ws, purposes); err != nil {
			return nil, err
		}
	}
	for i, t := range texts {
		if t == "" || slices.Contains(texts[:i], t) {
			continue
		}
		if err := l.storeText(ctx, q, ws, t); err != nil {
			return nil, err
		}
	}
	if len(rs) == 0 {
		if err := l.refreshFrom(ctx, q, ws, contactID, pts, rs, true, purposes, sl, nil); err != nil {
			return nil, err
		}
		return []Event{}, nil
	}

	// The state is derived before the chain head is taken: it needs only
	// the new events, and every moment under the head is one every other
	// writer of the workspace waits.
	st, err := l.deriveState(ctx, q, ws, contactID, pts, rs, true, purposes, sl, nil)
	if err != nil {
		return nil, err
	}
	headSeq, headHash, err := l.lockHead(ctx, q, ws, now)
	if err != nil {
		return nil, err
	}
	const cols = 15
	args := make([]any, 0, cols*len(rs))
	prev := headHash
	for _, r := range rs {
		r.Seq += headSeq
		r.Hash = chainHash(prev, r)
		prev = r.Hash
		var sealed any
		if r.Sealed != nil {
			sealed = r.Sealed
		}
		args = append(args, r.ID, r.WorkspaceID, r.ContactID, r.Seq, r.Kind, r.Purpose, r.Channels, r.LawfulBasis, r.ContactPoint, r.Details, r.Ev, sealed, r.OccurredAt, r.RecordedAt, r.Hash)
	}
	ins := `INSERT INTO ledger_events (` + rowCols + `) VALUES ` + store.Values(l.db.Dialect, len(rs), cols)
	last := rs[len(rs)-1]
	locked := false
	if l.db.Dialect == store.Postgres {
		// The events, the head update and the locks of the permission
		// slots the state changes are one statement: the head stays
		// locked for one round trip after it was read, not two. The
		// slots are locked after the head, as every append does, and in
		// ascending order (the grants are written below, by statements
		// that see what the slots' previous holders committed).
		n := len(args)
		args = append(args, ws, last.Seq, last.Hash, now, l.headMAC(ws, last.Seq, last.Hash))
		lock, cond := "", ""
		if len(st.chs) > 0 {
			stmt, largs := slotLocks(st.chs, len(args))
			lock = `, locked AS (SELECT count(*) AS n FROM (` + stmt + `) AS l)`
			cond = ` AND (SELECT n FROM locked) >= 0`
			args = append(args, largs...)
			locked = true
		}
		if _, err := q.ExecContext(ctx, fmt.Sprintf(`WITH appended AS (%s RETURNING 1)%s
			UPDATE ledger_heads SET seq = $%d, hash = $%d, updated_at = $%d, mac = $%d WHERE workspace_id = $%d%s`, ins, lock, n+2, n+3, n+4, n+5, n+1, cond), args...); err != nil {
			return nil, fmt.Errorf("append event: %w", store.MapError(err))
		}
	} else {
		if _, err := q.ExecContext(ctx, ins, args...); err != nil {
			return nil, fmt.Errorf("append event: %w", store.MapError(err))
		}
		if err := l.advanceHead(ctx, q, ws, last.Seq, last.Hash, now); err != nil {
			return nil, err
		}
	}

	// The grants go in after the chain head is taken: on PostgreSQL they
	// need the slots' locks, and every append takes the head first and the
	// slots after it (in ascending order), so no two writers wait on each
	// other in a circle.
	if err := l.writeState(ctx, q, st, locked); err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(rs))
	for i, r := range rs {
		if r.Kind == KindErasureExecuted {
			if err := l.keys.WithTx(q).Shred(ctx, q, ws, contactID); err != nil {
				return nil, fmt.Errorf("erase contact: %w", err)
			}
		}
		ev, err := r.event()
		if err != nil {
			return nil, err
		}
		ev.Evidence.TextShown = texts[i]
		if personals[i] != nil {
			ev.Evidence.Personal, ev.Evidence.PersonalState = personals[i], "present"
		}
		if l.onAppend != nil {
			if err := l.onAppend(ctx, q, ws, contactID, ev); err != nil {
				return nil, err
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// Warm reads, outside any transaction, what AppendNew keeps in memory
// once it is committed — the notice versions and evidence texts of these
// events and the workspace's permission slots — so that AppendNew, in the
// writer, reads none of them. Call it before the transaction: on
// PostgreSQL a read on the pool from inside a transaction can wait for a
// connection that other transactions hold while they wait for this one.
// Whatever it cannot read, AppendNew reads through its transaction.
func (l *Ledger) Warm(ctx context.Context, ws string, in []NewEvent) {
	if !id.Valid(ws) {
		return
	}
	ws = strings.ToLower(ws)
	for _, ev := range in {
		for _, h := range []string{ev.Evidence.NoticeHash, ev.Details.Notice} {
			if h == "" {
				continue
			}
			if _, ok := l.noticeCache.Load(ws + "\x00" + h); ok {
				continue
			}
			if n, err := l.notices.get(ctx, l.db.R, ws, h); err == nil {
				l.noticeCache.Store(ws+"\x00"+h, n)
			}
		}
		if t := ev.Evidence.TextShown; t != "" {
			k := ws + "\x00" + textHash(t)
			if _, ok := l.textCache.Load(k); ok {
				continue
			}
			var one int
			if l.db.R.QueryRowContext(ctx, `SELECT 1 FROM evidence_texts WHERE workspace_id = $1 AND hash = $2`, ws, textHash(t)).Scan(&one) == nil {
				l.textCache.Store(k, true)
			}
		}
	}
	if c, ok := l.slotCache.Load(ws); ok && c.(*slots).space != 0 {
		return
	}
	// The catalogue as committed: a purpose added since only means its
	// slots are made in the transaction.
	if purposes, err := l.purposes.list(ctx, l.db.R, ws); err == nil {
		l.committedSlots(ctx, ws, purposes)
	}
}

// knownSlots are the kept committed slots when they cover purposes.
func (l *Ledger) knownSlots(ws string, purposes []Purpose) *slots {
	if c, ok := l.slotCache.Load(ws); ok && c.(*slots).cover(purposes) {
		return c.(*slots)
	}
	return nil
}

// lookups answers check's purpose and notice lookups for AppendNew from
// what is known without reading: the catalogue just read, and the notices
// Warm kept (versions never change). What it does not know, check reads
// through the transaction as always.
func (l *Ledger) lookups(ws string, purposes []Purpose, in []NewEvent) *Bulk {
	lk := &Bulk{byKey: make(map[string]Purpose, len(purposes)), notices: map[string]Notice{}}
	for _, p := range purposes {
		lk.byKey[p.Key] = p
	}
	for _, ev := range in {
		for _, h := range []string{ev.Evidence.NoticeHash, ev.Details.Notice} {
			if n, ok := l.noticeCache.Load(ws + "\x00" + h); ok && h != "" {
				lk.notices[h] = n.(Notice)
			}
		}
	}
	return lk
}

// storeText keeps the exact text shown once per workspace. Texts are never
// changed or deleted, so one Warm saw committed is not written again.
func (l *Ledger) storeText(ctx context.Context, q store.Querier, ws, text string) error {
	h := textHash(text)
	if _, ok := l.textCache.Load(ws + "\x00" + h); ok {
		return nil
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO evidence_texts (workspace_id, hash, body) VALUES ($1, $2, $3) ON CONFLICT (workspace_id, hash) DO NOTHING`,
		ws, h, text); err != nil {
		return fmt.Errorf("store evidence text: %w", err)
	}
	return nil
}
