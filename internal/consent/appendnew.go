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
	b := l.NewBatch()
	if err := b.AppendNew(ctx, q, ws, c, in, actor); err != nil {
		return nil, err
	}
	if err := b.Flush(ctx, q); err != nil {
		return nil, err
	}
	return b.items[0].out, nil
}

// newAppend is a new contact's first events, checked, sealed and with the
// contact's state derived from them, waiting for their place in the chain.
type newAppend struct {
	ws, contactID string
	rs            []*row
	texts         []string
	personals     []*PersonalEvidence
	st            *stateWrite
	out           []Event
}

// prepareNew does everything of AppendNew that needs no chain head: the
// checks, the sealing of personal evidence, the evidence texts and the
// derivation of the state.
//
// q is the writing transaction, or — for PrepareNew, with sl the committed
// slots — the read pool: then nothing is written (the texts are stored by
// the transaction, storeTexts).
func (l *Ledger) prepareNew(ctx context.Context, q store.Querier, ws string, c NewContact, in []NewEvent, actor Actor, purposes []Purpose, sl *slots) (*newAppend, error) {
	pts := c.Points
	pts.ID = strings.ToLower(pts.ID)
	contactID := pts.ID
	lk := l.lookups(ws, purposes, in)
	now := l.now().UTC().Truncate(time.Microsecond)

	a := &newAppend{ws: ws, contactID: contactID, rs: make([]*row, 0, len(in)), texts: make([]string, len(in)), personals: make([]*PersonalEvidence, len(in))}
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
		if err := checkTransition(a.rs, pts, r); err != nil {
			return nil, err
		}
		r.ID, r.WorkspaceID, r.ContactID = id.New(), ws, contactID
		// The order among the new events is all the derivation needs of
		// seq; the chain's numbers are given under the head.
		r.Seq = int64(i + 1)
		r.RecordedAt = now
		a.rs = append(a.rs, r)
		a.texts[i], a.personals[i] = textShown, personal
	}

	var err error
	if sl == nil {
		if sl = l.knownSlots(ws, purposes); sl == nil {
			if sl, err = l.loadSlots(ctx, q, ws, purposes); err != nil {
				return nil, err
			}
		}
		if err := l.storeTexts(ctx, q, a); err != nil {
			return nil, err
		}
	}
	// The state is derived before the chain head is taken: it needs only
	// the new events, and every moment under the head is one every other
	// writer of the workspace waits.
	if a.st, err = l.deriveState(ctx, q, ws, contactID, pts, a.rs, true, purposes, sl, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// storeTexts stores the exact texts shown of a's events.
func (l *Ledger) storeTexts(ctx context.Context, q store.Querier, a *newAppend) error {
	for i, t := range a.texts {
		if t == "" || slices.Contains(a.texts[:i], t) {
			continue
		}
		if err := l.storeText(ctx, q, a.ws, t); err != nil {
			return err
		}
	}
	return nil
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
	if cat, known := l.purposes.catalogs.Load(ws); known {
		if c, ok := l.slotCache.Load(ws); ok && c.(*slots).cover(cat.(catalog).list) {
			return
		}
	}
	// The catalogue as committed: a purpose added since only means its
	// slots are made in the transaction. Kept, it lets PrepareNew work
	// before the transaction (the transaction compares its count); a
	// purpose added since it was kept replaces it, so that PrepareNew does
	// not go on preparing with the old one.
	if purposes, err := l.purposes.list(ctx, l.db.R, ws); err == nil {
		l.keepCatalog(ws, purposes)
		if l.committedSlots(ctx, ws, purposes) == nil {
			l.makeSlots(ctx, ws)
		}
	}
}

// makeSlots makes the workspace's missing permission slots (and its space)
// in a short transaction of its own and keeps them. Made inside a writing
// transaction, a slot is locked until that one ends: two writers of the
// workspace (two nodes, the first sign-ups of a new workspace or purpose)
// could then each hold one that the other needs, one of them with the
// chain head besides, and PostgreSQL breaks that deadlock by failing one.
// Slots are never changed or deleted, and built-in purposes only ever
// added, so making them ahead is harmless; on failure the writing
// transaction makes them as before.
func (l *Ledger) makeSlots(ctx context.Context, ws string) {
	var purposes []Purpose
	err := l.db.Tx(ctx, func(tx store.Tx) error {
		// The built-in purposes too, when the workspace lacks them.
		var err error
		if purposes, err = l.purposes.catalog(ctx, tx, ws); err != nil {
			return err
		}
		_, err = l.loadSlots(ctx, tx, ws, purposes)
		return err
	})
	if err != nil {
		return
	}
	l.keepCatalog(ws, purposes)
	l.committedSlots(ctx, ws, purposes)
}

// keepCatalog keeps purposes, the workspace's committed catalogue, unless
// it lacks built-in purposes or the one kept has as many.
func (l *Ledger) keepCatalog(ws string, purposes []Purpose) {
	if len(purposes) < len(DefaultCatalog()) {
		return
	}
	if c, ok := l.purposes.catalogs.Load(ws); ok && c.(catalog).n >= len(purposes) {
		return
	}
	l.purposes.catalogs.Store(ws, catalog{n: len(purposes), list: purposes})
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
