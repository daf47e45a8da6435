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

	"github.com/fairlead/fairlead/internal/id"
	"github.com/fairlead/fairlead/internal/store"
)

// Batch gathers the first events of contacts created in one transaction —
// a group commit of sign-ups — and writes them at Flush: per workspace the
// chain head is locked and advanced once, the events go in as one INSERT,
// and the grants of all the batch's contacts are written together, so a
// permission block that several new contacts land in (their keys grow with
// time) is read and rewritten once, not once per contact.
//
// AppendNew does every check, seals, stores evidence texts and derives the
// state at once, in the caller's statement order (so a caller may run it
// inside a savepoint of its own and, when that savepoint rolls back, drop
// what it added with Truncate); nothing of the chain or the state is
// written before Flush, which must run before the transaction commits.
type Batch struct {
	l     *Ledger
	items []*newAppend
	// catalogs are the workspaces' purposes as read in this transaction.
	catalogs map[string][]Purpose
	// deferred: AppendPrepared does not read the catalogue; expect holds
	// the purpose count its events were prepared with, per workspace, and
	// Flush checks it in the statement that takes the chain head.
	deferred bool
	expect   map[string]int
}

// ErrCatalogueChanged: a purpose was added to the workspace after the
// batch's events were prepared (DeferCatalogCheck); nothing of the batch
// may be written, and each of its appends must run again in a batch that
// reads the catalogue first.
var ErrCatalogueChanged = errors.New("consent: the purpose catalogue changed while the batch was prepared")

// DeferCatalogCheck makes AppendPrepared trust the catalogue its events
// were prepared with and leave the check to Flush, which counts the
// purposes with the chain head: a round trip fewer, and no statement at
// all in the transaction for an append that was prepared. Flush then
// fails with ErrCatalogueChanged if a purpose was added meanwhile.
func (b *Batch) DeferCatalogCheck() { b.deferred = true }

// NewBatch starts a batch for one transaction.
func (l *Ledger) NewBatch() *Batch { return &Batch{l: l} }

