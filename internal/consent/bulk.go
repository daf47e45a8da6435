package consent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fairlead/fairlead/internal/contact"
	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Bulk writes many contacts and events in one transaction through the same
// code as Append and the contact store — same checks, same hash chain, same
// sealing, same permission state — for imports and generated data. Three
// things are done once per bulk instead of once per event: the chain head is
// locked when the first event comes and written back by Flush; the
// catalogue of purposes is read once; and every contact touched gets its
// permission state derived once, by Flush, after all its events. Statements
// are prepared once per bulk.
//
// Nothing written through a Bulk is visible before the transaction commits,
// and a Bulk must be flushed before it does: an unflushed bulk leaves the
// chain head behind its events, which verify reports as a broken chain.
type Bulk struct {
	l        *Ledger
	q        *store.StmtCache
	ws       string
	contacts *contact.Store
	purposes []Purpose
	slots    *slots

	locked   bool
	seq      int64
	hash     []byte
	advanced bool
	now      time.Time

	touched []string
	seen    map[string]bool
	flushed bool

	// What the bulk's own transaction cannot change behind its back: the
	// catalogue and notices (a Bulk writes neither), and the contact
	// points of contacts, forgotten whenever the contact store changes one.
	byKey    map[string]Purpose
	notices  map[string]Notice
	pointsOf map[string]contact.Points
	// noEvents are the grants of contacts without a ledger event, by what
	// alone decides them then: audience, relationship, data source and the
	// day. An import of new contacts derives each profile once.
	noEvents map[noEventsKey]map[int64]bool
	// fresh are contacts created in this bulk that have no ledger event
	// and no permission state yet.
	fresh map[string]bool
	// pending are the grant changes of the contacts Flush re-derived, by
	// slot, written when all are known.
	pending map[int64][]grantChange
}

// Created tells the bulk of contacts just created in its transaction with
// these points (contact.Store.InsertPrepared): until an event is appended
// for one, Flush derives its state without reading its points, its ledger
// or its previous state, none of which exists yet.
func (b *Bulk) Created(pts []contact.Points) {
	if b.fresh == nil {
		b.fresh = map[string]bool{}
	}
	for _, p := range pts {
		id := strings.ToLower(p.ID)
		b.pointsOf[id] = p
		b.fresh[id] = true
		b.touch(id)
	}
}

func (b *Bulk) isFresh(contactID string) bool { return b != nil && b.fresh[contactID] }

type noEventsKey struct {
	audience, relationship, dataSource, day string
}

func noEventsKeyOf(p contact.Points, now time.Time) noEventsKey {
	return noEventsKey{p.Audience, p.Relationship, p.DataSource, now.Format(time.DateOnly)}
}

// grantsWithoutEvents is a copy of the remembered grant set for a contact
// without events, or nil.
func (b *Bulk) grantsWithoutEvents(p contact.Points, rs []*row, now time.Time) map[int64]bool {
	if b == nil || len(rs) > 0 {
		return nil
	}
	if want, ok := b.noEvents[noEventsKeyOf(p, now)]; ok {
		return maps.Clone(want)
	}
	return nil
}

func (b *Bulk) rememberWithoutEvents(p contact.Points, rs []*row, now time.Time, want map[int64]bool) {
	if b == nil || len(rs) > 0 {
		return
	}
	if b.noEvents == nil {
		b.noEvents = map[noEventsKey]map[int64]bool{}
	}
	b.noEvents[noEventsKeyOf(p, now)] = maps.Clone(want)
}

