package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairlead/fairlead/internal/consent"
	"github.com/fairlead/fairlead/internal/store"
)

// submissionWork is a submission's writes in the transaction q. Ledger
// events of contacts it creates go through w.events (consent.Batch), which
// writes the batch's events, chain heads and permission states at the end;
// inside a batch the rows of a new contact's sign-up go to w.rows, written
// for the whole batch just before.
type submissionWork func(ctx context.Context, q store.Querier, w *batchWrites) error

// batchWrites is what a batch writes at its end for all its pieces.
type batchWrites struct {
	events *consent.Batch
	// rows is nil when the work runs in a transaction of its own: it then
	// inserts its rows itself.
	rows *newRows
}

// rowWriter writes a batch's collected rows in its transaction.
type rowWriter func(ctx context.Context, q store.Querier, r *newRows) error

// commitSubmission runs a submission's writes in a transaction shared
// with the submissions waiting at that moment (group commit, on both
// engines): every submission of a workspace serializes on its chain head
// (and on SQLite on the one write connection), and a batch takes the head
// once, writes its events in one INSERT and its new contacts' grants
// together, and commits once.
//
// ws is the submission's workspace; key, for a new contact, the unique
// address its rows claim ("" for none).
func (s *Service) commitSubmission(ctx context.Context, ws, key string, fn submissionWork) error {
	return s.submissions.doIn(ctx, s.DB, s.Ledger, s.writeRows, ws, key, fn)
}

// groupCommit gathers concurrent submissions into one transaction
// (store.Batcher: up to 64, no background goroutine, the lead handed to
// the next waiting caller). All submissions of a workspace serialize on
// its ledger chain head anyway; taking it once per batch instead of once
// per submission is what lets them through.
//
// Every caller is acknowledged only after its batch has committed, and
// each piece of work runs in a savepoint of its own, so a failing one
// undoes only its own writes. If the commit itself fails, the work of the
// batch is run again, one transaction each, so that one bad submission
// cannot sink the others.
type groupCommit struct {
	store.Batcher[*pendingWork]
	// batches counts the transactions run, for tests.
	batches atomic.Int64
	// coming counts the submissions between their arrival and the end of
	// their commit: a leader yields to those not queued yet (Coming).
	coming atomic.Int64
	once   sync.Once
	// chain runs the batches' transactions; only the leader uses it.
	chain *store.TxChain
	// lookAhead counts down the submissions whose addresses are looked
	// up before their batch on PostgreSQL (prepareNew): set when a
	// submission met an address signed up before, so that a stream of returning
	// visitors does not fail batch after batch, and a stream of new ones
	// pays no look-up.
	lookAhead atomic.Int64
}

// lookAheadAfterTaken is how many submissions are looked up before their
// batch after one met a taken address: at a few percent of returning
// visitors the look-ups stay on for good, and a batch fails for a taken
// address at most once per this many submissions.
const lookAheadAfterTaken = 1000

// lingerMax bounds how long a leader waits for submissions on their way:
// a small fraction of the p99 budget, and less than a commit costs.
const lingerMax = 500 * time.Microsecond

// arrive counts a submission on its way to the writer; the function it
// returns counts it out, and may be called more than once.
func (g *groupCommit) arrive() func() {
	g.coming.Add(1)
	var left atomic.Bool
	return func() {
		if left.CompareAndSwap(false, true) {
			g.coming.Add(-1)
		}
	}
}

type pendingWork struct {
	ctx context.Context
	// ws is the workspace whose ledger the work appends to ("": not said).
	ws string
	// key is the unique key the rows it collects claim (a new contact's
	// address; "": none). Of the pieces of a batch with one key only the
	// first runs in the batch; the others are held back until it is done.
	key string
	fn  submissionWork
	err error
}

// do runs fn in a write transaction shared with other callers and returns
// once that transaction has committed (or fn failed). fn may run more
// than once, each time in a fresh transaction or savepoint: it must only
// write through q and set its results anew each time. It must use the
// context it is given, not the caller's: on SQLite a statement
// interrupted by a cancelled context rolls back the whole transaction,
// which would take the other callers' work with it.
//
// With rows set, a batch collects its pieces' new rows and writes them
// with rows at its end; nil: every piece writes its own.
func (g *groupCommit) do(ctx context.Context, db *store.DB, l *consent.Ledger, rows rowWriter, fn submissionWork) error {
	return g.doIn(ctx, db, l, rows, "", "", fn)
}