// AppendNew is Ledger.AppendNew inside the batch: the events of a contact
// created in q are checked and its state derived now, and written at
// Flush. An error leaves the batch as it was.
func (b *Batch) AppendNew(ctx context.Context, q store.Querier, ws string, c NewContact, in []NewEvent, actor Actor) error {
	if !id.Valid(ws) || !id.Valid(c.Points.ID) {
		return store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	purposes, err := b.catalog(ctx, q, ws)
	if err != nil {
		return err
	}
	a, err := b.l.prepareNew(ctx, q, ws, c, in, actor, purposes, nil)
	if err != nil {
		return err
	}
	b.items = append(b.items, a)
	return nil
}

// catalog is the workspace's catalogue as this transaction sees it, read
// once per batch.
func (b *Batch) catalog(ctx context.Context, q store.Querier, ws string) ([]Purpose, error) {
	if purposes, ok := b.catalogs[ws]; ok {
		return purposes, nil
	}
	purposes, err := b.l.purposes.catalog(ctx, q, ws)
	if err != nil {
		return nil, err
	}
	if b.catalogs == nil {
		b.catalogs = map[string][]Purpose{}
	}
	b.catalogs[ws] = purposes
	return purposes, nil
}

// PreparedNew is a new contact's first events checked, sealed and with
// the contact's state derived before the transaction (PrepareNew).
type PreparedNew struct {
	a        *newAppend
	purposes []Purpose
}

// PrepareNew does, before the transaction, what AppendNew does first:
// every check, the sealing and the derivation of the state, from the
// catalogue and permission slots known committed and the notices Warm
// kept (reading the read pool for any other notice). All of it is pure
// work a group commit would otherwise do in its serialized part. It
// returns nil, and no error, when the workspace's catalogue or slots are
// not known yet: AppendPrepared then does it all in the transaction. An
// error is the one AppendNew would return.
func (l *Ledger) PrepareNew(ctx context.Context, ws string, c NewContact, in []NewEvent, actor Actor) (*PreparedNew, error) {
	if !id.Valid(ws) || !id.Valid(c.Points.ID) {
		return nil, store.ErrNotFound
	}
	ws = strings.ToLower(ws)
	cached, ok := l.purposes.catalogs.Load(ws)
	if !ok || c.Sealer == nil {
		// Without its sealer the contact's new key would be read, and it
		// is not committed yet.
		return nil, nil
	}
	purposes := cached.(catalog).list
	sl := l.knownSlots(ws, purposes)
	if sl == nil {
		return nil, nil
	}
	a, err := l.prepareNew(ctx, l.db.R, ws, c, in, actor, purposes, sl)
	if err != nil {
		return nil, err
	}
	return &PreparedNew{a: a, purposes: purposes}, nil
}

// AppendPrepared is AppendNew for events PrepareNew prepared (p, nil:
// none): when the catalogue in q is the one they were prepared with,
// only their texts are stored now; otherwise AppendNew does everything.
// p may be appended again in a later transaction (a batch that failed to
// commit is run again piece by piece).
func (b *Batch) AppendPrepared(ctx context.Context, q store.Querier, p *PreparedNew, ws string, c NewContact, in []NewEvent, actor Actor) error {
	if p == nil || !strings.EqualFold(ws, p.a.ws) || !strings.EqualFold(c.Points.ID, p.a.contactID) {
		return b.AppendNew(ctx, q, ws, c, in, actor)
	}
	if !b.trust(p) {
		purposes, err := b.catalog(ctx, q, p.a.ws)
		if err != nil {
			return err
		}
		// Purposes are only ever added: the same count is the same catalogue.
		if len(purposes) != len(p.purposes) {
			return b.AppendNew(ctx, q, ws, c, in, actor)
		}
	}
	if err := b.l.storeTexts(ctx, q, p.a); err != nil {
		return err
	}
	b.items = append(b.items, p.a)
	return nil
}

// trust says whether p's catalogue is taken as it is, to be checked at
// Flush (DeferCatalogCheck): when this transaction has not read the
// workspace's catalogue and the batch's other prepared appends there
// expect the same count.
func (b *Batch) trust(p *PreparedNew) bool {
	if !b.deferred {
		return false
	}
	if _, read := b.catalogs[p.a.ws]; read {
		return false
	}
	if n, ok := b.expect[p.a.ws]; ok {
		return n == len(p.purposes)
	}
	if b.expect == nil {
		b.expect = map[string]int{}
	}
	b.expect[p.a.ws] = len(p.purposes)
	return true
}

// Len is how many AppendNew calls the batch holds.
func (b *Batch) Len() int { return len(b.items) }

// Truncate drops what AppendNew added after the batch held n: its caller's
// writes were rolled back (a savepoint), so must its events be. The
// catalogues are read again, as the rolled-back writes may have made them.
func (b *Batch) Truncate(n int) {
	if n < len(b.items) {
		clear(b.items[n:])
		b.items = b.items[:n]
		b.catalogs = nil
	}
}

// Flush writes the batch's events, chain heads and states in q, workspace
// by workspace in ascending order (the heads' lock order), and tells the
// append hook of every event. Call it once, last in the transaction.
func (b *Batch) Flush(ctx context.Context, q store.Querier) error {
	byWS := map[string][]*newAppend{}
	for _, a := range b.items {
		byWS[a.ws] = append(byWS[a.ws], a)
	}
	for _, ws := range slices.Sorted(maps.Keys(byWS)) {
		want, check := b.expect[ws]
		if !check {
			want = -1
		}
		if err := b.l.flushNew(ctx, q, ws, byWS[ws], want); err != nil {
			return err
		}
	}
	return nil
}

// LockHeads locks the chain heads of the workspaces wss (creating those
// not there yet) in ascending order, the order Flush takes them in. A
// transaction that appends in several workspaces in an order of its own —
// a group commit of sign-ups whose pieces append as they run — takes them
// all first, so that no two such transactions wait for each other in a
// circle. On SQLite, where the one write connection serializes writers,
// there is nothing to lock.
func (l *Ledger) LockHeads(ctx context.Context, q store.Querier, wss []string) error {
	if l.db.Dialect != store.Postgres {
		return nil
	}
	sorted := make([]string, len(wss))
	for i, ws := range wss {
		sorted[i] = strings.ToLower(ws)
	}
	slices.Sort(sorted)
	now := l.now().UTC().Truncate(time.Microsecond)
	for _, ws := range slices.Compact(sorted) {
		if _, _, err := l.lockHead(ctx, q, ws, now); err != nil {
			return err
		}
	}
	return nil
}

// flushNew writes one workspace's share of a batch. purposes, unless
// negative, is the catalogue's size its appends were prepared with: the
// count is checked under the chain head (ErrCatalogueChanged).
func (l *Ledger) flushNew(ctx context.Context, q store.Querier, ws string, items []*newAppend, purposes int) error {
	pending := map[int64][]grantChange{}
	var marks []any
	var rows []*row
	for _, a := range items {
		for _, c := range a.st.chs {
			pending[c.slot] = append(pending[c.slot], c.change)
		}
		marks = append(marks, a.st.mark...)
		rows = append(rows, a.rs...)
	}
	locked := false
	// On PostgreSQL a batch of the size of a group commit takes its chain
	// head and its slots' locks in one statement (carrying the writes q
	// holds back, store.Carry), reads its blocks, and sends its events, the
	// head's advance, its blocks and its marks in one more: three round
	// trips while the head is held. A larger one (an import's) goes
	// statement by statement, within PostgreSQL's parameter limit.
	combine := l.db.Dialect == store.Postgres && len(rows) > 0 && len(rows) <= 1000 && len(marks) <= 1000*markCols
	w := q // where the flush's writes go
	var held *store.Combined
	if len(rows) > 0 {
		now := l.now().UTC().Truncate(time.Microsecond)
		count := (*int)(nil)
		var n int
		if purposes >= 0 {
			count = &n
		}
		slots := slices.Sorted(maps.Keys(pending))
		var headSeq int64
		var headHash []byte
		var err error
		if combine {
			q, headSeq, headHash, err = l.lockHeadAndSlots(ctx, q, ws, now, count, slots)
			locked = len(slots) > 0
		} else {
			headSeq, headHash, err = l.lockHeadCounting(ctx, q, ws, now, count)
		}
		if err != nil {
			return err
		}
		if purposes >= 0 && n != purposes {
			return ErrCatalogueChanged
		}
		prev := headHash
		for i, r := range rows {
			r.Seq = headSeq + int64(i) + 1
			r.Hash = chainHash(prev, r)
			prev = r.Hash
		}
		if combine {
			held = store.Combine(q)
			w = held
			if err := l.deferChained(held, ws, rows, now); err != nil {
				return err
			}
		} else if locked, err = l.insertChained(ctx, q, ws, rows, now, slots); err != nil {
			return err
		}
	}
	// The grants go in after the chain head is taken: on PostgreSQL they
	// need the slots' locks, and every append takes the head first and the
	// slots after it (in ascending order), so no two writers wait on each
	// other in a circle.
	if err := l.applyBatchGrants(ctx, q, w, pending, marks, locked); err != nil {
		return fmt.Errorf("refresh permissions: %w", err)
	}
	if held != nil {
		if err := held.Flush(ctx); err != nil {
			return fmt.Errorf("append events: %w", store.MapError(err))
		}
	}
	for _, a := range items {
		a.out = make([]Event, 0, len(a.rs))
		for i, r := range a.rs {
			if r.Kind == KindErasureExecuted {
				if err := l.keys.WithTx(q).Shred(ctx, q, ws, a.contactID); err != nil {
					return fmt.Errorf("erase contact: %w", err)
				}
			}
			ev, err := r.event()
			if err != nil {
				return err
			}
			ev.Evidence.TextShown = a.texts[i]
			if a.personals[i] != nil {
				ev.Evidence.Personal, ev.Evidence.PersonalState = a.personals[i], "present"
			}
			if l.onAppend != nil {
				if err := l.onAppend(ctx, q, ws, a.contactID, ev); err != nil {
					return err
				}
			}
			a.out = append(a.out, ev)
		}
	}
	return nil
}

// insertChained inserts rows (seq and hash given, in seq order) and
// advances the workspace's chain head, which the transaction has locked,
// to the last of them. On PostgreSQL the last INSERT, the head update and
// the locks of slots (ascending) are one statement, so the head stays
// locked for one round trip after it was read; locked reports that the
// slots' locks are taken.
func (l *Ledger) insertChained(ctx context.Context, q store.Querier, ws string, rows []*row, now time.Time, slots []int64) (locked bool, err error) {
	const cols, per = 15, 1000
	last := rows[len(rows)-1]
	for len(rows) > 0 {
		n := min(per, len(rows))
		part := rows[:n]
		rows = rows[n:]
		args := make([]any, 0, cols*n+8)
		for _, r := range part {
			var err error
			if args, err = l.rowArgs(args, r); err != nil {
				return false, err
			}
		}
		ins := `INSERT INTO ledger_events (` + rowCols + `) VALUES ` + store.Values(l.db.Dialect, n, cols)
		if l.db.Dialect != store.Postgres || len(rows) > 0 {
			if _, err := q.ExecContext(ctx, ins, args...); err != nil {
				return false, fmt.Errorf("append event: %w", store.MapError(err))
			}
			continue
		}
		k := len(args)
		args = append(args, ws, last.Seq, last.Hash, now, l.headMAC(ws, last.Seq, last.Hash))
		lock, cond := "", ""
		if len(slots) > 0 {
			chs := make([]slotChange, len(slots))
			for i, s := range slots {
				chs[i].slot = s
			}
			stmt, largs := slotLocks(chs, len(args))
			lock = `, locked AS (SELECT count(*) AS n FROM (` + stmt + `) AS l)`
			cond = ` AND (SELECT n FROM locked) >= 0`
			args = append(args, largs...)
			locked = true
		}
		if _, err := q.ExecContext(ctx, fmt.Sprintf(`WITH appended AS (%s RETURNING 1)%s
			UPDATE ledger_heads SET seq = $%d, hash = $%d, updated_at = $%d, mac = $%d WHERE workspace_id = $%d%s`, ins, lock, k+2, k+3, k+4, k+5, k+1, cond), args...); err != nil {
			return false, fmt.Errorf("append event: %w", store.MapError(err))
		}
		return locked, nil
	}
	return false, l.advanceHead(ctx, q, ws, last.Seq, last.Hash, now)
}

// rowArgs appends the values of r's columns (rowCols) to args.
func (l *Ledger) rowArgs(args []any, r *row) ([]any, error) {
	var sealed any
	if r.Sealed != nil {
		sealed = r.Sealed
	}
	point, err := pointBytes(r.ContactPoint)
	if err != nil {
		return nil, err
	}
	return append(args, r.ID, r.WorkspaceID, r.ContactID, r.Seq, r.Kind, r.Purpose, r.Channels, r.LawfulBasis, point, r.Details, l.rowEvidence(r), sealed, r.OccurredAt, r.RecordedAt, r.Hash), nil
}

// deferChained queues in c what insertChained sends: rows (seq and hash
// given, in seq order) and the advance of the workspace's locked chain
// head to the last of them.
func (l *Ledger) deferChained(c *store.Combined, ws string, rows []*row, now time.Time) error {
	const cols = 15
	args := make([]any, 0, cols*len(rows))
	for _, r := range rows {
		var err error
		if args, err = l.rowArgs(args, r); err != nil {
			return err
		}
	}
	c.Defer(`INSERT INTO ledger_events (`+rowCols+`) VALUES `+store.Values(l.db.Dialect, len(rows), cols), args...)
	last := rows[len(rows)-1]
	c.Defer(`UPDATE ledger_heads SET seq = $1, hash = $2, updated_at = $3, mac = $4 WHERE workspace_id = $5`, last.Seq, last.Hash, now, l.headMAC(ws, last.Seq, last.Hash), ws)
	return nil
}

// applyBatchGrants writes grant changes of several contacts (by slot; at
// most one per contact and slot) and their marks (markCols arguments
// each) in q. As applyContactGrants: on PostgreSQL the slots' locks in
// ascending order (unless locked), then one read of the block that holds
// each slot's first changed key with the block after it, and one upsert of
// the rewritten blocks with the marks. A slot whose changes reach past
// that next block (keys spread over the slot) is written by applyGrants,
// block by block. The blocks are read in q and written in w: a
// store.Combined there holds the upsert back (and flushes before any read
// of its own).
func (l *Ledger) applyBatchGrants(ctx context.Context, q, w store.Querier, pending map[int64][]grantChange, marks []any, locked bool) error {
	slots := slices.Sorted(maps.Keys(pending))
	if len(slots) == 0 {
		if len(marks) == 0 {
			return nil
		}
		return l.writeBlocks(ctx, w, &blockWrites{}, marks)
	}
	first := make([]slotChange, len(slots))
	for i, n := range slots {
		chs := pending[n]
		slices.SortFunc(chs, func(x, y grantChange) int { return bytes.Compare(x.key[:], y.key[:]) })
		first[i] = slotChange{n, chs[0]}
	}
	if l.db.Dialect == store.Postgres && !locked {
		stmt, args := slotLocks(first, 0)
		if _, err := w.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("lock permission slots: %w", err)
		}
	}
	got, err := l.readContactBlocks(ctx, q, first)
	if err != nil {
		return err
	}
	var bw blockWrites
	var spread []int64
	for _, n := range slots {
		chs := pending[n]
		bs := got[n]
		var cur, next *block
		if len(bs) > 0 {
			cur = &bs[0]
		}
		if len(bs) > 1 {
			next = &bs[1]
		}
		if next != nil && bytes.Compare(chs[len(chs)-1].key[:], next.lo) >= 0 {
			spread = append(spread, n)
			continue
		}
		bw.plan(n, cur, next, chs)
	}
	if err := l.writeBlocks(ctx, w, &bw, marks); err != nil {
		return err
	}
	for _, n := range spread {
		if err := l.applyGrants(ctx, w, n, pending[n]); err != nil {
			return err
		}
	}
	return nil
}