// Bulk starts a bulk in tx for the workspace.
func (l *Ledger) Bulk(ctx context.Context, tx store.Tx, ws string) (*Bulk, error) {
	if !id.Valid(ws) {
		return nil, store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	q := l.db.StmtCache(tx)
	if err := l.purposes.ensure(ctx, q, ws); err != nil {
		q.Close()
		return nil, err
	}
	purposes, err := l.purposes.list(ctx, q, ws)
	if err != nil {
		q.Close()
		return nil, err
	}
	sl, err := l.loadSlots(ctx, q, ws, purposes)
	if err != nil {
		q.Close()
		return nil, err
	}
	b := &Bulk{l: l, q: q, ws: ws, purposes: purposes, slots: sl, seen: map[string]bool{},
		byKey: map[string]Purpose{}, notices: map[string]Notice{}, pointsOf: map[string]contact.Points{}}
	b.contacts = l.contacts.WithTx(q)
	b.contacts.OnChange(b.contactChanged)
	return b, nil
}

// Contacts is the contact store of the bulk: its creates and updates are
// part of the bulk's transaction, and the contacts they touch get their
// permission state at Flush.
func (b *Bulk) Contacts() *contact.Store { return b.contacts }

// Append is Ledger.Append inside the bulk.
func (b *Bulk) Append(ctx context.Context, contactID string, in NewEvent, actor Actor) (Event, error) {
	if b.flushed {
		return Event{}, errors.New("bulk: append after flush")
	}
	if in.Kind == KindRecordChanged {
		return Event{}, errRecordChanged()
	}
	return b.l.appendIn(ctx, b.q, b.ws, contactID, in, actor, b)
}

func (b *Bulk) contactChanged(ctx context.Context, q store.Querier, ws, contactID string, changes []contact.FieldChange) error {
	if b.flushed {
		return errors.New("bulk: contact change after flush")
	}
	delete(b.pointsOf, strings.ToLower(contactID))
	if len(changes) == 0 {
		b.touch(contactID)
		return nil
	}
	_, err := b.l.appendIn(ctx, b.q, ws, contactID, NewEvent{Kind: KindRecordChanged, Details: Details{Changes: changes}}, Actor{}, b)
	return err
}

func (b *Bulk) touch(contactID string) {
	contactID = strings.ToLower(contactID)
	if !b.seen[contactID] {
		b.seen[contactID] = true
		b.touched = append(b.touched, contactID)
	}
}

// head locks the chain head on the first event and then hands out the one
// kept in memory.
func (b *Bulk) head(ctx context.Context, now time.Time) (int64, []byte, error) {
	if !b.locked {
		seq, h, err := b.l.lockHead(ctx, b.q, b.ws, now)
		if err != nil {
			return 0, nil, err
		}
		b.seq, b.hash, b.locked = seq, h, true
	}
	return b.seq, b.hash, nil
}

func (b *Bulk) advance(seq int64, hash []byte, contactID string) {
	b.seq, b.hash, b.advanced = seq, hash, true
	delete(b.fresh, contactID)
	b.touch(contactID)
}

// Flush writes the chain head and derives the permission state of every
// contact the bulk touched, then releases the prepared statements. Call it
// once, before the transaction commits.
func (b *Bulk) Flush(ctx context.Context) error {
	if b.flushed {
		return errors.New("bulk: flushed twice")
	}
	b.flushed = true
	defer b.q.Close()
	if b.advanced {
		now := b.l.now().UTC().Truncate(time.Microsecond)
		if err := b.l.advanceHead(ctx, b.q, b.ws, b.seq, b.hash, now); err != nil {
			return err
		}
	}
	var fresh []string
	for _, cid := range b.touched {
		if _, known := b.pointsOf[cid]; known && b.isFresh(cid) {
			fresh = append(fresh, cid)
			continue
		}
		if err := b.l.refresh(ctx, b.q, b.ws, cid, b.purposes, b.slots, b); err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
	}
	if err := b.l.refreshFresh(ctx, b.q, fresh, b.purposes, b.slots, b); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	if err := b.writePending(ctx); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	return nil
}

// points reads a contact's points, from the bulk's memory when it has them.
// A nil bulk reads through.
func (b *Bulk) points(ctx context.Context, l *Ledger, q store.Querier, ws, contactID string) (contact.Points, error) {
	if b == nil {
		return l.contacts.PointsIn(ctx, q, ws, contactID)
	}
	if p, ok := b.pointsOf[contactID]; ok {
		return p, nil
	}
	p, err := l.contacts.PointsIn(ctx, q, ws, contactID)
	if err == nil {
		b.pointsOf[contactID] = p
	}
	return p, err
}

// purpose is the purposes lookup of check (with its error naming the
// allowed keys), remembered by the bulk.
func (b *Bulk) purpose(ctx context.Context, l *Ledger, q store.Querier, ws, key string) (Purpose, error) {
	if b == nil {
		return l.purposes.lookup(ctx, q, ws, "purpose", key)
	}
	if p, ok := b.byKey[key]; ok {
		return p, nil
	}
	p, err := l.purposes.lookup(ctx, q, ws, "purpose", key)
	if err == nil {
		b.byKey[key] = p
	}
	return p, err
}

// notice is the notices lookup of check, remembered by the bulk.
func (b *Bulk) notice(ctx context.Context, l *Ledger, q store.Querier, ws, hash string) (Notice, error) {
	if b == nil {
		return l.notices.get(ctx, q, ws, hash)
	}
	if n, ok := b.notices[hash]; ok {
		return n, nil
	}
	n, err := l.notices.get(ctx, q, ws, hash)
	if err == nil {
		b.notices[hash] = n
	}
	return n, err
}

// pend keeps grant changes for Flush, which writes each slot's in one
// pass over its blocks.
func (b *Bulk) pend(chs []slotChange) {
	if b.pending == nil {
		b.pending = map[int64][]grantChange{}
	}
	for _, c := range chs {
		b.pending[c.slot] = append(b.pending[c.slot], c.change)
	}
}

// writePending writes the kept grant changes, slot by slot in ascending
// order (the order in which writers lock slots), each slot's by key.
func (b *Bulk) writePending(ctx context.Context) error {
	slots := slices.Sorted(maps.Keys(b.pending))
	for _, n := range slots {
		chs := b.pending[n]
		slices.SortFunc(chs, func(x, y grantChange) int { return bytes.Compare(x.key[:], y.key[:]) })
		if err := b.l.applyGrants(ctx, b.q, n, chs); err != nil {
			return err
		}
	}
	b.pending = nil
	return nil
}