// doIn is do for work that appends to workspace ws's ledger and whose
// collected rows claim the unique key (see pendingWork).
func (g *groupCommit) doIn(ctx context.Context, db *store.DB, l *consent.Ledger, rows rowWriter, ws, key string, fn submissionWork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.once.Do(func() {
		if db.Dialect == store.Postgres {
			// On PostgreSQL the batch's time is the server's, one
			// statement after the other: a leader that waits for the
			// others only makes the server wait, and the callers that come
			// meanwhile make up the next batch anyway (measured:
			// docs/benchmarks.md, "No linger on PostgreSQL").
			return
		}
		// Without this a leader that arrives a moment before the others
		// (answered together, they come back together) commits alone, and
		// on SQLite a batch of one costs a whole commit.
		g.Coming = func() int { return int(g.coming.Load()) }
		g.Linger = lingerMax
	})
	p := &pendingWork{ctx: ctx, ws: ws, key: key, fn: fn}
	g.Do(p, func(batch []*pendingWork) {
		g.batches.Add(1)
		if g.chain == nil {
			g.chain = db.NewTxChain()
		}
		// A transaction that commits while others wait begins the next
		// one's (store.TxChain): on PostgreSQL the BEGIN of every batch
		// under load costs no round trip of its own.
		tx := func(ctx context.Context, fn func(q store.Querier) error) error {
			return g.chain.Tx(ctx, fn, func() bool { return g.Waiting() > 0 })
		}
		runBatch(db, l, rows, tx, batch)
		if g.Waiting() == 0 {
			// Nobody comes after it (never so: a transaction begun for
			// the next batch finds it waiting).
			g.chain.Close()
		}
	})
	return p.err
}

// runBatch runs the batch and sets each piece's error. The transaction
// does not follow any one caller's context: a client that goes away must
// not roll back the others; work whose caller has gone is skipped.
//
// The rows of the pieces' new contacts (data keys, records, values, double
// opt-in requests, jobs) are collected and written at the end as one
// multi-row INSERT per table, so the per-statement cost of a sign-up
// leaves the serialized part. A piece that runs statements of its own
// (reads, an enrichment, the catalogue's count) runs them in the savepoint
// "submission", taken at its first statement: a failing piece is rolled
// back to it (its events and rows dropped from the batch with it) and the
// savepoint serves the next; a piece that succeeded releases it and the
// next takes a new one — on PostgreSQL in one round trip. A piece that
// only collects needs no savepoint. When the batch's rows, its ledger
// flush or the commit fail (an address taken meanwhile by another
// process, say), nothing of the batch is written and every piece runs
// again in a transaction of its own, where it fails alone. On PostgreSQL
// a batch that failed on addresses signed up before runs again first,
// without the pieces that claimed them (dropTaken).
//
// Two pieces that claim one key (two sign-ups of one new address) cannot
// both insert their rows: the second is held back, and once the batch
// has committed the first it gets errRaced (the address is taken: it
// enriches that contact in a batch of its own); if the first failed, it
// runs alone. On PostgreSQL a batch whose pieces append in several
// workspaces takes those workspaces' chain heads first, in ascending
// order: its pieces would otherwise lock them in their own order, and two
// such batches (of two processes) could each hold the head the other
// waits for.
func runBatch(db *store.DB, l *consent.Ledger, rows rowWriter, tx func(context.Context, func(store.Querier) error) error, batch []*pendingWork) {
	ctx := context.WithoutCancel(batch[0].ctx)
	newBatch := func() *consent.Batch {
		if l == nil {
			return nil
		}
		return l.NewBatch()
	}
	flush := func(q store.Querier, b *consent.Batch) error {
		if b == nil {
			return nil
		}
		return b.Flush(ctx, q)
	}
	alone := func(p *pendingWork) error {
		return tx(ctx, func(q store.Querier) error {
			w := &batchWrites{events: newBatch()}
			if err := p.fn(ctx, q, w); err != nil {
				return err
			}
			return flush(q, w.events)
		})
	}
	if len(batch) == 1 {
		batch[0].err = alone(batch[0])
		return
	}
	run, held := holdBack(batch)
	try := func(run []*pendingWork) error {
		return tx(ctx, func(q store.Querier) error {
			return writeBatch(ctx, db, l, rows, q, run, newBatch, flush)
		})
	}
	err := try(run)
	if err != nil && db.Dialect == store.Postgres && errors.Is(store.MapError(err), store.ErrConflict) {
		// On PostgreSQL a sign-up is looked up before its batch only
		// while one met a known address lately (prepareNew): a known
		// address fails the batch at its first statement. The pieces
		// whose addresses are taken get errRaced (they enrich their
		// contacts), and the others run as a batch again.
		if kept, taken, lerr := dropTaken(ctx, db.W, run); lerr == nil && taken > 0 {
			err = try(kept)
		}
	}
	if err == nil {
		for _, h := range held {
			switch {
			case h.p.ctx.Err() != nil:
				h.p.err = h.p.ctx.Err()
			case h.first.err == nil || errors.Is(h.first.err, errRaced):
				h.p.err = errRaced
			default:
				h.p.err = alone(h.p)
			}
		}
		return
	}
	// The rows, the flush or the commit failed: nothing of the batch was
	// written. Each piece that had succeeded, and each held back, gets a
	// transaction of its own, in the batch's order.
	for _, p := range batch {
		if p.err == nil {
			p.err = alone(p)
		}
	}
}

// writeBatch is a batch's transaction: the pieces of run, their rows and
// their events.
func writeBatch(ctx context.Context, db *store.DB, l *consent.Ledger, rows rowWriter, q store.Querier, run []*pendingWork, newBatch func() *consent.Batch, flush func(store.Querier, *consent.Batch) error) error {
	if l != nil && db.Dialect == store.Postgres {
		if wss := workspaces(run); len(wss) > 1 {
			if err := l.LockHeads(ctx, q, wss); err != nil {
				return fmt.Errorf("lock ledger heads: %w", err)
			}
		}
	}
	w := &batchWrites{events: newBatch()}
	if rows != nil {
		w.rows = &newRows{}
	}
	if w.events != nil {
		// The catalogue is checked with the chain head, at the flush: a
		// piece that only collects rows runs no statement at all (and
		// needs no savepoint). If a purpose was added meanwhile, the
		// flush fails and every piece runs again alone, reading it.
		w.events.DeferCatalogCheck()
	}
	open := false // the savepoint exists
	used := false // it holds the writes of a piece that succeeded
	begin := func() error {
		switch {
		case !open:
			if _, err := q.ExecContext(ctx, "SAVEPOINT submission"); err != nil {
				return err
			}
			open = true
		case !used:
			// Rolled back to: it holds nothing.
		case db.Dialect == store.Postgres:
			// Without parameters pgx sends this as one simple query.
			if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission; SAVEPOINT submission"); err != nil {
				return err
			}
		default:
			if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission"); err != nil {
				return err
			}
			if _, err := q.ExecContext(ctx, "SAVEPOINT submission"); err != nil {
				return err
			}
		}
		used = false
		return nil
	}
	for _, p := range run {
		if p.err = p.ctx.Err(); p.err != nil {
			continue
		}
		n := 0
		if w.events != nil {
			n = w.events.Len()
		}
		m := w.rows.mark()
		pq := &pieceQuerier{q: q, begin: begin}
		p.err = p.fn(ctx, pq, w)
		if pq.err != nil {
			// The piece's work did not run as it should: the batch goes
			// the one-by-one way, this piece included.
			p.err = nil
			return fmt.Errorf("savepoint: %w", pq.err)
		}
		if p.err == nil {
			used = used || pq.taken
			continue
		}
		if w.events != nil {
			w.events.Truncate(n)
		}
		w.rows.truncate(m)
		if pq.taken {
			if _, err := q.ExecContext(ctx, "ROLLBACK TO SAVEPOINT submission"); err != nil {
				return fmt.Errorf("%w (and rolling back to the savepoint failed: %v)", p.err, err)
			}
			used = false
		}
	}
	if open {
		if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT submission"); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	// On PostgreSQL the rows are held back and go out with the
	// ledger's first statement, which locks the chain head: one round
	// trip less while the batch holds it.
	wq := q
	var held *store.Combined
	if db.Dialect == store.Postgres {
		held = store.Combine(q)
		wq = held
	}
	if w.rows != nil && !w.rows.empty() {
		if err := rows(ctx, wq, w.rows); err != nil {
			return err
		}
	}
	if err := flush(wq, w.events); err != nil {
		return err
	}
	if held != nil {
		if err := held.Flush(ctx); err != nil {
			return fmt.Errorf("new contacts: %w", store.MapError(err))
		}
	}
	return nil
}

// dropTaken looks up, in one statement per workspace, the addresses the
// pieces of run claim for new contacts, gives each piece whose address a
// committed contact has errRaced, and returns the pieces left to run
// (those without an error of their own) and how many were taken.
func dropTaken(ctx context.Context, q store.Querier, run []*pendingWork) ([]*pendingWork, int, error) {
	byWS := map[string][]string{}
	for _, p := range run {
		if p.key != "" && p.err == nil {
			byWS[p.ws] = append(byWS[p.ws], strings.TrimPrefix(p.key, p.ws+"\x00"))
		}
	}
	taken := map[string]bool{}
	for _, ws := range slices.Sorted(maps.Keys(byWS)) {
		// One probe of the unique index per address: = ANY can get a
		// sequential scan from a planner without statistics yet.
		ixs, err := store.Strings(ctx, q, `SELECT c.email_index FROM unnest($2::text[]) AS k(ix), LATERAL (SELECT email_index FROM contacts WHERE workspace_id = $1 AND email_index = k.ix LIMIT 1) AS c`, ws, byWS[ws])
		if err != nil {
			return nil, 0, fmt.Errorf("find contacts: %w", err)
		}
		for _, ix := range ixs {
			taken[ws+"\x00"+ix] = true
		}
	}
	var kept []*pendingWork
	for _, p := range run {
		switch {
		case p.err != nil:
		case p.key != "" && taken[p.key]:
			p.err = errRaced
		default:
			kept = append(kept, p)
		}
	}
	return kept, len(taken), nil
}

// heldBack is a piece held back from its batch behind the first piece
// that claims the same key.
type heldBack struct {
	p, first *pendingWork
}

// holdBack splits a batch into the pieces that run in it and those held
// back: every piece whose key an earlier piece claims.
func holdBack(batch []*pendingWork) (run []*pendingWork, held []heldBack) {
	var first map[string]*pendingWork
	for _, p := range batch {
		if p.key == "" {
			run = append(run, p)
			continue
		}
		if first == nil {
			first = make(map[string]*pendingWork, len(batch))
		}
		if f, ok := first[p.key]; ok {
			held = append(held, heldBack{p: p, first: f})
			continue
		}
		first[p.key] = p
		run = append(run, p)
	}
	return run, held
}

// workspaces are the distinct workspaces the pieces append in.
func workspaces(run []*pendingWork) []string {
	var wss []string
	for _, p := range run {
		if p.ws != "" && !slices.Contains(wss, p.ws) {
			wss = append(wss, p.ws)
		}
	}
	return wss
}

// pieceQuerier is a piece's view of the batch's transaction: its first
// statement takes the piece's savepoint.
type pieceQuerier struct {
	q     store.Querier
	begin func() error
	taken bool
	err   error
}

func (p *pieceQuerier) take() error {
	if !p.taken {
		p.taken = true
		p.err = p.begin()
	}
	return p.err
}

func (p *pieceQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := p.take(); err != nil {
		return nil, err
	}
	return p.q.ExecContext(ctx, query, args...)
}

func (p *pieceQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := p.take(); err != nil {
		return nil, err
	}
	return p.q.QueryContext(ctx, query, args...)
}

// QueryRowContext cannot return the savepoint's error; runBatch sees it
// in p.err after the piece.
func (p *pieceQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	_ = p.take()
	return p.q.QueryRowContext(ctx, query, args...)
}
